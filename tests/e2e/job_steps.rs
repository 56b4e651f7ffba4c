//! Every step of every kind of job is safe to repeat (omicron's
//! `actions_succeed_idempotently`): the same life of a tenant (a deleted mailbox, a retention
//! policy, an export that is packaged and expires, a termination that closes) runs on two
//! deployments, once with each step run once, once with each step run twice, the first run
//! dropping its commit as a worker killed just before it would. After every call of the
//! worker, and at the end, the jobs, their ledgers, the files and the records must be the
//! same. The doubled worker, `ControlPlane::jobs_run_due_each_step_twice`, is built only
//! with the `mailplane` crate's `test-hooks` feature, which this crate enables.

use mailplane::input::{
    ExportCreate, MailboxCreate, RetentionSet, TenantCreate, TerminationCreate,
};
use mailplane::types::lifecycle::ExportFormat;
use mailplane::{Actor, JobReport};
use mailplane_tests::{Backend, Harness, e2e};
use time::Duration;

/// What one deployment's jobs left, with nothing that differs between deployments (ids,
/// times).
#[derive(Debug, PartialEq)]
struct Summary {
    /// After each call of the worker: what it ran, and the jobs and files it left.
    phases: Vec<Phase>,
    /// Per job: every claim's step and outcome, in order.
    ledgers: Vec<(&'static str, Vec<(String, Option<String>)>)>,
    export: (String, serde_json::Value),
    termination: (String, serde_json::Value),
    audit_rows: u64,
    files_left: bool,
}

/// The state after one call of the worker.
#[derive(Debug, PartialEq)]
struct Phase {
    /// The steps the call ran (each claim counts once, however many times it ran).
    steps: u64,
    /// Per job: its state, its step, how often it was claimed and its progress (ids and
    /// times masked).
    jobs: Vec<(&'static str, String, String, u32, serde_json::Value)>,
    /// Per mailbox (alice, bob, carol): how many files its folder holds, if it is there.
    mail: Vec<Option<usize>>,
    /// How many files the tenant's export folder holds, and whether a staging folder is left.
    exports: (usize, bool),
}

/// The subjects of the jobs of one deployment, by kind.
struct Subjects {
    tenant: mailplane::types::TenantId,
    mailboxes: Vec<mailplane::types::MailboxId>,
    jobs: Vec<(&'static str, uuid::Uuid)>,
}

/// Ids and times differ between deployments: they are masked, the rest compared.
fn masked(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) if uuid::Uuid::parse_str(&s).is_ok() => Value::String("<id>".into()),
        Value::String(s)
            if time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                .is_ok() =>
        {
            Value::String("<time>".into())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(masked).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, masked(v))).collect()),
        other => other,
    }
}

/// The files under `dir`, recursively, if it is there.
fn files_under(dir: &std::path::Path) -> Option<usize> {
    let entries = std::fs::read_dir(dir).ok()?;
    Some(
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    files_under(&e.path()).unwrap_or(0)
                } else {
                    1
                }
            })
            .sum(),
    )
}

fn has_staging(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().is_dir() && (e.file_name() == "staging" || has_staging(&e.path())))
    })
}

async fn phase(h: &Harness, subjects: &Subjects, report: JobReport) -> Phase {
    let mut jobs = Vec::new();
    for (kind, subject) in &subjects.jobs {
        if let Some(j) = h.store.job_get(kind, *subject).await.unwrap() {
            jobs.push((*kind, j.state, j.step, j.attempts, masked(j.progress)));
        }
    }
    let tenant_mail = h.mail_dir.join("mail").join(subjects.tenant.to_string());
    let exports = h.mail_dir.join("exports").join(subjects.tenant.to_string());
    Phase {
        steps: report.steps,
        jobs,
        mail: subjects
            .mailboxes
            .iter()
            .map(|m| files_under(&tenant_mail.join(m.to_string())))
            .collect(),
        exports: (files_under(&exports).unwrap_or(0), has_staging(&exports)),
    }
}

async fn run(h: &Harness, twice: bool) -> JobReport {
    let report = if twice {
        h.control_plane.jobs_run_due_each_step_twice().await
    } else {
        h.control_plane.jobs_run_due().await
    }
    .expect("the job worker");
    assert_eq!(report.failed, 0, "{report:?}");
    report
}

async fn life_of_a_tenant(h: &Harness, twice: bool) -> Summary {
    let cp = &h.control_plane;
    let provider = Actor::provider("ops", &["provider-admin"]);
    let tenant = cp
        .tenant_create(
            &provider,
            TenantCreate {
                name: "Acme".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let admin = Actor::customer("alice", tenant.id, &["tenant-admin"]);
    let domain = cp
        .domain_list(&admin, tenant.id, None, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|d| d.default)
        .unwrap();
    let mut mailboxes = Vec::new();
    for (local, messages) in [("alice", 2), ("bob", 1), ("carol", 1)] {
        let m = cp
            .mailbox_create(
                &admin,
                tenant.id,
                MailboxCreate {
                    local_part: local.into(),
                    domain_id: domain.id,
                    display_name: local.into(),
                    quota_bytes: None,
                    status: None,
                    kind: None,
                },
            )
            .await
            .unwrap()
            .done()
            .unwrap();
        for n in 0..messages {
            let message = format!(
                "From: s{n}@example.com\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: {n}\r\n\r\nBody {n}.\r\n"
            );
            cp.message_import(&admin, tenant.id, m.id, message.as_bytes())
                .await
                .unwrap();
        }
        mailboxes.push(m.id);
    }
    // A deleted mailbox whose undelete window closed: its messages go by a job, which
    // issues a receipt.
    cp.mailbox_delete(&admin, tenant.id, mailboxes[2])
        .await
        .unwrap();
    h.clock.advance(Duration::days(31));
    // A retention policy that deletes: a recurring sweep job.
    cp.retention_set(
        &admin,
        tenant.id,
        RetentionSet {
            delete_after_days: Some(3650),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let export = cp
        .export_create(
            &admin,
            tenant.id,
            ExportCreate {
                format: ExportFormat::EmlZip,
                mailbox_id: None,
            },
        )
        .await
        .unwrap()
        .done()
        .unwrap();
    let mut subjects = Subjects {
        tenant: tenant.id,
        mailboxes: mailboxes.clone(),
        jobs: vec![
            ("mailbox-destroy", mailboxes[2].uuid()),
            ("retention-sweep", tenant.id.uuid()),
            ("export", export.id.uuid()),
        ],
    };
    let mut phases = Vec::new();
    let report = run(h, twice).await;
    phases.push(phase(h, &subjects, report).await);
    // The link ends: the archive is removed.
    h.clock.advance(Duration::days(8));
    let report = run(h, twice).await;
    phases.push(phase(h, &subjects, report).await);
    let export = cp.export_view(&admin, tenant.id, export.id).await.unwrap();
    // The end of service, with no export window.
    let termination = cp
        .termination_create(
            &admin,
            tenant.id,
            TerminationCreate {
                export_window_days: Some(0),
            },
        )
        .await
        .unwrap()
        .done()
        .unwrap();
    subjects.jobs.push(("termination", termination.id.uuid()));
    let report = run(h, twice).await;
    phases.push(phase(h, &subjects, report).await);
    let termination = cp.termination_view(&admin, tenant.id).await.unwrap();
    let body = &termination.certificate.as_ref().expect("a certificate")["certificate"];
    let mut ledgers = Vec::new();
    for (kind, subject) in [
        ("mailbox-destroy", mailboxes[2].uuid()),
        ("retention-sweep", tenant.id.uuid()),
        ("export", export.id.uuid()),
        ("termination", termination.id.uuid()),
    ] {
        let rows = cp.job_ledger(kind, subject).await.unwrap();
        assert!(!rows.is_empty(), "no {kind} job ran");
        ledgers.push((
            kind,
            rows.into_iter().map(|r| (r.step, r.outcome)).collect(),
        ));
    }
    Summary {
        phases,
        ledgers,
        export: (
            export.state.as_str().to_string(),
            serde_json::to_value(&export.manifest).unwrap()["messages"].clone(),
        ),
        termination: (
            termination.state.as_str().to_string(),
            serde_json::json!({
                "objects": body["objects"],
                "bytes": body["bytes"],
                "mailboxes": body["mailboxes"].as_array().map(Vec::len),
                "key_ids": body["key_ids"].as_array().map(Vec::len),
            }),
        ),
        audit_rows: cp.audit_verify().await.unwrap().rows,
        files_left: h.mail_dir.join("mail").join(tenant.id.to_string()).exists()
            || h.mail_dir
                .join("exports")
                .join(tenant.id.to_string())
                .exists(),
    }
}

async fn every_step_of_every_job_is_safe_to_run_twice(h: Harness) {
    let other = match h.backend {
        Backend::Sqlite => Harness::sqlite().await,
        Backend::Postgres => Harness::postgres().await.expect("the PostgreSQL server"),
    };
    let once = life_of_a_tenant(&h, false).await;
    let twice = life_of_a_tenant(&other, true).await;
    assert_eq!(once.termination.0, "closed", "{once:?}");
    assert!(!once.files_left);
    // The export held the three messages of the two mailboxes left, and the certificate counts them.
    assert_eq!(once.export.1, serde_json::json!(3), "{once:?}");
    assert_eq!(once.termination.1["objects"], 3, "{once:?}");
    // Every phase did something, and the deleted mailbox's folder went in the first.
    assert!(once.phases.iter().all(|p| p.steps > 0), "{once:?}");
    assert_eq!(once.phases[0].mail[2], None, "{once:?}");
    assert!(!once.phases[0].exports.1, "{once:?}");
    assert_eq!(twice, once);
}
e2e!(every_step_of_every_job_is_safe_to_run_twice);

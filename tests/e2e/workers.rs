//! The library's own background work, with no server and no HTTP: an embedder builds a
//! control plane, starts `mailplane::workers::spawn`, and sees an export become ready and a
//! termination close without calling the job worker itself; once the workers are stopped,
//! nothing advances any more.

use std::time::{Duration, Instant};

use mailplane::input::{ExportCreate, MailboxCreate, TerminationCreate};
use mailplane::types::lifecycle::{ExportFormat, ExportState, TerminationState};
use mailplane::workers::{self, WorkerSettings};
use mailplane::{Actor, ControlPlane};
use mailplane_tests::{Harness, e2e};

/// Polls `check` every 20 ms until it gives a value, for at most 30 seconds.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} did not happen in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn export_state(
    cp: &ControlPlane,
    actor: &Actor,
    t: mailplane::types::TenantId,
    id: mailplane::types::ExportId,
) -> ExportState {
    cp.export_view(actor, t, id)
        .await
        .expect("the export")
        .state
}

async fn the_library_runs_its_own_background_work(h: Harness) {
    let cp = h.control_plane.clone();
    let provider = Actor::provider("embedder", &["provider-admin"]);
    let tenant = cp
        .tenant_create(
            &provider,
            mailplane::input::TenantCreate {
                name: "Embedded".into(),
                ..Default::default()
            },
        )
        .await
        .expect("a tenant");
    let admin = Actor::customer("alice", tenant.id, &["tenant-admin"]);
    let domain = cp
        .domain_list(&admin, tenant.id, None, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|d| d.default)
        .expect("a default domain");
    let mailbox = cp
        .mailbox_create(
            &admin,
            tenant.id,
            MailboxCreate {
                local_part: "alice".into(),
                domain_id: domain.id,
                display_name: "Alice".into(),
                quota_bytes: None,
                status: None,
                kind: None,
            },
        )
        .await
        .unwrap()
        .done()
        .expect("made now");
    cp.message_import(
        &admin,
        tenant.id,
        mailbox.id,
        b"From: a@example.com\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: hi\r\n\r\nHello.\r\n",
    )
    .await
    .expect("a message");

    let workers = workers::spawn(
        cp.clone(),
        WorkerSettings {
            job_poll: Duration::from_millis(20),
            webhook_pump: Duration::from_millis(50),
            request_sweep: Duration::from_millis(50),
        },
    );
    // Nobody calls `jobs_run_due`: the workers package the export.
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
        .expect("automation delivers the customer's export");
    assert_eq!(export.state, ExportState::Preparing);
    eventually("the export becoming ready", || async {
        (export_state(&cp, &admin, tenant.id, export.id).await == ExportState::Ready).then_some(())
    })
    .await;

    // A termination with no export window walks to `closed` on its own.
    cp.termination_create(
        &admin,
        tenant.id,
        TerminationCreate {
            export_window_days: Some(0),
        },
    )
    .await
    .unwrap();
    let closed = eventually("the termination closing", || async {
        let t = cp.termination_view(&admin, tenant.id).await.unwrap();
        (t.state == TerminationState::Closed).then_some(t)
    })
    .await;
    assert!(closed.certificate.is_some(), "{closed:?}");

    // Stopped, the workers advance nothing: a new tenant's export stays preparing.
    workers.stop().await;
    let other = cp
        .tenant_create(
            &provider,
            mailplane::input::TenantCreate {
                name: "After".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let bob = Actor::customer("bob", other.id, &["tenant-admin"]);
    let late = cp
        .export_create(
            &bob,
            other.id,
            ExportCreate {
                format: ExportFormat::Mbox,
                mailbox_id: None,
            },
        )
        .await
        .unwrap()
        .done()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        export_state(&cp, &bob, other.id, late.id).await,
        ExportState::Preparing
    );
}
e2e!(the_library_runs_its_own_background_work);

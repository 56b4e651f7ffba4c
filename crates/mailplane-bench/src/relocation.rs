//! Part 10 of the benchmark: a tenant's relocation between two Dovecot back ends (issue 19).
//! Two private Dovecots on free loopback ports, sharing the doveadm password so that dsync
//! between them signs in, are the back ends of the regions `eu` (A) and `ca` (B) of one
//! control plane, whose lookups each answers over its dict socket. A tenant of `eu` with
//! mailboxes filled over LMTP at A moves to `ca`: `tenant_relocate`, then the relocation job
//! (copy by dsync, switch, catch-up, erase of the old copy) run with `jobs_run_due` and no
//! grace period, timed to its end. The run fails unless every mailbox holds at B what it held
//! at A, and nothing at A. Both Dovecots are stopped by their pids at the end.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailplane::data_plane::{
    DovecotHost, FileDataPlane, MailHosts, RegionMailHost, Usage, dovecot_user,
};
use mailplane::input::{MailboxCreate, TenantCreate, TenantRelocate};
use mailplane::mailstack::{MailstackConfig, MailstackServer, MailstackSettings};
use mailplane::types::lifecycle::RelocationState;
use mailplane::types::{MailboxId, TenantId};
use mailplane::{Actor, ControlPlane, JobSettings, Outcome};

use crate::mailstack::instance::{Server, StateDir, configuration_beside};
use crate::mailstore::{DOVECOT, lmtp_deliver_all};
use crate::report::{Report, Row, count, duration};

const PART: &str = "10 relocation";

/// The fewest seats the entry offer's licence sells.
const MIN_SEATS: usize = 5;

/// The longest the relocation job may take before the run fails.
const RELOCATION_LIMIT: Duration = Duration::from_secs(3600);

/// The part's sizes.
#[derive(Debug, Clone)]
pub struct RelocationBench {
    /// Mailboxes of the tenant that moves.
    pub mailboxes: usize,
    /// Messages delivered to each of them.
    pub messages_per_mailbox: usize,
    /// The size of each message, in bytes.
    pub message_bytes: usize,
}

/// A running back end: its configuration, the lookups on its dict socket and its Dovecot.
struct BackEnd {
    config: MailstackConfig,
    lookups: Option<MailstackServer>,
    dovecot: Option<Server>,
}

impl BackEnd {
    fn host(&self, region: &str) -> RegionMailHost {
        let c = &self.config;
        RegionMailHost {
            region: region.into(),
            dovecot: Some(DovecotHost {
                name: None,
                draining: false,
                doveadm: format!("http://127.0.0.1:{}", c.doveadm_port),
                imap: (Ipv4Addr::LOCALHOST, c.imap_port).into(),
                lmtp: (Ipv4Addr::LOCALHOST, c.lmtp_port).into(),
                dsync: Some((Ipv4Addr::LOCALHOST, c.dsync_port).into()),
                secrets: c.dovecot_dir(),
                mail_root: Some(c.mail_root()),
                timeout_seconds: 300,
            }),
            backends: vec![],
        }
    }

    /// Serves `cp`'s lookups on the dict socket and starts Dovecot.
    async fn start(&mut self, cp: &ControlPlane, name: &'static str) -> Result<(), String> {
        let c = &self.config;
        self.lookups = Some(
            MailstackServer::start(
                cp.mail_lookups(),
                &MailstackSettings {
                    socketmap: None,
                    dovecot_dict: Some(c.dovecot_dict.clone()),
                    // Dovecot's auth worker runs as root.
                    socket_mode: 0o600,
                },
            )
            .await
            .map_err(|e| format!("the lookups of {name}: {e}"))?,
        );
        let file = c.dovecot_config_file();
        self.dovecot = Some(Server::start(
            name,
            DOVECOT,
            &["-F".as_ref(), "-c".as_ref(), file.as_os_str()],
            c.dovecot_log(),
            &[c.lmtp_port, c.imap_port, c.doveadm_port, c.dsync_port],
        )?);
        Ok(())
    }

    /// `error` with the end of this Dovecot's log.
    fn failed(&self, error: String) -> String {
        match &self.dovecot {
            Some(d) => d.failed(error),
            None => error,
        }
    }

    /// Stops the lookups and Dovecot (by its pid).
    fn stop(&mut self) {
        if let Some(l) = self.lookups.as_mut() {
            l.stop();
        }
        self.dovecot = None;
    }
}

/// Runs part 10 and adds its rows to `report`. Needs Dovecot and root; says so otherwise.
pub async fn run(report: &mut Report, work_dir: &Path, s: &RelocationBench) -> Result<(), String> {
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !root || !Path::new(DOVECOT).exists() {
        report.push(Row::info(
            PART,
            "a tenant's relocation between two Dovecot back ends",
            "not measured: it needs Dovecot (/usr/sbin/dovecot) and root",
        ));
        return Ok(());
    }
    let state_a = StateDir::new("reloc-a")?;
    let state_b = StateDir::new("reloc-b")?;
    let config_a =
        configuration_beside(state_a.path(), None, state_a.path().join("dict.sock"), None)?;
    // B shares A's doveadm password, copied before its configuration is written.
    let config_b = configuration_beside(
        state_b.path(),
        None,
        state_b.path().join("dict.sock"),
        Some(&config_a),
    )?;
    let mut a = BackEnd {
        config: config_a,
        lookups: None,
        dovecot: None,
    };
    let mut b = BackEnd {
        config: config_b,
        lookups: None,
        dovecot: None,
    };

    // One control plane over a database of its own, the file data plane for the keys, A as
    // region `eu` and B as region `ca`, and no grace period before the catch-up.
    let dir = work_dir.join("relocation");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let files = FileDataPlane::open(&dir.join("mail"), &dir.join("master.key"))
        .map_err(|e| format!("the file store: {e}"))?;
    let keys = files.keys().clone();
    let hosts = MailHosts {
        regions: vec![a.host("eu"), b.host("ca")],
    };
    let cp = crate::server::control_plane(&crate::seed::sqlite_in(&dir.join("db")))
        .await?
        .with_data_plane(
            Arc::new(files),
            mailplane::data_plane::DEFAULT_MAX_MESSAGE_BYTES,
        )
        .with_mail_hosts(&hosts, &keys)
        .map_err(|e| format!("the mail hosts: {e}"))?
        .with_job_settings(JobSettings {
            relocation_grace: time::Duration::ZERO,
            ..JobSettings::default()
        });

    let started = async {
        a.start(&cp, "Dovecot A").await?;
        b.start(&cp, "Dovecot B").await
    }
    .await;
    let result = match started {
        Ok(()) => {
            let lmtp = SocketAddr::from((Ipv4Addr::LOCALHOST, a.config.lmtp_port));
            measure(report, &cp, lmtp, s)
                .await
                .map_err(|e| b.failed(a.failed(e)))
        }
        Err(e) => Err(b.failed(a.failed(e))),
    };
    a.stop();
    b.stop();
    result
}

/// The value of an outcome done now, or an error.
fn done<T>(outcome: Outcome<T>, what: &str) -> Result<T, String> {
    match outcome {
        Outcome::Done(v) | Outcome::Automated { value: v, .. } => Ok(v),
        Outcome::Filed(_) => Err(format!("{what} was filed as a request, not done")),
    }
}

async fn measure(
    report: &mut Report,
    cp: &ControlPlane,
    lmtp: SocketAddr,
    s: &RelocationBench,
) -> Result<(), String> {
    let planes = cp.data_planes().ok_or("no data planes")?;
    let (old, new) = (
        planes.for_region("eu").clone(),
        planes.for_region("ca").clone(),
    );
    report.push(Row::info(
        PART,
        "method",
        format!(
            "two private Dovecots on loopback (regions `eu` and `ca` of one control plane, sharing the doveadm password); a tenant of `eu` with {} mailboxes created through the library, each filled over LMTP at `eu` with {} messages of {} bytes; timed: `tenant_relocate` to `ca` and `jobs_run_due` until the relocation is done (copy by dsync `backup`, switch, catch-up by dsync `sync` with every guid checked, erase of the old copy), no grace period",
            count(s.mailboxes as u64),
            count(s.messages_per_mailbox as u64),
            s.message_bytes
        ),
    ));

    // The tenant, its mailboxes, and their mail at A.
    let provider = Actor::provider("bench", &["provider-admin"]);
    let tag = &uuid::Uuid::now_v7().simple().to_string()[20..];
    let tenant = cp
        .tenant_create(
            &provider,
            TenantCreate {
                name: format!("Relocated {tag}"),
                region: Some("eu".into()),
                seats: Some(s.mailboxes.max(MIN_SEATS) as u32),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("creating the tenant: {e}"))?;
    let t: TenantId = tenant.id;
    if tenant.region.as_deref() != Some("eu") {
        return Err(format!("the tenant is in {:?}, not eu", tenant.region));
    }
    let admin = Actor::customer("bench", t, &["tenant-admin"]);
    let domain = cp
        .domain_list(&admin, t, None, None)
        .await
        .map_err(|e| e.to_string())?
        .items
        .into_iter()
        .find(|d| d.default)
        .ok_or("a new tenant has no default domain")?;
    let t0 = Instant::now();
    let mut mailboxes: Vec<MailboxId> = Vec::with_capacity(s.mailboxes);
    for i in 0..s.mailboxes {
        let outcome = cp
            .mailbox_create(
                &admin,
                t,
                MailboxCreate {
                    local_part: format!("user{i}"),
                    domain_id: domain.id,
                    display_name: format!("User {i}"),
                    quota_bytes: None,
                    status: None,
                    kind: None,
                },
            )
            .await
            .map_err(|e| format!("creating a mailbox: {e}"))?;
        let m = done(outcome, "a mailbox's creation")?.id;
        old.provision_mailbox(t, m)
            .await
            .map_err(|e| format!("provisioning at eu: {e}"))?;
        mailboxes.push(m);
    }
    let created = t0.elapsed().as_secs_f64();
    let recipients: Vec<String> = mailboxes.iter().map(|m| dovecot_user(t, *m)).collect();
    let (per_box, size) = (s.messages_per_mailbox, s.message_bytes);
    let filled =
        tokio::task::spawn_blocking(move || lmtp_deliver_all(lmtp, &recipients, per_box, size))
            .await
            .map_err(|e| e.to_string())??;
    let mut before: Vec<Usage> = Vec::with_capacity(mailboxes.len());
    for &m in &mailboxes {
        let u = old.usage(t, m).await.map_err(|e| format!("usage: {e}"))?;
        if u.messages != per_box as u64 {
            return Err(format!(
                "mailbox {m} holds {} messages at eu, not {per_box}",
                u.messages
            ));
        }
        before.push(u);
    }
    let messages: u64 = before.iter().map(|u| u.messages).sum();
    let bytes: u64 = before.iter().map(|u| u.bytes).sum();
    report.push(Row::info(
        PART,
        "the tenant to move (not timed)",
        format!(
            "{} mailboxes created and provisioned at eu in {}, filled over LMTP with {} messages ({:.1} MB as Dovecot counts them) in {}",
            count(s.mailboxes as u64),
            duration(created),
            count(messages),
            bytes as f64 / 1e6,
            duration(filled)
        ),
    ));

    // The move, timed to the job's end.
    let t0 = Instant::now();
    let outcome = cp
        .tenant_relocate(
            &provider,
            t,
            TenantRelocate {
                region: "ca".into(),
                backend: None,
            },
        )
        .await
        .map_err(|e| format!("relocating: {e}"))?;
    done(outcome, "the relocation")?;
    let (mut steps, mut failed, mut rounds) = (0, 0, 0);
    let view = loop {
        let r = cp
            .jobs_run_due()
            .await
            .map_err(|e| format!("running the jobs: {e}"))?;
        steps += r.steps;
        failed += r.failed;
        rounds += 1;
        let view = cp
            .tenant_relocation_view(&provider, t)
            .await
            .map_err(|e| format!("the relocation: {e}"))?;
        if view.state == RelocationState::Done {
            break view;
        }
        if t0.elapsed() > RELOCATION_LIMIT {
            return Err(format!(
                "the relocation is not done after {}: {view:?}",
                duration(t0.elapsed().as_secs_f64())
            ));
        }
        if r.steps + r.failed == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let moved = t0.elapsed().as_secs_f64();

    // Every mailbox holds at B what it held at A, and nothing is left at A.
    let mut wrong = Vec::new();
    for (m, was) in mailboxes.iter().zip(&before) {
        let there = new.usage(t, *m).await.map_err(|e| format!("usage: {e}"))?;
        let left = old.usage(t, *m).await.map_err(|e| format!("usage: {e}"))?;
        if there != *was || left.messages != 0 || left.bytes != 0 {
            wrong.push(format!(
                "{m}: {} messages ({} bytes) at eu before, {} ({} bytes) at ca after, {} ({} bytes) left at eu",
                was.messages, was.bytes, there.messages, there.bytes, left.messages, left.bytes
            ));
        }
    }
    if !wrong.is_empty() {
        return Err(format!(
            "the relocation lost or left mail in {} of {} mailboxes: {}",
            wrong.len(),
            mailboxes.len(),
            wrong.join("; ")
        ));
    }
    if view.erased_mailboxes != mailboxes.len() as u64 || view.missing_messages != 0 {
        return Err(format!("the relocation ended as {view:?}"));
    }
    let region = cp
        .tenant_view(&provider, t)
        .await
        .map_err(|e| format!("the tenant: {e}"))?
        .region;
    if region.as_deref() != Some("ca") {
        return Err(format!(
            "the tenant is in {region:?} after the move, not ca"
        ));
    }

    let mb_per_s = bytes as f64 / 1e6 / moved;
    report.push(
        Row::info(
            PART,
            format!(
                "relocation eu → ca: {} mailboxes, {} messages, {:.1} MB",
                count(s.mailboxes as u64),
                count(messages),
                bytes as f64 / 1e6
            ),
            format!(
                "{} to the job's end ({} job steps in {} calls of `jobs_run_due`, {} failed and retried); every mailbox checked: the same messages and bytes at ca, none at eu",
                duration(moved),
                steps,
                rounds,
                failed
            ),
        )
        .value(moved, "s"),
    );
    let per_mailbox = moved / s.mailboxes.max(1) as f64;
    report.push(
        Row::info(
            PART,
            "relocation: per mailbox",
            duration(per_mailbox).to_string(),
        )
        .value(per_mailbox, "s"),
    );
    report.push(
        Row::info(
            PART,
            "relocation: throughput",
            format!("{mb_per_s:.2} MB/s"),
        )
        .value(mb_per_s, "MB/s"),
    );
    Ok(())
}

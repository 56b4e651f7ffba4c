//! The durable job worker, and the steps of the jobs it runs: exports, terminations and
//! retention sweeps.
//!
//! A worker claims a due job with a lease in the database (`mailplane_store::jobs`), runs
//! its current step while renewing the lease, and commits the step's changes with the
//! job's move to its next step in one transaction. Every step is safe to repeat: a worker
//! killed mid-step leaves a lease that runs out, and the next worker redoes the step from
//! what is durable (files written atomically, rows committed). Deadlines (the export
//! window, the end of a download link) are read from the control plane's clock.

use std::future::Future;

use mailplane_store::{JobClaim, JobNext, TerminationChange, WriteTx};
use mailplane_types::lifecycle::{ExportState, Termination, TerminationBlock, TerminationState};
use mailplane_types::resources::{RequestKind, RequestState, Tenant};
use mailplane_types::{Duty, Error, MailboxId, Party, Result, TenantId};
use serde_json::json;

use super::activity::{DATA_DESTROY, EXPORT, TENANT_DESTROY};
use super::lifecycle::{archive_path, export_dir};
use super::{AUTOMATION_ROLE, AUTOMATION_SUBJECT, ControlPlane};
use crate::Actor;
use crate::archive::{self, ArchiveMailbox};
use crate::certificate::{
    CertificateBody, CertifiedMailbox, CertifiedParty, CertifiedTenant, METHOD, STANDARD, VERSION,
};

/// The job that prepares an export.
pub(super) const EXPORT_JOB: &str = "export";
/// The job that walks a termination to its end.
pub(super) const TERMINATION_JOB: &str = "termination";
/// The job that removes a deleted mailbox's messages from the data plane, whichever path
/// deleted it (directly, by an approved proposal, by a fulfilled request).
pub(super) const MAILBOX_JOB: &str = "mailbox-destroy";
/// The recurring job that applies a tenant's retention policy.
pub(super) const SWEEP_JOB: &str = "retention-sweep";

/// How a worker runs jobs.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// The worker's name in leases and the ledger; unique per process.
    pub owner: String,
    /// How long a claim lasts without renewal: a dead worker's step is taken over after it.
    pub lease: time::Duration,
    /// How long a failed step waits before it is tried again.
    pub retry: time::Duration,
    /// How often a blocked termination checks again whether its blocks are lifted (a hold's
    /// release and an export's acknowledgement also wake it at once).
    pub recheck: time::Duration,
    /// How often a tenant's retention policy is applied.
    pub sweep_interval: time::Duration,
    /// A pause before each step, to spread background I/O.
    pub throttle: std::time::Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            owner: format!(
                "worker-{}-{}",
                std::process::id(),
                uuid::Uuid::now_v7().simple()
            ),
            lease: time::Duration::seconds(30),
            retry: time::Duration::seconds(30),
            recheck: time::Duration::hours(1),
            sweep_interval: time::Duration::hours(1),
            throttle: std::time::Duration::ZERO,
        }
    }
}

/// What one call of [`ControlPlane::jobs_run_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Steps that finished (moved their job on, or waited).
    pub steps: u64,
    /// Steps that failed and will be tried again.
    pub failed: u64,
}

/// The most steps one call runs, so that a caller gets control back.
const MAX_STEPS_PER_CALL: u64 = 10_000;

fn automation() -> Actor {
    Actor::provider(AUTOMATION_SUBJECT, &[AUTOMATION_ROLE])
}

impl ControlPlane {
    /// The same control plane running jobs with these settings.
    pub fn with_job_settings(mut self, settings: JobSettings) -> ControlPlane {
        self.jobs = settings;
        self
    }

    /// Runs every job step that is due, one at a time, until none is left; returns how
    /// many ran. `serve` calls it every second; tests call it after moving the clock.
    pub async fn jobs_run_due(&self) -> Result<JobReport> {
        let mut report = JobReport::default();
        while report.steps + report.failed < MAX_STEPS_PER_CALL
            && !self.jobs_stopped.load(std::sync::atomic::Ordering::SeqCst)
        {
            let now = self.clock.now();
            let Some(claim) = self
                .store
                .job_claim(&self.jobs.owner, now, self.jobs.lease)
                .await?
            else {
                break;
            };
            let throttle = self.jobs.throttle;
            let step = async {
                if !throttle.is_zero() {
                    tokio::time::sleep(throttle).await;
                }
                self.run_step(&claim).await
            };
            match self.with_heartbeat(&claim, step).await {
                Ok(()) => report.steps += 1,
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(
                        job = %claim.job.id,
                        kind = %claim.job.kind,
                        step = %claim.job.step,
                        error = %e,
                        "a job step failed; it will be tried again"
                    );
                    let now = self.clock.now();
                    self.store
                        .job_failed(&claim, &e.to_string(), now + self.jobs.retry, now)
                        .await?;
                }
            }
        }
        Ok(report)
    }

    /// Stops this control plane's worker: a running [`ControlPlane::jobs_run_due`] finishes
    /// the step it holds and claims no other, and later calls claim nothing. Used by a
    /// stopping server, before [`ControlPlane::jobs_release_leases`].
    pub fn jobs_stop(&self) {
        self.jobs_stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Gives up the leases this worker still holds (a step cut short when the server stops),
    /// so that another replica takes them over at once. Returns how many.
    pub async fn jobs_release_leases(&self) -> Result<u64> {
        self.store
            .job_release_leases(&self.jobs.owner, self.clock.now())
            .await
    }

    /// Every claim of the steps of the job of a kind for a subject, oldest first: what ran,
    /// where, and how it ended.
    pub async fn job_ledger(
        &self,
        kind: &str,
        subject: uuid::Uuid,
    ) -> Result<Vec<mailplane_store::JobStepRow>> {
        match self.store.job_get(kind, subject).await? {
            Some(j) => self.store.job_steps(j.id).await,
            None => Ok(vec![]),
        }
    }

    /// Runs `step` while renewing the claim's lease, a third of the lease at a time.
    async fn with_heartbeat(
        &self,
        claim: &JobClaim,
        step: impl Future<Output = Result<()>>,
    ) -> Result<()> {
        let store = self.store.clone();
        let clock = self.clock.clone();
        let lease = self.jobs.lease;
        let held = claim.clone();
        let period = std::time::Duration::from_secs_f64((lease.as_seconds_f64() / 3.0).max(0.05));
        let beat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                match store.job_renew(&held, clock.now() + lease).await {
                    Ok(true) => {}
                    _ => break,
                }
            }
        });
        let result = step.await;
        beat.abort();
        result
    }

    async fn run_step(&self, claim: &JobClaim) -> Result<()> {
        match claim.job.kind.as_str() {
            EXPORT_JOB => self.export_step(claim).await,
            TERMINATION_JOB => self.termination_step(claim).await,
            SWEEP_JOB => self.sweep_step(claim).await,
            MAILBOX_JOB => self.mailbox_step(claim).await,
            other => Err(Error::internal(format!("no job kind `{other}`"))),
        }
    }

    /// Moves the claimed job on and commits `tx`. A step that waits waits at least a
    /// second, so that one call of the worker never spins on it.
    async fn advance(&self, tx: WriteTx, claim: &JobClaim, next: JobNext) -> Result<()> {
        let now = self.clock.now();
        let next = match next {
            JobNext::Wait { until, progress } => JobNext::Wait {
                until: until.max(now + time::Duration::seconds(1)),
                progress,
            },
            other => other,
        };
        tx.job_advance(claim, next, now).await?;
        tx.commit().await
    }

    /// Appends an audit row and its events for a change provider automation made. The
    /// accountable party is told when another party acted (as for any change); with
    /// `tell_accountable`, also when automation acted under the provider's own A (a
    /// destruction that waits).
    async fn automation_audit(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        activity: &str,
        target: (&'static str, String),
        outcome: &'static str,
        tell_accountable: bool,
    ) -> Result<()> {
        let actor = automation();
        let decision = self
            .profile_of(tenant)?
            .decide(actor.party(), actor.roles(), activity);
        let mut change = Self::record(
            &actor,
            &decision,
            Some(tenant.id),
            target.0,
            target.1,
            outcome,
        );
        if let Some(p) = decision.accountable().filter(|_| tell_accountable) {
            super::operations::add(&mut change.audience, p);
        }
        let entry = tx.audit_append(change.record).await?;
        tx.event_append(&entry, &change.audience).await
    }

    async fn job_tenant(&self, tx: &WriteTx, claim: &JobClaim) -> Result<Tenant> {
        let id = claim
            .job
            .tenant_id
            .ok_or_else(|| Error::internal(format!("job {} names no tenant", claim.job.id)))?;
        tx.tenant_get(mailplane_store::Scope::All, id)
            .await?
            .ok_or_else(|| Error::not_found("tenant", id))
    }

    /// The steps of an export: `start` lists the mailboxes, `collect:<n>` copies the n-th
    /// into the staging folder (a mailbox marked complete is not copied again), `package`
    /// writes the archive and publishes the link, `expire` removes the archive when the
    /// link ends.
    async fn export_step(&self, claim: &JobClaim) -> Result<()> {
        let settings = self.lifecycle()?.clone();
        let tenant_id: TenantId = claim
            .job
            .tenant_id
            .ok_or_else(|| Error::internal("an export job names no tenant"))?;
        let export = self
            .store
            .export_get(tenant_id, claim.job.subject)
            .await?
            .ok_or_else(|| Error::not_found("export", claim.job.subject))?;
        let dir = export_dir(&settings, &export);
        let staging = dir.join("staging");
        let now = self.clock.now();
        let step = claim.job.step.as_str();
        if step == "start" {
            let mut mailboxes = self.store.mailbox_addresses(tenant_id).await?;
            if let Some(m) = export.mailbox_id {
                mailboxes.retain(|(id, _)| *id == m);
            }
            let list: Vec<_> = mailboxes
                .iter()
                .map(|(id, address)| json!({ "id": id, "address": address }))
                .collect();
            let next = if list.is_empty() {
                "package"
            } else {
                "collect:0"
            };
            let tx = self.store.begin().await?;
            return self
                .advance(
                    tx,
                    claim,
                    JobNext::Step {
                        step: next.into(),
                        run_after: now,
                        progress: json!({ "mailboxes": list }),
                    },
                )
                .await;
        }
        let mailboxes: Vec<ArchiveMailbox> = claim.job.progress["mailboxes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| {
                        let id: uuid::Uuid = m["id"].as_str()?.parse().ok()?;
                        Some(ArchiveMailbox {
                            id,
                            address: m["address"].as_str()?.to_string(),
                            dir: archive::mailbox_staging(&staging, id),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(n) = step.strip_prefix("collect:") {
            let n: usize = n
                .parse()
                .map_err(|_| Error::internal(format!("bad export step `{step}`")))?;
            let m = mailboxes
                .get(n)
                .ok_or_else(|| Error::internal(format!("export step `{step}` has no mailbox")))?;
            if !archive::is_staged(&m.dir) {
                let dp = self.data_plane()?;
                // Staged messages are sealed like the archive: no plaintext lands on disk.
                let key = dp.export_key(tenant_id).await?;
                archive::reset_mailbox_staging(&m.dir)?;
                let mailbox: MailboxId = m.id.into();
                let mut n = 0;
                dp.export(tenant_id, mailbox, &mut |msg, bytes| {
                    n += 1;
                    let name = archive::message_file_name(n, msg.received_at, msg.id);
                    archive::stage_message(&key, &m.dir, &name, bytes)
                })
                .await?;
                archive::mark_staged(&m.dir)?;
            }
            let next = if n + 1 < mailboxes.len() {
                format!("collect:{}", n + 1)
            } else {
                "package".into()
            };
            let tx = self.store.begin().await?;
            return self
                .advance(
                    tx,
                    claim,
                    JobNext::Step {
                        step: next,
                        run_after: now,
                        progress: claim.job.progress.clone(),
                    },
                )
                .await;
        }
        match step {
            "package" => {
                let out = archive_path(&settings, &export);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
                let format = export.format;
                let list = mailboxes.clone();
                let key = self.data_plane()?.export_key(tenant_id).await?;
                let manifest =
                    tokio::task::spawn_blocking(move || archive::build(&key, format, &list, &out))
                        .await
                        .map_err(|e| Error::internal(format!("the archive task failed: {e}")))??;
                archive::remove_staging(&staging)?;
                let expires = now + settings.link_ttl;
                let tx = self.store.begin().await?;
                let tenant = self.job_tenant(&tx, claim).await?;
                tx.export_transition(
                    export.id,
                    &[ExportState::Preparing],
                    ExportState::Ready,
                    Some(&manifest),
                    (Some(now), Some(expires)),
                    None,
                )
                .await?;
                // The accountable customer is told its export is ready, whatever its letters.
                self.automation_audit(
                    &tx,
                    &tenant,
                    EXPORT,
                    ("export", export.id.to_string()),
                    "delivered",
                    false,
                )
                .await?;
                self.advance(
                    tx,
                    claim,
                    JobNext::Step {
                        step: "expire".into(),
                        run_after: expires,
                        progress: claim.job.progress.clone(),
                    },
                )
                .await
            }
            "expire" => {
                crate::files::remove_dir_if_exists(&dir)?;
                let tx = self.store.begin().await?;
                expire_export(&tx, &export).await?;
                self.advance(
                    tx,
                    claim,
                    JobNext::Done {
                        progress: claim.job.progress.clone(),
                    },
                )
                .await
            }
            other => Err(Error::internal(format!("no export step `{other}`"))),
        }
    }

    /// Removes a deleted mailbox's messages (idempotent: a folder already gone is done).
    async fn mailbox_step(&self, claim: &JobClaim) -> Result<()> {
        let tenant = claim
            .job
            .tenant_id
            .ok_or_else(|| Error::internal("a mailbox job names no tenant"))?;
        if let Some(dp) = &self.data_plane {
            dp.destroy_mailbox(tenant, claim.job.subject.into()).await?;
        }
        let tx = self.store.begin().await?;
        self.advance(
            tx,
            claim,
            JobNext::Done {
                progress: claim.job.progress.clone(),
            },
        )
        .await
    }

    /// The recurring retention sweep of one tenant.
    async fn sweep_step(&self, claim: &JobClaim) -> Result<()> {
        let tenant: TenantId = claim.job.subject.into();
        let report = self.retention_sweep_tenant(tenant).await?;
        let tx = self.store.begin().await?;
        let progress = json!({
            "last_mailboxes": report.mailboxes,
            "last_deleted_messages": report.deleted_messages,
            "last_held": report.held,
        });
        let next = if report.policy {
            JobNext::Wait {
                until: self.clock.now() + self.jobs.sweep_interval,
                progress,
            }
        } else {
            // The policy was removed or no longer deletes: the sweep ends until one is set.
            JobNext::Done { progress }
        };
        self.advance(tx, claim, next).await
    }

    /// The steps of a termination: `window` waits for the export window to close (or ends
    /// the job when cancelled), `check` stops at `blocked` while a hold or a locked
    /// retention policy stands, `consult` asks the parties consulted on the destruction of
    /// the configuration and waits for their answer, `configuration` removes it, `erase` destroys
    /// the data keys and export archives, `verify` checks nothing is readable, `certify`
    /// signs the certificate, `purge` removes the files and closes the tombstone.
    async fn termination_step(&self, claim: &JobClaim) -> Result<()> {
        let now = self.clock.now();
        let tx = self.store.begin().await?;
        let record = tx.termination_get(claim.job.subject).await?;
        let t = record.termination.clone();
        let progress = claim.job.progress.clone();
        let wait = |until| JobNext::Wait {
            until,
            progress: progress.clone(),
        };
        let step_to = |step: &str| JobNext::Step {
            step: step.into(),
            run_after: now,
            progress: progress.clone(),
        };
        // A step run again after a resume carries a suffix (`check#<id>`): the ledger keeps
        // one finished row per step name.
        let step = claim.job.step.split('#').next().unwrap_or_default();
        match step {
            "window" => {
                let next = if t.state == TerminationState::Cancelled {
                    JobNext::Done {
                        progress: progress.clone(),
                    }
                } else if now < t.window_ends_at {
                    wait(t.window_ends_at)
                } else {
                    step_to("check")
                };
                self.advance(tx, claim, next).await
            }
            "check" => {
                let tenant = self.job_tenant(&tx, claim).await?;
                let blocks = self.termination_blocks(&tx, &t).await?;
                if blocks.is_empty() {
                    return self.advance(tx, claim, step_to("consult")).await;
                }
                if t.state != TerminationState::Blocked || t.blocked_by != blocks {
                    tx.termination_change(
                        t.id,
                        &[TerminationState::Terminating, TerminationState::Blocked],
                        TerminationChange {
                            state: Some(TerminationState::Blocked),
                            blocked_by: Some(blocks),
                            ..Default::default()
                        },
                    )
                    .await?;
                    // The party accountable for the destruction learns that it waits.
                    self.automation_audit(
                        &tx,
                        &tenant,
                        DATA_DESTROY,
                        ("termination", t.id.to_string()),
                        "blocked",
                        true,
                    )
                    .await?;
                }
                self.advance(tx, claim, wait(now + self.jobs.recheck)).await
            }
            "consult" => self.termination_consult(tx, claim, &t, now).await,
            "configuration" => {
                let tenant = self.job_tenant(&tx, claim).await?;
                let mailboxes = self.store.mailbox_addresses(tenant.id).await?;
                let snapshot = json!({
                    "tenant": { "id": tenant.id, "name": tenant.name, "slug": tenant.slug },
                    "mailboxes": mailboxes
                        .iter()
                        .map(|(id, address)| json!({ "id": id, "address": address }))
                        .collect::<Vec<_>>(),
                });
                tx.termination_change(
                    t.id,
                    &[TerminationState::Terminating, TerminationState::Blocked],
                    TerminationChange {
                        state: Some(TerminationState::ConfigurationDestroyed),
                        blocked_by: Some(vec![]),
                        configuration_destroyed_at: Some(now),
                        snapshot: Some(snapshot),
                        ..Default::default()
                    },
                )
                .await?;
                let removed = tx.tenant_configuration_destroy(tenant.id).await?;
                tracing::info!(
                    tenant = %tenant.id,
                    mailboxes = removed.mailboxes,
                    domains = removed.domains,
                    "destroyed a tenant's configuration at end of service"
                );
                self.automation_audit(
                    &tx,
                    &tenant,
                    TENANT_DESTROY,
                    ("tenant", tenant.id.to_string()),
                    "configuration destroyed",
                    false,
                )
                .await?;
                self.advance(tx, claim, step_to("erase")).await
            }
            "erase" => {
                drop(tx);
                let settings = self.lifecycle()?.clone();
                // Export archives are sealed under the tenant's data key, which the erase
                // destroys; they are removed too, so that no ciphertext outlives the tenant.
                crate::files::remove_dir_if_exists(
                    &settings.exports_dir.join(t.tenant_id.to_string()),
                )?;
                let erasure = self.data_plane()?.crypto_erase_tenant(t.tenant_id).await?;
                let tx = self.store.begin().await?;
                tx.termination_change(
                    t.id,
                    &[TerminationState::ConfigurationDestroyed],
                    TerminationChange {
                        erasure: Some(json!({
                            "key_ids": erasure.key_ids,
                            "objects": erasure.messages,
                            "bytes": erasure.bytes,
                            "mailboxes": erasure.mailboxes,
                            "erased_at": rfc3339(now),
                        })),
                        ..Default::default()
                    },
                )
                .await?;
                for e in self.store.exports_list(t.tenant_id).await? {
                    expire_export(&tx, &e).await?;
                }
                self.advance(tx, claim, step_to("verify")).await
            }
            "verify" => {
                drop(tx);
                if self.data_plane()?.tenant_readable(t.tenant_id).await? {
                    return Err(Error::internal(format!(
                        "tenant {} is still readable after its erase",
                        t.tenant_id
                    )));
                }
                let tx = self.store.begin().await?;
                let mut progress = progress.clone();
                progress["verified_at"] = json!(rfc3339(now));
                self.advance(
                    tx,
                    claim,
                    JobNext::Step {
                        step: "certify".into(),
                        run_after: now,
                        progress,
                    },
                )
                .await
            }
            "certify" => {
                let tenant = self.job_tenant(&tx, claim).await?;
                let certificate = self.certificate(&tenant, &record, &progress, now)?;
                tx.termination_change(
                    t.id,
                    &[TerminationState::ConfigurationDestroyed],
                    TerminationChange {
                        state: Some(TerminationState::DataDestroyed),
                        data_destroyed_at: Some(now),
                        certificate: Some(certificate),
                        ..Default::default()
                    },
                )
                .await?;
                self.automation_audit(
                    &tx,
                    &tenant,
                    DATA_DESTROY,
                    ("termination", t.id.to_string()),
                    "data destroyed",
                    false,
                )
                .await?;
                self.advance(tx, claim, step_to("purge")).await
            }
            "purge" => {
                drop(tx);
                let removed = self.data_plane()?.purge_tenant(t.tenant_id).await?;
                tracing::info!(
                    tenant = %t.tenant_id,
                    messages = removed.messages,
                    "removed an erased tenant's files"
                );
                let tx = self.store.begin().await?;
                tx.termination_change(
                    t.id,
                    &[TerminationState::DataDestroyed],
                    TerminationChange {
                        state: Some(TerminationState::Closed),
                        files_removed_at: Some(self.clock.now()),
                        closed_at: Some(self.clock.now()),
                        ..Default::default()
                    },
                )
                .await?;
                self.advance(
                    tx,
                    claim,
                    JobNext::Done {
                        progress: progress.clone(),
                    },
                )
                .await
            }
            other => Err(Error::internal(format!("no termination step `{other}`"))),
        }
    }

    /// Asks the parties the profile consults on `configuration.destroy` (the partner, in
    /// `master-hoster`) before the configuration goes, and waits for the consultation to
    /// close: a consent, the deadline, or the provider's approval after an objection lets
    /// the destruction go on; a rejection or a withdrawal stops it at `blocked`.
    async fn termination_consult(
        &self,
        tx: WriteTx,
        claim: &JobClaim,
        t: &Termination,
        now: time::OffsetDateTime,
    ) -> Result<()> {
        let tenant = self.job_tenant(&tx, claim).await?;
        let profile = self.profile_of(&tenant)?;
        let actor = automation();
        let decision = profile.decide(actor.party(), actor.roles(), TENANT_DESTROY);
        let mut progress = claim.job.progress.clone();
        let next = |step: &str, progress: &serde_json::Value| JobNext::Step {
            step: step.into(),
            run_after: now,
            progress: progress.clone(),
        };
        if super::operations::consulted(&decision, Party::Provider).is_empty() {
            return self
                .advance(tx, claim, next("configuration", &progress))
                .await;
        }
        let recheck = now + self.jobs.recheck;
        let filed = progress["consultation"]
            .as_str()
            .and_then(|s| s.parse::<uuid::Uuid>().ok());
        let Some(id) = filed else {
            let note = format!(
                "The customer terminated its contract on {}; the export window closed on {}. The provider destroys the tenant's configuration once the consulted parties have answered, or at the deadline.",
                t.terminated_at.date(),
                t.window_ends_at.date()
            );
            let request = self
                .file(
                    &tx,
                    &actor,
                    &tenant,
                    profile,
                    &decision,
                    RequestKind::Consultation,
                    None,
                    json!({ "termination_id": t.id }),
                    note,
                )
                .await?;
            progress["consultation"] = json!(request.id);
            let until = request.expires_at.map_or(recheck, |e| e.min(recheck));
            return self
                .advance(tx, claim, JobNext::Wait { until, progress })
                .await;
        };
        let request = tx
            .request_get(mailplane_store::Scope::All, &[], id)
            .await?
            .ok_or_else(|| Error::not_found("request", id))?;
        match request.state {
            RequestState::Fulfilled | RequestState::Approved | RequestState::Expired => {
                self.advance(tx, claim, next("configuration", &progress))
                    .await
            }
            RequestState::Pending => {
                // Past its deadline, the consultation waits for the request sweep to close
                // it: look again a minute later, not at once.
                let until = request
                    .expires_at
                    .map_or(recheck, |e| e.min(recheck))
                    .max(now + time::Duration::minutes(1));
                self.advance(tx, claim, JobNext::Wait { until, progress })
                    .await
            }
            RequestState::Rejected | RequestState::Declined | RequestState::Cancelled => {
                let block = TerminationBlock {
                    kind: "consultation".into(),
                    hold_id: None,
                    reason: format!(
                        "the consultation {id} on destroying the configuration ended {}: the destruction waits for the provider",
                        request.state.as_str()
                    ),
                };
                if t.state != TerminationState::Blocked || t.blocked_by != [block.clone()] {
                    tx.termination_change(
                        t.id,
                        &[TerminationState::Terminating, TerminationState::Blocked],
                        TerminationChange {
                            state: Some(TerminationState::Blocked),
                            blocked_by: Some(vec![block]),
                            ..Default::default()
                        },
                    )
                    .await?;
                }
                self.advance(
                    tx,
                    claim,
                    JobNext::Wait {
                        until: recheck,
                        progress,
                    },
                )
                .await
            }
        }
    }

    /// What stops a termination now: active legal holds, and a locked retention policy
    /// that no acknowledged export of the whole tenant, made since the termination, meets.
    async fn termination_blocks(
        &self,
        tx: &WriteTx,
        t: &Termination,
    ) -> Result<Vec<TerminationBlock>> {
        let mut blocks = Vec::new();
        for h in self.store.hold_list(t.tenant_id).await? {
            if h.active {
                blocks.push(TerminationBlock {
                    kind: "legal_hold".into(),
                    hold_id: Some(h.id),
                    reason: format!(
                        "legal hold {} ({}, placed by {}) stops the destruction: release it to go on",
                        h.id, h.reason, h.placed_by
                    ),
                });
            }
        }
        if let Some(p) = tx.retention_get(t.tenant_id).await?
            && p.locked
            && !tx
                .tenant_export_acknowledged_since(t.tenant_id, t.terminated_at)
                .await?
        {
            blocks.push(TerminationBlock {
                kind: "locked_retention".into(),
                hold_id: None,
                reason: "a locked retention policy binds the tenant's mail: the customer must acknowledge an export of the whole tenant made since the termination".into(),
            });
        }
        Ok(blocks)
    }

    /// Builds and signs the destruction certificate from what the steps recorded.
    fn certificate(
        &self,
        tenant: &Tenant,
        record: &mailplane_store::TerminationRecord,
        progress: &serde_json::Value,
        now: time::OffsetDateTime,
    ) -> Result<serde_json::Value> {
        let settings = self.lifecycle()?;
        let t = &record.termination;
        let bad = |what: &str| Error::internal(format!("termination {}: no {what}", t.id));
        let snapshot = record.snapshot.as_ref().ok_or_else(|| bad("snapshot"))?;
        let erasure = record.erasure.as_ref().ok_or_else(|| bad("erasure"))?;
        let time_of = |v: &serde_json::Value, what: &str| {
            v.as_str()
                .and_then(|s| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .ok_or_else(|| bad(what))
        };
        let decision = self.profile_of(tenant)?.decide(
            Party::Provider,
            &[AUTOMATION_ROLE.to_string()],
            DATA_DESTROY,
        );
        let informed = Party::ALL
            .into_iter()
            .filter(|p| decision.letters[p.index()].has(Duty::I) && *p != Party::Provider)
            .map(|p| CertifiedParty {
                party: p.as_str().into(),
                subject: match p {
                    Party::Customer => format!("tenant:{}", tenant.id),
                    Party::Partner => tenant
                        .partner_id
                        .map(|id| format!("partner:{id}"))
                        .unwrap_or_else(|| "partner".into()),
                    Party::Provider => "provider".into(),
                },
            })
            .collect();
        let body = CertificateBody {
            version: VERSION,
            certificate_id: uuid::Uuid::now_v7(),
            issuer: settings.issuer.clone(),
            tenant: CertifiedTenant {
                id: tenant.id.uuid(),
                name: snapshot["tenant"]["name"]
                    .as_str()
                    .unwrap_or(&tenant.name)
                    .to_string(),
                slug: snapshot["tenant"]["slug"].as_str().map(str::to_string),
            },
            mailboxes: snapshot["mailboxes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|m| {
                            Some(CertifiedMailbox {
                                id: m["id"].as_str()?.parse().ok()?,
                                address: m["address"].as_str()?.to_string(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            objects: erasure["objects"].as_u64().unwrap_or(0),
            bytes: erasure["bytes"].as_u64().unwrap_or(0),
            key_ids: erasure["key_ids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default(),
            method: METHOD.into(),
            standard: STANDARD.into(),
            terminated_at: t.terminated_at,
            configuration_destroyed_at: t
                .configuration_destroyed_at
                .ok_or_else(|| bad("configuration destruction time"))?,
            erased_at: time_of(&erasure["erased_at"], "erase time")?,
            verified_at: time_of(&progress["verified_at"], "verification time")?,
            issued_at: now,
            responsible: CertifiedParty {
                party: Party::Provider.as_str().into(),
                subject: AUTOMATION_SUBJECT.into(),
            },
            accountable_informed: informed,
            verification: "after the erase, no data key of the tenant exists under the master key and no file of the tenant opens: every message was sealed with the erased key".into(),
        };
        let signed = settings.signer.sign(body)?;
        serde_json::to_value(&signed)
            .map_err(|e| Error::internal(format!("serialising a certificate: {e}")))
    }
}

/// Marks a ready export expired once its archive is gone; an acknowledged one stays
/// acknowledged.
async fn expire_export(tx: &WriteTx, e: &mailplane_types::lifecycle::Export) -> Result<()> {
    if e.state == ExportState::Ready {
        tx.export_transition(
            e.id,
            &[ExportState::Ready],
            ExportState::Expired,
            None,
            (None, None),
            None,
        )
        .await?;
    }
    Ok(())
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

//! The durable job worker: it claims due steps, runs them under a lease and moves their
//! jobs on. The steps of each kind of job live in a file of their own: `export.rs`,
//! `termination.rs`, `mailbox_destroy.rs`, `retention_sweep.rs`, `relocation.rs` and
//! `dunning.rs`.
//!
//! A worker claims a due job with a lease in the database (`mailplane_store::jobs`), runs
//! its current step while renewing the lease, and commits the step's changes with the
//! job's move to its next step in one transaction. Every step is safe to repeat: a worker
//! killed mid-step leaves a lease that runs out, and the next worker redoes the step from
//! what is durable (files written atomically, rows committed). Deadlines (the export
//! window, the end of a download link) are read from the control plane's clock.
//!
//! Kinds and steps are enums with one stored spelling each ([`JobKind`], [`Step`]), and
//! what a step leaves for the next (its progress, a termination's erasure record) is a
//! typed struct: a stored record that lacks a field is an error that stops the step, never
//! a zero written on a certificate. The store keeps them as the strings and JSON it always
//! kept, so jobs stored by earlier versions still run.

use std::future::Future;

use mailplane_store::{JobClaim, JobNext, WriteTx};
use mailplane_types::lifecycle::ExportState;
use mailplane_types::resources::Tenant;
use mailplane_types::{AuditOutcome, AuditTarget, Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{AUTOMATION_ROLE, AUTOMATION_SUBJECT, ControlPlane};
use crate::Actor;

mod dunning;
mod export;
mod mailbox_destroy;
pub(super) mod relocation;
mod retention_sweep;
mod session_end;
mod termination;

/// The kinds of durable jobs, each with its stored name and its steps in a file of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    /// Prepares an export ([`export::ExportStep`]).
    Export,
    /// Walks a termination to its end ([`termination::TerminationStep`]).
    Termination,
    /// Removes a deleted mailbox's messages from the data plane, whichever path deleted it
    /// (directly, by an approved proposal, by a fulfilled request).
    MailboxDestroy,
    /// Applies a tenant's retention policy, again and again.
    RetentionSweep,
    /// Moves a tenant's mail to another region ([`relocation::RelocationStep`]).
    Relocation,
    /// Ends a contract for cause once a suspension for non-payment outlives its grace
    /// ([`dunning::DunningStep`]).
    Dunning,
    /// Ends the open mail sessions of a tenant or a mailbox that may no longer sign in
    /// ([`session_end::SessionEndStep`]).
    SessionEnd,
}

impl JobKind {
    /// Every kind.
    pub(crate) const ALL: [JobKind; 7] = [
        JobKind::Export,
        JobKind::Termination,
        JobKind::MailboxDestroy,
        JobKind::RetentionSweep,
        JobKind::Relocation,
        JobKind::Dunning,
        JobKind::SessionEnd,
    ];

    /// The stored name.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            JobKind::Export => "export",
            JobKind::Termination => "termination",
            JobKind::MailboxDestroy => "mailbox-destroy",
            JobKind::RetentionSweep => "retention-sweep",
            JobKind::Relocation => "relocation",
            JobKind::Dunning => "dunning",
            JobKind::SessionEnd => "session-end",
        }
    }

    /// The kind stored under `name`.
    pub(crate) fn parse(name: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// The job that prepares an export, by its stored name.
pub(super) const EXPORT_JOB: &str = JobKind::Export.as_str();
/// The job that walks a termination to its end, by its stored name.
pub(super) const TERMINATION_JOB: &str = JobKind::Termination.as_str();
/// The job that removes a deleted mailbox's messages, by its stored name.
pub(super) const MAILBOX_JOB: &str = JobKind::MailboxDestroy.as_str();
/// The recurring retention sweep, by its stored name.
pub(super) const SWEEP_JOB: &str = JobKind::RetentionSweep.as_str();
/// The job that moves a tenant's mail to another region, by its stored name.
pub(super) const RELOCATION_JOB: &str = JobKind::Relocation.as_str();
/// The dunning ladder of a suspension for non-payment, by its stored name.
pub(super) const DUNNING_JOB: &str = JobKind::Dunning.as_str();
/// The job that ends the open mail sessions a change took away, by its stored name.
pub(super) const SESSION_END_JOB: &str = JobKind::SessionEnd.as_str();

/// A step of a kind of job: written with `Display` in its one spelling, read back with
/// [`Step::parse`], which also reads what earlier versions stored.
pub(crate) trait Step: Sized + std::fmt::Display {
    /// The step stored as `stored`, if it is one.
    fn parse(stored: &str) -> Option<Self>;
}

/// The claimed job's step, typed: a step this version does not know is an error.
fn step_of<S: Step>(claim: &JobClaim) -> Result<S> {
    S::parse(&claim.job.step).ok_or_else(|| {
        Error::internal(format!(
            "job {} ({}) is at the unknown step `{}`",
            claim.job.id, claim.job.kind, claim.job.step
        ))
    })
}

/// Reads a stored record (a job's progress, a termination's erasure record or snapshot)
/// as its type: a missing or malformed field is an error naming the field, never a default.
fn record_of<T: DeserializeOwned>(
    value: &serde_json::Value,
    what: &str,
    of: impl std::fmt::Display,
) -> Result<T> {
    T::deserialize(value)
        .map_err(|e| Error::internal(format!("the {what} of {of} is unreadable: {e}")))
}

/// A record as the JSON the store keeps.
fn json_of<T: Serialize>(record: &T) -> Result<serde_json::Value> {
    serde_json::to_value(record)
        .map_err(|e| Error::internal(format!("serialising a job record: {e}")))
}

/// A mailbox as an export's progress and a termination's snapshot name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobMailbox {
    /// The mailbox's id.
    pub(crate) id: uuid::Uuid,
    /// Its address.
    pub(crate) address: String,
}

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
    /// How long a relocation waits after switching a tenant's region before it copies the
    /// mail the old region's store accepted meanwhile and destroys the old copy: the time
    /// for deliveries Postfix routed before the switch to arrive.
    pub relocation_grace: time::Duration,
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
            relocation_grace: time::Duration::minutes(10),
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

#[cfg(feature = "test-hooks")]
tokio::task_local! {
    /// Set while a step runs whose commit must be left out (see
    /// `ControlPlane::jobs_run_due_each_step_twice`).
    static UNCOMMITTED: bool;
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
        match JobKind::parse(&claim.job.kind) {
            Some(JobKind::Export) => self.export_step(claim).await,
            Some(JobKind::Termination) => self.termination_step(claim).await,
            Some(JobKind::RetentionSweep) => self.sweep_step(claim).await,
            Some(JobKind::MailboxDestroy) => self.mailbox_step(claim).await,
            Some(JobKind::Relocation) => self.relocation_step(claim).await,
            Some(JobKind::Dunning) => self.dunning_step(claim).await,
            Some(JobKind::SessionEnd) => self.session_end_step(claim).await,
            None => Err(Error::internal(format!("no job kind `{}`", claim.job.kind))),
        }
    }

    /// Runs every due step like [`ControlPlane::jobs_run_due`], but each step twice: the
    /// first run does all its work and then drops its transaction instead of committing it,
    /// as a worker killed just before its commit would; the second run, under the same
    /// claim, redoes the step and commits. Every step must leave the same state and the
    /// same ledger as a single run (omicron's `actions_succeed_idempotently`). Only built
    /// with the `test-hooks` feature, which the tests crate enables and nothing else does.
    #[cfg(feature = "test-hooks")]
    pub async fn jobs_run_due_each_step_twice(&self) -> Result<JobReport> {
        let mut report = JobReport::default();
        while report.steps + report.failed < MAX_STEPS_PER_CALL {
            let now = self.clock.now();
            let Some(claim) = self
                .store
                .job_claim(&self.jobs.owner, now, self.jobs.lease)
                .await?
            else {
                break;
            };
            let first = UNCOMMITTED.scope(true, self.run_step(&claim)).await;
            let second = match first {
                Ok(()) => self.run_step(&claim).await,
                Err(e) => Err(e),
            };
            match second {
                Ok(()) => report.steps += 1,
                Err(e) => {
                    report.failed += 1;
                    let now = self.clock.now();
                    self.store
                        .job_failed(&claim, &e.to_string(), now + self.jobs.retry, now)
                        .await?;
                }
            }
        }
        Ok(report)
    }

    /// Runs the one step that is due first, as [`ControlPlane::jobs_run_due`] would, and
    /// returns its job's kind and step, or `None` when nothing is due: a test acts between
    /// two steps of a job (mail delivered between a relocation's copy and its switch). Only
    /// built with the `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub async fn jobs_run_one_due(&self) -> Result<Option<(String, String)>> {
        let now = self.clock.now();
        let Some(claim) = self
            .store
            .job_claim(&self.jobs.owner, now, self.jobs.lease)
            .await?
        else {
            return Ok(None);
        };
        if let Err(e) = self.run_step(&claim).await {
            let now = self.clock.now();
            self.store
                .job_failed(&claim, &e.to_string(), now + self.jobs.retry, now)
                .await?;
            return Err(e);
        }
        Ok(Some((claim.job.kind.clone(), claim.job.step.clone())))
    }

    /// Moves the claimed job on and commits `tx`. A step that waits waits at least a
    /// second, so that one call of the worker never spins on it.
    async fn advance(&self, tx: WriteTx, claim: &JobClaim, next: JobNext) -> Result<()> {
        #[cfg(feature = "test-hooks")]
        if UNCOMMITTED.try_with(|u| *u).unwrap_or(false) {
            // A first run under `jobs_run_due_each_step_twice`: the worker "dies" here.
            drop(tx);
            return Ok(());
        }
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
        target: (AuditTarget, String),
        outcome: AuditOutcome,
        tell_accountable: bool,
    ) -> Result<()> {
        let actor = automation();
        let decision = self
            .profile_of(tenant)?
            .decide(actor.party(), actor.roles(), activity);
        let mut change = Self::change(
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
        tx.record(change).await?;
        Ok(())
    }

    async fn job_tenant(&self, tx: &WriteTx, claim: &JobClaim) -> Result<Tenant> {
        let id = claim
            .job
            .tenant_id
            .ok_or_else(|| Error::internal(format!("job {} names no tenant", claim.job.id)))?;
        tx.tenant_view(mailplane_store::Scope::All, id)
            .await?
            .ok_or_else(|| Error::not_found("tenant", id))
    }
}

/// Marks a ready export expired once its archive is gone; an acknowledged one stays
/// acknowledged.
pub(super) async fn expire_export(
    tx: &WriteTx,
    e: &mailplane_types::lifecycle::Export,
) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_its_one_spelling() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::parse(kind.as_str()), Some(kind));
        }
        // The names jobs already stored carry.
        for (stored, kind) in [
            ("export", JobKind::Export),
            ("termination", JobKind::Termination),
            ("mailbox-destroy", JobKind::MailboxDestroy),
            ("retention-sweep", JobKind::RetentionSweep),
            ("relocation", JobKind::Relocation),
            ("dunning", JobKind::Dunning),
            ("session-end", JobKind::SessionEnd),
        ] {
            assert_eq!(JobKind::parse(stored), Some(kind));
        }
        assert_eq!(JobKind::parse("Export"), None);
    }
}

//! The job that moves a tenant's mail to another region (`tenant.relocate` when the two
//! regions keep mail on different data planes). Its steps, each safe to run twice:
//!
//! 1. `copy`: every mailbox of the tenant is copied from the old region's data plane to the
//!    new one ([`crate::data_plane::DataPlane::copy_mailbox_to`] in [`CopyMode::Backup`]: dsync between two
//!    Dovecot back ends, export and import otherwise). Mail still arrives at the old region.
//! 2. `switch`: the tenant's region becomes the new one, audited, with its event, in one
//!    transaction. From then on Postfix's transport lookup routes the tenant's mail to the
//!    new region's LMTP.
//! 3. `catch-up`, due a grace period later ([`super::JobSettings::relocation_grace`]), so
//!    that deliveries Postfix routed before the switch have landed: every mailbox is copied
//!    again, two-way ([`CopyMode::Sync`]: mail already delivered to the new side stays), and
//!    the old copy is checked message by message against the new one
//!    ([`crate::data_plane::DataPlane::missing_at`]: guids between Dovecots, digests otherwise). While anything
//!    is missing the step runs again.
//! 4. `erase`: the old copy of each mailbox is destroyed, each only after checking once more
//!    that none of its messages is missing at the new region; a mailbox found incomplete
//!    sends the job back to `catch-up`.
//!
//! Legal holds: a relocation is allowed under a hold, because it deletes no message. A hold
//! keeps mail from being deleted; the move destroys the old copy of a message only once the
//! same message is verified at the new region (the check is made again right before each
//! mailbox's destruction), so held mail always exists in at least one region, and the hold
//! goes on applying to it there. Refusing relocations under hold would instead keep a
//! tenant's mail in a region it must leave (a data-residency duty) for as long as a
//! litigation lasts.
//!
//! The job lists the tenant's mailboxes at each step, so a mailbox created during the move
//! is copied too. Its progress ([`RelocationProgress`]) is what `GET
//! /v1/tenants/{tenant}/relocation` shows.

use std::fmt;

use mailplane_store::{JOB_DONE, JobClaim, JobNext, JobRow};
use mailplane_types::lifecycle::{Relocation, RelocationState};
use mailplane_types::{AuditOutcome, AuditTarget, Error, Result, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Step, json_of, record_of, step_of};
use crate::control_plane::ControlPlane;
use crate::control_plane::activity::LOCATION;
use crate::data_plane::{CopyMode, RegionalDataPlane};

/// The steps of a relocation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RelocationStep {
    /// Copies every mailbox to the new region (`copy`).
    Copy,
    /// Changes the tenant's region (`switch`).
    Switch,
    /// Copies what arrived meanwhile and checks the copy (`catch-up`).
    CatchUp,
    /// Destroys the old copy (`erase`).
    Erase,
}

impl RelocationStep {
    const ALL: [RelocationStep; 4] = [
        RelocationStep::Copy,
        RelocationStep::Switch,
        RelocationStep::CatchUp,
        RelocationStep::Erase,
    ];

    const fn as_str(self) -> &'static str {
        match self {
            RelocationStep::Copy => "copy",
            RelocationStep::Switch => "switch",
            RelocationStep::CatchUp => "catch-up",
            RelocationStep::Erase => "erase",
        }
    }
}

impl fmt::Display for RelocationStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Step for RelocationStep {
    fn parse(stored: &str) -> Option<Self> {
        RelocationStep::ALL
            .into_iter()
            .find(|s| s.as_str() == stored)
    }
}

/// What a relocation records as it goes: where from and where to (written by the
/// operation's apply), and what the steps did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RelocationProgress {
    /// The region the tenant leaves.
    pub(crate) from: Option<String>,
    /// The region it moves to.
    pub(crate) to: String,
    /// The mailboxes the last copy or catch-up went through.
    pub(crate) mailboxes: u64,
    /// Messages the new region held of the tenant after the last copy.
    pub(crate) copied_messages: u64,
    /// Messages of the old copy missing at the new region at the last check.
    pub(crate) missing_messages: u64,
    /// Old copies destroyed.
    pub(crate) erased_mailboxes: u64,
    /// When the region changed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) switched_at: Option<OffsetDateTime>,
}

impl RelocationProgress {
    /// A relocation of a tenant from `from` to `to`, not started.
    pub(crate) fn new(from: Option<String>, to: String) -> RelocationProgress {
        RelocationProgress {
            from,
            to,
            mailboxes: 0,
            copied_messages: 0,
            missing_messages: 0,
            erased_mailboxes: 0,
            switched_at: None,
        }
    }
}

/// The first step of a relocation, as the operation's apply stores it.
pub(crate) const FIRST_STEP: RelocationStep = RelocationStep::Copy;

/// The relocation as the API shows it, from its job.
pub(crate) fn relocation_of(job: &JobRow) -> Result<Relocation> {
    let p: RelocationProgress = record_of(&job.progress, "progress", format!("job {}", job.id))?;
    let tenant_id: TenantId = job.subject.into();
    let state = if job.state == JOB_DONE {
        RelocationState::Done
    } else {
        match step_of_row(job)? {
            RelocationStep::Copy => RelocationState::Copying,
            RelocationStep::Switch => RelocationState::Switching,
            RelocationStep::CatchUp => RelocationState::CatchingUp,
            RelocationStep::Erase => RelocationState::Erasing,
        }
    };
    Ok(Relocation {
        tenant_id,
        from: p.from,
        to: p.to,
        state,
        mailboxes: p.mailboxes,
        copied_messages: p.copied_messages,
        missing_messages: p.missing_messages,
        erased_mailboxes: p.erased_mailboxes,
        switched_at: p.switched_at,
        last_error: job.last_error.clone(),
    })
}

fn step_of_row(job: &JobRow) -> Result<RelocationStep> {
    RelocationStep::parse(&job.step).ok_or_else(|| {
        Error::internal(format!(
            "job {} (relocation) is at the unknown step `{}`",
            job.id, job.step
        ))
    })
}

impl ControlPlane {
    /// Runs a step of a relocation (see the module header).
    pub(super) async fn relocation_step(&self, claim: &JobClaim) -> Result<()> {
        let step: RelocationStep = step_of(claim)?;
        let tenant: TenantId = claim.job.subject.into();
        let mut progress: RelocationProgress = record_of(
            &claim.job.progress,
            "progress",
            format!("job {}", claim.job.id),
        )?;
        let planes: &RegionalDataPlane = self
            .data_planes
            .as_deref()
            .ok_or_else(|| Error::Unavailable("no data plane is configured".into()))?;
        let from = planes.plane_of(progress.from.as_deref()).clone();
        let to = planes.for_region(&progress.to).clone();
        let mailboxes: Vec<_> = self
            .store
            .mailbox_addresses(tenant)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let now = self.clock.now();
        let next = |step: RelocationStep, run_after: OffsetDateTime, p: &RelocationProgress| {
            Ok::<_, Error>(JobNext::Step {
                step: step.to_string(),
                run_after,
                progress: json_of(p)?,
            })
        };
        match step {
            RelocationStep::Copy => {
                progress.copied_messages = 0;
                for &m in &mailboxes {
                    from.copy_mailbox_to(tenant, m, to.as_ref(), CopyMode::Backup)
                        .await?;
                    progress.copied_messages += to.usage(tenant, m).await?.messages;
                }
                progress.mailboxes = mailboxes.len() as u64;
                let tx = self.store.begin().await?;
                let next = next(RelocationStep::Switch, now, &progress)?;
                self.advance(tx, claim, next).await
            }
            RelocationStep::Switch => {
                let tx = self.store.begin().await?;
                let t = self.job_tenant(&tx, claim).await?;
                if t.region.as_deref() != Some(progress.to.as_str()) {
                    tx.tenant_relocate(tenant, &progress.to).await?;
                    self.automation_audit(
                        &tx,
                        &t,
                        LOCATION,
                        (AuditTarget::Tenant, tenant.to_string()),
                        AuditOutcome::Relocated,
                        false,
                    )
                    .await?;
                }
                progress.switched_at = Some(now);
                let next = next(
                    RelocationStep::CatchUp,
                    now + self.jobs.relocation_grace,
                    &progress,
                )?;
                self.advance(tx, claim, next).await
            }
            RelocationStep::CatchUp => {
                let mut missing = 0;
                progress.copied_messages = 0;
                for &m in &mailboxes {
                    from.copy_mailbox_to(tenant, m, to.as_ref(), CopyMode::Sync)
                        .await?;
                    progress.copied_messages += to.usage(tenant, m).await?.messages;
                    missing += from.missing_at(tenant, m, to.as_ref()).await?;
                }
                progress.mailboxes = mailboxes.len() as u64;
                progress.missing_messages = missing;
                let tx = self.store.begin().await?;
                let next = if missing == 0 {
                    next(RelocationStep::Erase, now, &progress)?
                } else {
                    // Mail arrived at the old side during the copy: copy again.
                    JobNext::Wait {
                        until: now + time::Duration::seconds(1),
                        progress: json_of(&progress)?,
                    }
                };
                self.advance(tx, claim, next).await
            }
            RelocationStep::Erase => {
                let mut erased = 0;
                for &m in &mailboxes {
                    let missing = from.missing_at(tenant, m, to.as_ref()).await?;
                    if missing > 0 {
                        // Never destroy a message the new region does not hold.
                        progress.missing_messages = missing;
                        let tx = self.store.begin().await?;
                        let next = next(RelocationStep::CatchUp, now, &progress)?;
                        return self.advance(tx, claim, next).await;
                    }
                    from.destroy_mailbox(tenant, m).await?;
                    erased += 1;
                }
                progress.erased_mailboxes = erased;
                progress.missing_messages = 0;
                let tx = self.store.begin().await?;
                self.advance(
                    tx,
                    claim,
                    JobNext::Done {
                        progress: json_of(&progress)?,
                    },
                )
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_reads_back_its_one_spelling() {
        for step in RelocationStep::ALL {
            assert_eq!(RelocationStep::parse(&step.to_string()), Some(step));
        }
        for (stored, step) in [
            ("copy", RelocationStep::Copy),
            ("switch", RelocationStep::Switch),
            ("catch-up", RelocationStep::CatchUp),
            ("erase", RelocationStep::Erase),
        ] {
            assert_eq!(RelocationStep::parse(stored), Some(step));
        }
        assert_eq!(RelocationStep::parse("Copy"), None);
        assert_eq!(RelocationStep::parse("catch_up"), None);
    }
}

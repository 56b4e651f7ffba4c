//! The job that moves a tenant's mail to another region, or to another mail back end of its
//! own region (`tenant.relocate` when the tenant's mail is on another data plane than the one
//! it goes to). Its steps, each safe to run twice:
//!
//! 1. `copy`: every mailbox of the tenant is copied from the old region's data plane to the
//!    new one ([`crate::data_plane::DataPlane::copy_mailbox_to`] in [`CopyMode::Backup`]: dsync between two
//!    Dovecot back ends, export and import otherwise). Mail still arrives at the old region.
//! 2. `switch`: the tenant's region and back end become the new ones, audited, with its
//!    event, in one transaction. From then on Postfix's transport lookup routes the tenant's
//!    mail to the new back end's LMTP.
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
//! is copied too. The back end the tenant leaves is recorded when the move is asked for, or,
//! for a tenant never placed in a region of several back ends, placed by the `copy` step
//! (the first lookup during the move would place it anyway). When the two are the same data
//! plane, the steps copy and erase nothing. Its progress ([`RelocationProgress`]) is what `GET
//! /v1/tenants/{tenant}/relocation` shows.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use mailplane_store::{JOB_DONE, JobClaim, JobNext, JobRow, WriteTx};
use mailplane_types::lifecycle::{Relocation, RelocationState};
use mailplane_types::resources::Tenant;
use mailplane_types::{AuditOutcome, AuditTarget, Error, Result, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Step, json_of, record_of, step_of};
use crate::control_plane::ControlPlane;
use crate::control_plane::activity::LOCATION;
use crate::data_plane::{CopyMode, RegionalDataPlane};
use crate::input::TenantRelocate;

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
    /// The back end it leaves (`None`: its region's only one, or the default data plane).
    #[serde(default)]
    pub(crate) from_backend: Option<String>,
    /// The back end it moves to (`None`: the new region's only one, or the default data
    /// plane).
    #[serde(default)]
    pub(crate) to_backend: Option<String>,
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
    pub(crate) fn new(
        from: (Option<String>, Option<String>),
        to: (String, Option<String>),
    ) -> RelocationProgress {
        RelocationProgress {
            from: from.0,
            to: to.0,
            from_backend: from.1,
            to_backend: to.1,
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
        from_backend: p.from_backend,
        to_backend: p.to_backend,
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
    /// Where `tenant.relocate` moves the tenant, as a relocation not started, and whether its
    /// mail moves (the data planes differ). `input.backend` must name a back end of the
    /// region taking new tenants; with it, the region may be the tenant's own.
    pub(crate) async fn relocation_target(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: &TenantRelocate,
    ) -> Result<(RelocationProgress, bool)> {
        let wanted = input.backend.as_deref().map(str::trim);
        let region = match wanted {
            Some(_) if tenant.region.as_deref() == Some(input.region.trim()) => {
                input.region.trim().to_owned()
            }
            _ => self.relocation(tenant, input)?,
        };
        let Some(planes) = self.data_planes.as_deref().filter(|p| p.has_mail_hosts()) else {
            if wanted.is_some() {
                return Err(Error::invalid(
                    "backend",
                    "this deployment lists no mail back ends (no mail hosts file)",
                ));
            }
            let none = RelocationProgress::new((tenant.region.clone(), None), (region, None));
            return Ok((none, false));
        };
        let backends = planes.backends_of(&region);
        let from_backend = planes.current_backend(tenant.id).await?;
        let to_backend = match wanted {
            Some(name) => {
                let Some(&(_, open)) = backends.iter().find(|(n, _)| *n == name) else {
                    let names: Vec<String> =
                        backends.iter().map(|(n, _)| format!("`{n}`")).collect();
                    return Err(Error::invalid(
                        "backend",
                        if names.is_empty() {
                            format!(
                                "`{name}` is not a mail back end of `{region}`, which has none of its own"
                            )
                        } else {
                            format!(
                                "`{name}` is not a mail back end of `{region}` (it has {})",
                                names.join(", ")
                            )
                        },
                    ));
                };
                if !open {
                    return Err(Error::invalid(
                        "backend",
                        format!("`{name}` is draining: it takes no new tenants"),
                    ));
                }
                if from_backend.as_deref() == Some(name) {
                    return Err(Error::invalid(
                        "backend",
                        format!("the tenant's mail is on `{name}` already"),
                    ));
                }
                Some(name.to_owned())
            }
            None => {
                let names: Vec<String> = backends.iter().map(|(n, _)| n.to_string()).collect();
                let counts: BTreeMap<String, u64> = tx.mail_backend_counts(&names).await?;
                planes.arrival_backend(&region, &counts)?
            }
        };
        let from = planes.plane_at(tenant.region.as_deref(), from_backend.as_deref())?;
        let to = planes.plane_at(Some(&region), to_backend.as_deref())?;
        let moves = !Arc::ptr_eq(from, to);
        Ok((
            RelocationProgress::new((tenant.region.clone(), from_backend), (region, to_backend)),
            moves,
        ))
    }

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
        if step == RelocationStep::Copy
            && progress.from_backend.is_none()
            && progress
                .from
                .as_deref()
                .is_some_and(|r| planes.backends_of(r).len() > 1)
        {
            // A tenant never placed in a region of several back ends: placed now, where the
            // mail that arrives during the move will go.
            progress.from_backend = planes.placement(tenant).await?;
        }
        let from = planes
            .plane_at(progress.from.as_deref(), progress.from_backend.as_deref())?
            .clone();
        let to = planes
            .plane_at(Some(&progress.to), progress.to_backend.as_deref())?
            .clone();
        // The tenant is where it goes already: nothing to copy, and above all nothing to erase.
        let same = Arc::ptr_eq(&from, &to);
        let mailboxes: Vec<_> = if same {
            vec![]
        } else {
            self.store
                .mailbox_addresses(tenant)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
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
                let stored = tx.tenant_mail_backend(tenant).await?;
                if t.region.as_deref() != Some(progress.to.as_str())
                    || stored != progress.to_backend
                {
                    tx.tenant_relocate_to(tenant, &progress.to, progress.to_backend.as_deref())
                        .await?;
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

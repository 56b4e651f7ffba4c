//! The recurring job that applies a tenant's retention policy: one step, run again every
//! sweep interval while the policy deletes mail.

use std::fmt;

use mailplane_store::{JobClaim, JobNext};
use mailplane_types::{Result, TenantId};
use serde::{Deserialize, Serialize};

use super::{Step, json_of, step_of};
use crate::control_plane::ControlPlane;

/// The one step of a retention sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetentionSweepStep {
    /// Applies the policy to every mailbox of the tenant (`sweep`).
    Sweep,
}

impl fmt::Display for RetentionSweepStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetentionSweepStep::Sweep => f.write_str("sweep"),
        }
    }
}

impl Step for RetentionSweepStep {
    fn parse(stored: &str) -> Option<Self> {
        (stored == "sweep").then_some(RetentionSweepStep::Sweep)
    }
}

/// What the last sweep did, kept as the job's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SweepProgress {
    /// The mailboxes it went through.
    pub(crate) last_mailboxes: u64,
    /// The messages it deleted.
    pub(crate) last_deleted_messages: u64,
    /// The mailboxes a legal hold kept it from.
    pub(crate) last_held: u64,
}

impl ControlPlane {
    /// The recurring retention sweep of one tenant.
    pub(super) async fn sweep_step(&self, claim: &JobClaim) -> Result<()> {
        let RetentionSweepStep::Sweep = step_of(claim)?;
        let tenant: TenantId = claim.job.subject.into();
        let report = self.retention_sweep_tenant(tenant).await?;
        let tx = self.store.begin().await?;
        let progress = json_of(&SweepProgress {
            last_mailboxes: report.mailboxes,
            last_deleted_messages: report.deleted_messages,
            last_held: report.held,
        })?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_reads_back_its_one_spelling() {
        let step = RetentionSweepStep::Sweep;
        assert_eq!(RetentionSweepStep::parse(&step.to_string()), Some(step));
        assert_eq!(RetentionSweepStep::parse("sweep"), Some(step));
        assert_eq!(RetentionSweepStep::parse("sweep#1"), None);
    }
}

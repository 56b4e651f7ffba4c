//! The job that removes a deleted mailbox's messages from the data plane. It is committed
//! with the deletion, so that no path (direct, approved, fulfilled) and no crash leaves
//! them behind; it has one step.

use std::fmt;

use mailplane_store::{JobClaim, JobNext};
use mailplane_types::{Error, Result};

use super::{Step, step_of};
use crate::control_plane::ControlPlane;

/// The one step of a mailbox's destruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MailboxDestroyStep {
    /// Removes the messages and the storage (`destroy`).
    Destroy,
}

impl fmt::Display for MailboxDestroyStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailboxDestroyStep::Destroy => f.write_str("destroy"),
        }
    }
}

impl Step for MailboxDestroyStep {
    fn parse(stored: &str) -> Option<Self> {
        (stored == "destroy").then_some(MailboxDestroyStep::Destroy)
    }
}

impl ControlPlane {
    /// Removes a deleted mailbox's messages (idempotent: a folder already gone is done).
    pub(super) async fn mailbox_step(&self, claim: &JobClaim) -> Result<()> {
        let MailboxDestroyStep::Destroy = step_of(claim)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_reads_back_its_one_spelling() {
        let step = MailboxDestroyStep::Destroy;
        assert_eq!(MailboxDestroyStep::parse(&step.to_string()), Some(step));
        assert_eq!(MailboxDestroyStep::parse("destroy"), Some(step));
        assert_eq!(MailboxDestroyStep::parse("Destroy"), None);
    }
}

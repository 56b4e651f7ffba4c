//! The job that destroys a deleted mailbox's data when its undelete window closes, and
//! issues its signed destruction receipt. It is committed with the deletion, due when the
//! window closes, so that no path (direct, approved, fulfilled) and no crash leaves the data
//! behind; it has one step.
//!
//! The step reads the mailbox's state each time it runs: restored, it is done with nothing
//! destroyed; still inside its window, it waits for the window's end; covered by a legal hold
//! (placed during the window), it waits until the hold is released (the release wakes it).
//! Otherwise it removes the mailbox's data from the data plane (idempotent), then, in one
//! transaction, stores the signed receipt, removes the mailbox with its aliases and
//! memberships, and records the destruction. A mailbox already gone (a job of an earlier
//! version, which deleted the row at once) only has its data removed.

use std::fmt;

use mailplane_store::{JobClaim, JobNext, StoredReceipt};
use mailplane_types::party::Party;
use mailplane_types::resources::MailboxStatus;
use mailplane_types::{AuditOutcome, AuditTarget, Error, MailboxId, Result};

use super::{Step, step_of};
use crate::certificate::receipt::{RECEIPT_VERSION, ReceiptBody};
use crate::certificate::{CertifiedMailbox, CertifiedParty};
use crate::control_plane::{AUTOMATION_SUBJECT, ControlPlane, activity};

/// The one step of a mailbox's destruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MailboxDestroyStep {
    /// Waits for the window's end and the holds' release, then destroys (`destroy`).
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
    /// Destroys a deleted mailbox's data once its window closed and no hold covers it, and
    /// issues its receipt (safe to run twice: every check is read again, the data plane's
    /// removal is idempotent, and the rest commits at once).
    pub(super) async fn mailbox_step(&self, claim: &JobClaim) -> Result<()> {
        let MailboxDestroyStep::Destroy = step_of(claim)?;
        let tenant = claim
            .job
            .tenant_id
            .ok_or_else(|| Error::internal("a mailbox job names no tenant"))?;
        let id: MailboxId = claim.job.subject.into();
        let now = self.clock.now();
        let done = JobNext::Done {
            progress: claim.job.progress.clone(),
        };
        let wait = |until| JobNext::Wait {
            until,
            progress: claim.job.progress.clone(),
        };
        let Some(m) = self.store.mailbox_view(tenant, id).await? else {
            // Gone from the directory already: only its data may be left.
            if let Some(dp) = &self.data_plane {
                dp.destroy_mailbox(tenant, id).await?;
            }
            let tx = self.store.begin().await?;
            return self.advance(tx, claim, done).await;
        };
        let deletion = self.store.mailbox_deletion(tenant, id).await?;
        let purge_after = match (&deletion, m.status) {
            (Some(d), MailboxStatus::Deleted) => d.purge_after,
            _ => None,
        };
        let Some(purge_after) = purge_after else {
            // Restored, or inactive under a hold (whose release schedules the job again).
            let tx = self.store.begin().await?;
            return self.advance(tx, claim, done).await;
        };
        let deletion = deletion.expect("a deleted mailbox's deletion was read above");
        if now < purge_after {
            let tx = self.store.begin().await?;
            return self.advance(tx, claim, wait(purge_after)).await;
        }
        {
            let tx = self.store.begin().await?;
            if tx.hold_covering(tenant, Some(id)).await?.is_some() {
                // A hold placed during the window keeps the data; its release wakes the job.
                return self.advance(tx, claim, wait(now + self.jobs.recheck)).await;
            }
        }
        let settings = self.lifecycle()?;
        let (usage, store) = match &self.data_plane {
            Some(dp) => {
                let store = dp.describe(tenant).await?;
                (dp.destroy_mailbox(tenant, id).await?, store)
            }
            None => (Default::default(), None),
        };
        let method = match store {
            Some(s) => format!(
                "deleted from {}: the mailbox's messages and storage removed. Not a cryptographic erase: the tenant's data key, shared by its other mailboxes, was kept",
                s.name
            ),
            None => "deleted: no data plane held the mailbox's messages".to_string(),
        };
        let destroyed_at = self.clock.now();
        let body = ReceiptBody {
            version: RECEIPT_VERSION,
            receipt_id: uuid::Uuid::now_v7(),
            issuer: settings.issuer.clone(),
            tenant_id: tenant.uuid(),
            mailbox: CertifiedMailbox {
                id: id.uuid(),
                address: m.address.to_string(),
            },
            objects: usage.messages,
            bytes: usage.bytes,
            method,
            deleted_at: deletion.deleted_at,
            window_closed_at: purge_after,
            destroyed_at,
            issued_at: destroyed_at,
            responsible: CertifiedParty {
                party: Party::Provider.as_str().into(),
                subject: AUTOMATION_SUBJECT.into(),
            },
        };
        let receipt = settings.signer.sign_receipt(body)?;
        let document = serde_json::to_string(&receipt)
            .map_err(|e| Error::internal(format!("serialising a receipt: {e}")))?;
        let tx = self.store.begin().await?;
        let t = self.job_tenant(&tx, claim).await?;
        tx.mailbox_receipt_insert(&StoredReceipt {
            id: receipt.receipt.receipt_id,
            tenant_id: tenant,
            mailbox_id: id,
            address: m.address.to_string(),
            issued_at: destroyed_at,
            document,
        })
        .await?;
        tx.mailbox_delete(tenant, id).await?;
        self.automation_audit(
            &tx,
            &t,
            activity::DATA_DESTROY,
            (AuditTarget::Mailbox, id.to_string()),
            AuditOutcome::Purged,
            false,
        )
        .await?;
        tracing::info!(%tenant, mailbox = %id, receipt = %receipt.receipt.receipt_id, "destroyed a deleted mailbox's data at the end of its undelete window");
        self.advance(tx, claim, done).await
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

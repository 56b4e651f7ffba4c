//! The job that destroys a deleted mailbox's data when its undelete window closes, and
//! issues its signed destruction receipt. It is committed with the deletion, due when the
//! window closes, so that no path (direct, approved, fulfilled) and no crash leaves the data
//! behind.
//!
//! Two steps, each reading the mailbox's state again when it runs. `window`: restored, the
//! job is done with nothing destroyed; still inside its window, it waits for the window's
//! end; covered by a legal hold (placed during the window), it waits until the hold is
//! released (the release wakes it); otherwise it counts what the mailbox holds, for the
//! receipt, and moves on. `destroy`: under a hold it waits again (each hold check is made
//! behind the tenant's hold fence, the lock a hold's placement takes, so a hold committed
//! before the check is always seen); otherwise it removes the
//! mailbox's data from the data plane (idempotent), then, in one transaction, stores the
//! signed receipt with the counts of the first step, removes the mailbox with its aliases
//! and memberships, and records the destruction. A job of an earlier version, stored at
//! `destroy` after the mailbox row was deleted at once, only has its data removed.

use std::fmt;

use serde::{Deserialize, Serialize};

use mailplane_store::{JobClaim, JobNext, StoredReceipt};
use mailplane_types::party::Party;
use mailplane_types::resources::MailboxStatus;
use mailplane_types::{AuditOutcome, AuditTarget, Error, MailboxId, Result};

use super::{Step, json_of, record_of, step_of};
use crate::certificate::receipt::{RECEIPT_VERSION, ReceiptBody};
use crate::certificate::{CertifiedMailbox, CertifiedParty};
use crate::control_plane::{AUTOMATION_SUBJECT, ControlPlane, activity};

/// The steps of a mailbox's destruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MailboxDestroyStep {
    /// Waits for the window's end and the holds' release, then counts (`window`).
    Window,
    /// Destroys the data and issues the receipt (`destroy`).
    Destroy,
}

impl fmt::Display for MailboxDestroyStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MailboxDestroyStep::Window => "window",
            MailboxDestroyStep::Destroy => "destroy",
        })
    }
}

impl Step for MailboxDestroyStep {
    fn parse(stored: &str) -> Option<Self> {
        match stored {
            "window" => Some(MailboxDestroyStep::Window),
            "destroy" => Some(MailboxDestroyStep::Destroy),
            _ => None,
        }
    }
}

/// What the mailbox held when its window closed, as the receipt states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Counted {
    /// Its messages.
    objects: u64,
    /// Their size in bytes.
    bytes: u64,
}

impl ControlPlane {
    /// Runs a step of a deleted mailbox's destruction (each safe to run twice: every check
    /// is read again, the count is of data not yet removed, the data plane's removal is
    /// idempotent, and the rest commits at once).
    pub(super) async fn mailbox_step(&self, claim: &JobClaim) -> Result<()> {
        let step: MailboxDestroyStep = step_of(claim)?;
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
        let deletion = match self.store.mailbox_deletion(tenant, id).await? {
            Some(d) if m.status == MailboxStatus::Deleted => d,
            // Restored, or inactive under a hold (whose release schedules the job again).
            _ => {
                let tx = self.store.begin().await?;
                return self.advance(tx, claim, done).await;
            }
        };
        let Some(purge_after) = deletion.purge_after else {
            return Err(Error::internal(format!(
                "deleted mailbox {id} has no end to its window"
            )));
        };
        if now < purge_after {
            let tx = self.store.begin().await?;
            return self.advance(tx, claim, wait(purge_after)).await;
        }
        let tx = self.store.begin().await?;
        // Behind the tenant's hold fence, which a hold's placement takes first: a placement
        // in flight commits before this check reads, and one that starts later is ordered
        // after the destruction this check lets go ahead.
        tx.hold_fence(tenant).await?;
        if tx.hold_covering(tenant, Some(id)).await?.is_some() {
            // A hold placed during the window keeps the data; its release wakes the job.
            return self.advance(tx, claim, wait(now + self.jobs.recheck)).await;
        }
        drop(tx);
        if step == MailboxDestroyStep::Window {
            let usage = match &self.data_plane {
                Some(dp) => dp.usage(tenant, id).await?,
                None => Default::default(),
            };
            let counted = Counted {
                objects: usage.messages,
                bytes: usage.bytes,
            };
            let tx = self.store.begin().await?;
            return self
                .advance(
                    tx,
                    claim,
                    JobNext::Step {
                        step: MailboxDestroyStep::Destroy.to_string(),
                        run_after: now,
                        progress: json_of(&counted)?,
                    },
                )
                .await;
        }
        let counted: Counted = record_of(&claim.job.progress, "count", format!("mailbox {id}"))?;
        let settings = self.lifecycle()?;
        let store = match &self.data_plane {
            Some(dp) => {
                let store = dp.describe(tenant).await?;
                dp.destroy_mailbox(tenant, id).await?;
                store
            }
            None => None,
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
            objects: counted.objects,
            bytes: counted.bytes,
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
    fn the_steps_read_back_their_one_spelling() {
        for step in [MailboxDestroyStep::Window, MailboxDestroyStep::Destroy] {
            assert_eq!(MailboxDestroyStep::parse(&step.to_string()), Some(step));
        }
        assert_eq!(
            MailboxDestroyStep::parse("destroy"),
            Some(MailboxDestroyStep::Destroy)
        );
        assert_eq!(MailboxDestroyStep::parse("Destroy"), None);
    }
}

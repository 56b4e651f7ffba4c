//! The undelete window and inactive mailboxes: what deleting a mailbox does, restoring it,
//! and what releasing a legal hold does to the mailboxes it kept.
//!
//! Deleting a mailbox no longer destroys it. Outside any legal hold it becomes `deleted` for
//! the profile's `undelete_window`: it signs nobody in, the mail stack treats its address as
//! unknown, its seats are freed, and its address, aliases, group memberships and data are
//! kept, so that the directory's administrator can restore all of them (`mailbox.restore`,
//! under `directory.administer` like the deletion). A durable job, committed with the
//! deletion and due when the window closes, destroys the data and issues a signed receipt
//! (`jobs/mailbox_destroy.rs`). Under a legal hold (on the mailbox or its tenant), deleting
//! makes it `inactive` instead: the same effects, but no window runs until the last hold
//! on it is released, in the release's own transaction. A hold placed during the window
//! makes the job wait: holds outrank every delete path.

use mailplane_store::WriteTx;
use mailplane_types::resources::{Mailbox, MailboxStatus, Tenant};
use mailplane_types::{AuditOutcome, AuditTarget, Error, MailboxId, Result, TenantId};
use serde_json::json;

use super::workflow::{Applied, Made};
use super::{ControlPlane, Operation, Outcome};
use crate::Actor;
use crate::certificate::receipt::Receipt;

impl ControlPlane {
    /// Restores a deleted or inactive mailbox inside its undelete window, with its address,
    /// data, aliases, group memberships and seats (`directory.administer`).
    pub async fn mailbox_restore(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<Outcome<Mailbox>> {
        self.run(
            actor,
            tenant,
            Operation::MailboxRestore { mailbox_id: id },
            None,
        )
        .await
    }

    /// The signed destruction receipt of a mailbox whose undelete window closed
    /// (`directory.administer`, read).
    pub async fn mailbox_receipt(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<Receipt> {
        self.tenant_for_read(actor, tenant, super::activity::DIRECTORY)
            .await?;
        let stored = self
            .store
            .mailbox_receipt(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("receipt", id))?;
        serde_json::from_str(&stored.document).map_err(|e| {
            Error::internal(format!(
                "the stored receipt {} is unreadable: {e}",
                stored.id
            ))
        })
    }

    /// Applies `mailbox.delete`: the mailbox becomes `deleted` for the profile's undelete
    /// window, or `inactive` while a legal hold covers it.
    pub(super) async fn mailbox_delete_apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
        mailbox_id: MailboxId,
    ) -> Result<Made> {
        let tid = tenant.id;
        let m = tx
            .mailbox_view(tid, mailbox_id)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox_id))?;
        if m.status.is_deleted() {
            return Err(Error::conflict(
                None,
                format!(
                    "mailbox {} ({}) is {} already",
                    m.id,
                    m.address,
                    m.status.as_str()
                ),
            ));
        }
        let now = self.clock.now();
        let held = tx.hold_covering(tid, Some(mailbox_id)).await?.is_some();
        let purge_after = if held {
            None
        } else {
            Some(now + self.undelete_window(tenant)?)
        };
        tx.mailbox_mark_deleted(tid, mailbox_id, m.status, now, actor.subject(), purge_after)
            .await?;
        if let Some(at) = purge_after {
            self.schedule_purge(tx, tid, mailbox_id, at).await?;
        }
        // Sessions opened before the deletion are ended too, whichever path deleted it.
        let ending = super::jobs::SESSION_END_JOB;
        tx.job_insert(
            ending,
            mailbox_id.uuid(),
            Some(tid),
            "end",
            now,
            &json!({}),
            now,
        )
        .await?;
        tx.job_wake(ending, mailbox_id.uuid(), now).await?;
        Ok(Made::new(
            Applied::Deleted,
            AuditTarget::Mailbox,
            mailbox_id,
            if held {
                AuditOutcome::Inactivated
            } else {
                AuditOutcome::Deleted
            },
        ))
    }

    /// Applies `mailbox.restore`: inside the window, the mailbox takes back its status and
    /// its seats; after it, the answer names the receipt.
    pub(super) async fn mailbox_restore_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        mailbox_id: MailboxId,
    ) -> Result<Made> {
        let tid = tenant.id;
        let Some(m) = tx.mailbox_view(tid, mailbox_id).await? else {
            if let Some(r) = tx.mailbox_receipt(tid, mailbox_id).await? {
                return Err(Error::conflict(
                    None,
                    format!(
                        "the undelete window of mailbox {mailbox_id} ({}) closed and its data was destroyed on {}: receipt {} (GET /v1/tenants/{tid}/mailboxes/{mailbox_id}/receipt)",
                        r.address,
                        r.issued_at.date(),
                        r.id
                    ),
                ));
            }
            return Err(Error::not_found("mailbox", mailbox_id));
        };
        let Some(d) = tx.mailbox_deletion(tid, mailbox_id).await? else {
            return Err(Error::conflict(
                None,
                format!(
                    "mailbox {} ({}) is not deleted: only a deleted or inactive mailbox is restored",
                    m.id, m.address
                ),
            ));
        };
        let now = self.clock.now();
        if let Some(at) = d.purge_after
            && now >= at
        {
            if let Some(hold) = tx.hold_covering(tid, Some(mailbox_id)).await? {
                return Err(Error::conflict(
                    None,
                    format!(
                        "the undelete window of mailbox {} ({}) closed at {at}: legal hold {} keeps its data until it is released, and then the data is destroyed and a receipt issued",
                        m.id, m.address, hold.id
                    ),
                ));
            }
            return Err(Error::conflict(
                None,
                format!(
                    "the undelete window of mailbox {} ({}) closed at {at}: its data is being destroyed and a receipt will be issued",
                    m.id, m.address
                ),
            ));
        }
        for sku in &d.licences {
            self.assign_licence(tx, tid, mailbox_id, sku)
                .await
                .map_err(|e| seat_needed(e, &m, sku))?;
        }
        tx.mailbox_update(
            mailbox_id,
            mailplane_store::MailboxChanges {
                status: Some(d.prior_status),
                ..Default::default()
            },
        )
        .await?;
        if d.prior_status == MailboxStatus::Enabled {
            self.license_for_enabling(tx, tenant, mailbox_id)
                .await
                .map_err(|e| seat_needed(e, &m, "the offer's licence"))?;
        }
        tx.mailbox_deletion_remove(mailbox_id).await?;
        let restored = tx
            .mailbox_view(tid, mailbox_id)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox_id))?;
        Ok(Made::new(
            Applied::Mailbox(restored),
            AuditTarget::Mailbox,
            mailbox_id,
            AuditOutcome::Restored,
        ))
    }

    /// After a hold of the tenant was released in `tx`: each inactive mailbox no hold covers
    /// any more enters its undelete window, and each deleted mailbox's job checks again at
    /// once (its window may have closed while the hold kept its data).
    pub(super) async fn holds_released(&self, tx: &WriteTx, tenant: &Tenant) -> Result<()> {
        let tid = tenant.id;
        let now = self.clock.now();
        for id in tx.mailboxes_of_status(tid, MailboxStatus::Inactive).await? {
            if tx.hold_covering(tid, Some(id)).await?.is_none() {
                let at = now + self.undelete_window(tenant)?;
                tx.mailbox_window_open(id, at).await?;
                self.schedule_purge(tx, tid, id, at).await?;
            }
        }
        for id in tx.mailboxes_of_status(tid, MailboxStatus::Deleted).await? {
            tx.job_wake(super::jobs::MAILBOX_JOB, id.uuid(), now)
                .await?;
        }
        Ok(())
    }

    /// Refuses an address a deleted or inactive mailbox still reserves, naming the mailbox
    /// and when the address can be reused or the mailbox restored.
    pub(super) async fn address_not_reserved(
        &self,
        tx: &WriteTx,
        field: &str,
        address: &str,
    ) -> Result<()> {
        let Some(d) = tx.address_reserved(address).await? else {
            return Ok(());
        };
        let when = match d.purge_after {
            Some(at) => format!(
                "it can be restored until {at}, and the address reused after that"
            ),
            None => "it is kept under a legal hold; the address is reserved until every hold on it is released and its undelete window closes".to_string(),
        };
        Err(Error::conflict(
            Some(field),
            format!(
                "the address {address} is reserved by the deleted mailbox {}: {when}",
                d.mailbox_id
            ),
        ))
    }

    /// Refuses a change that would give a deleted or inactive mailbox something (a licence):
    /// it is restored first.
    pub(super) async fn not_deleted(
        &self,
        tx: &WriteTx,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<()> {
        match tx.mailbox_view(tenant, id).await? {
            Some(m) if m.status.is_deleted() => Err(Error::conflict(
                None,
                format!(
                    "mailbox {} ({}) is {}: restore it first (POST /v1/tenants/{tenant}/mailboxes/{id}/restore)",
                    m.id,
                    m.address,
                    m.status.as_str()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The tenant's profile's undelete window.
    fn undelete_window(&self, tenant: &Tenant) -> Result<time::Duration> {
        let w = self.profile_of(tenant)?.undelete_window;
        time::Duration::try_from(w)
            .map_err(|e| Error::internal(format!("an undelete window of {w:?}: {e}")))
    }

    /// Commits, with the change in `tx`, the job that destroys a deleted mailbox's data when
    /// its window closes at `at`; a pending job of the mailbox (from an earlier deletion) is
    /// made due then.
    async fn schedule_purge(
        &self,
        tx: &WriteTx,
        tenant: TenantId,
        id: MailboxId,
        at: time::OffsetDateTime,
    ) -> Result<()> {
        tx.job_insert(
            super::jobs::MAILBOX_JOB,
            id.uuid(),
            Some(tenant),
            "window",
            at,
            &serde_json::json!({}),
            self.clock.now(),
        )
        .await?;
        tx.job_wake(super::jobs::MAILBOX_JOB, id.uuid(), at).await
    }
}

/// A refused seat, said as what restoring the mailbox needs.
fn seat_needed(e: Error, m: &Mailbox, sku: &str) -> Error {
    match e {
        Error::Conflict { message, .. } => Error::conflict(
            Some("seats"),
            format!(
                "restoring {} needs a free seat of {sku}: {message}",
                m.address
            ),
        ),
        other => other,
    }
}

//! The mailbox's operations (`mailbox.create`, `mailbox.update`, `mailbox.delete`): their
//! input rules and the changes they make, which the registry's dispatchers call.
//!
//! This file exists only because `mailboxes.rs` was being split out of `control_plane.rs`
//! at the same time; after the merge, its contents fold into `mailboxes.rs`.

use mailplane_store::{MailboxChanges, NewMailbox, WriteTx};
use mailplane_types::resources::{MailboxKind, MailboxStatus, Tenant};
use mailplane_types::{Error, LocalPart, MailboxId, Result};

use super::dispatch::Checked;
use super::workflow::{Applied, Made};
use super::{ControlPlane, catalogue, directory};
use crate::input::{MailboxCreate, MailboxCreateChecked, MailboxUpdate, Problems};

/// Checks `mailbox.create`'s fields: the local part parses, once, the display name and a
/// given quota keep their rules. Always a value: its change reports these problems with
/// those that depend on the tenant, so the local part is `None` when `p` names it.
pub(super) fn mailbox_create_check<'a>(
    p: &mut Problems,
    input: &'a MailboxCreate,
) -> Option<Checked<'a>> {
    let local_part = LocalPart::parse(&input.local_part)
        .map_err(|rule| p.add("local_part", rule))
        .ok();
    let display_name = p.name("display_name", &input.display_name);
    if let Some(q) = input.quota_bytes {
        p.quota("quota_bytes", q);
    }
    Some(Checked::MailboxCreate(MailboxCreateChecked {
        local_part,
        domain_id: input.domain_id,
        display_name,
        quota_bytes: input.quota_bytes,
        status: input.status,
        kind: input.kind,
    }))
}

/// Checks `mailbox.update`: at least one change, each keeping its rule.
pub(super) fn mailbox_update_check<'a>(
    p: &mut Problems,
    mailbox_id: MailboxId,
    changes: &'a MailboxUpdate,
) -> Option<Checked<'a>> {
    if let Some(n) = &changes.display_name {
        p.name("display_name", n);
    }
    if let Some(q) = changes.quota_bytes {
        p.quota("quota_bytes", q);
    }
    if changes.display_name.is_none() && changes.quota_bytes.is_none() && changes.status.is_none() {
        p.add(
            "display_name",
            "at least one of `display_name`, `quota_bytes` and `status` must be given",
        );
    }
    Some(Checked::MailboxUpdate(mailbox_id, changes))
}

impl ControlPlane {
    /// Applies `mailbox.create`, finishing `p`, the list of its field problems, with those
    /// that depend on the tenant.
    pub(super) async fn mailbox_create_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: MailboxCreateChecked,
        mut p: Problems,
    ) -> Result<Made> {
        let tid = tenant.id;
        // Every field problem at once, the domain's existence included.
        let (default_quota, _) = catalogue::quota_bounds(self.catalogue(), tenant);
        let quota_bytes = match input.quota_bytes {
            Some(q) => q,
            None => p.quota("quota_bytes", default_quota),
        };
        catalogue::offer_quota(&mut p, "quota_bytes", self.catalogue(), tenant, quota_bytes);
        let domain = directory::address_domain(tx, &mut p, tid, input.domain_id).await?;
        p.finish()?;
        let (Some(local_part), Some(domain)) = (input.local_part, domain) else {
            unreachable!("problems were reported above")
        };
        let m = tx
            .mailbox_insert(NewMailbox {
                tenant_id: tid,
                domain,
                local_part,
                display_name: input.display_name,
                quota_bytes,
                status: input.status.unwrap_or(MailboxStatus::Enabled),
                kind: input.kind.unwrap_or(MailboxKind::User),
            })
            .await?;
        if m.status == MailboxStatus::Enabled && m.kind == MailboxKind::User {
            self.license_for_enabling(tx, tenant, m.id).await?;
        }
        let id = m.id;
        Ok(Made::new(Applied::Mailbox(m), "mailbox", id, "created"))
    }

    /// Applies `mailbox.update`.
    pub(super) async fn mailbox_update_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        mailbox_id: MailboxId,
        changes: &MailboxUpdate,
    ) -> Result<Made> {
        let tid = tenant.id;
        tx.mailbox_get(tid, mailbox_id)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox_id))?;
        if let Some(q) = changes.quota_bytes {
            let mut p = Problems::default();
            catalogue::offer_quota(&mut p, "quota_bytes", self.catalogue(), tenant, q);
            p.finish()?;
        }
        if changes.status == Some(MailboxStatus::Enabled) {
            self.license_for_enabling(tx, tenant, mailbox_id).await?;
        }
        let m = tx
            .mailbox_update(
                mailbox_id,
                MailboxChanges {
                    display_name: changes
                        .display_name
                        .as_deref()
                        .map(|n| n.trim().to_string()),
                    quota_bytes: changes.quota_bytes,
                    status: changes.status,
                },
            )
            .await?;
        Ok(Made::new(
            Applied::Mailbox(m),
            "mailbox",
            mailbox_id,
            "updated",
        ))
    }

    /// Applies `mailbox.delete`.
    pub(super) async fn mailbox_delete_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        mailbox_id: MailboxId,
    ) -> Result<Made> {
        let tid = tenant.id;
        tx.mailbox_get(tid, mailbox_id)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox_id))?;
        self.not_held(tx, tid, Some(mailbox_id), "deleting the mailbox")
            .await?;
        tx.mailbox_delete(tid, mailbox_id).await?;
        // Its messages go from the data plane by a durable job, committed with the
        // deletion, so that no path (direct, approved, fulfilled) and no crash
        // leaves them behind.
        let now = self.clock.now();
        tx.job_insert(
            super::jobs::MAILBOX_JOB,
            mailbox_id.uuid(),
            Some(tid),
            "destroy",
            now,
            &serde_json::json!({}),
            now,
        )
        .await?;
        Ok(Made::new(
            Applied::Deleted,
            "mailbox",
            mailbox_id,
            "deleted",
        ))
    }
}

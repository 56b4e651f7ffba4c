//! A mailbox's copy to another data plane, for a tenant's relocation: to another Dovecot back
//! end by dsync over its doveadm TCP listener (doveadm `backup` or `sync`, run by this back
//! end with the shared `doveadm_password`), which keeps guids, received dates, flags and
//! the encrypted keys; to any other data plane by the trait's export and import. A copy
//! between Dovecots is checked by guid, any other by digest.

use std::collections::HashSet;

use serde_json::json;

use mailplane_types::{MailboxId, Result, TenantId};

use super::{DovecotDataPlane, dovecot_user};
use crate::data_plane::{CopyMode, DataPlane, Usage, copy_by_export, missing_by_digest};

impl DovecotDataPlane {
    /// Copies the mailbox to the same mailbox in `dest`; returns what `dest` gained.
    pub(super) async fn dsync_to(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        dest: &dyn DataPlane,
        mode: CopyMode,
    ) -> Result<Usage> {
        let Some(address) = dest.dsync_address() else {
            return copy_by_export(self, tenant, mailbox, dest).await;
        };
        // The destination records the mailbox (so that its end finds it) and has its key
        // pair; dsync then brings the source's keys, which become the active ones.
        dest.provision_mailbox(tenant, mailbox).await?;
        let before = dest.usage(tenant, mailbox).await?;
        let command = match mode {
            CopyMode::Backup => "backup",
            CopyMode::Sync => "sync",
        };
        self.doveadm
            .rows(
                command,
                json!({
                    "user": dovecot_user(tenant, mailbox),
                    "destination": [format!("tcp:{address}")],
                }),
            )
            .await?;
        let after = dest.usage(tenant, mailbox).await?;
        Ok(Usage {
            messages: after.messages.saturating_sub(before.messages),
            bytes: after.bytes.saturating_sub(before.bytes),
        })
    }

    /// How many of the mailbox's messages `dest` lacks.
    pub(super) async fn missing_there(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        dest: &dyn DataPlane,
    ) -> Result<u64> {
        if dest.dsync_address().is_none() {
            return Ok(missing_by_digest(self, tenant, mailbox, dest).await?.len() as u64);
        }
        // dsync keeps each message's guid: every guid here must be there.
        let there: HashSet<uuid::Uuid> = dest
            .message_ids(tenant, mailbox)
            .await?
            .into_iter()
            .collect();
        Ok(self
            .message_ids(tenant, mailbox)
            .await?
            .iter()
            .filter(|id| !there.contains(id))
            .count() as u64)
    }
}

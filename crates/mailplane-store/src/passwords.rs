//! Mailbox passwords (their hashes and history) and tenants' password policies: their reads
//! and their writes.
//!
//! Only hashes are stored; the history keeps the last hashes of a mailbox so that the
//! control plane can refuse a password used lately.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::resources::Mailbox;
use mailplane_types::{Error, MailboxId, Result, TenantId};

use crate::entity::{mailbox, mailbox_password, tenant};
use crate::{DataStore, WriteTx, db_error, now, rows};

impl DataStore {
    /// The newest password hashes of a mailbox, newest first, at most `depth`.
    pub async fn password_history(&self, id: MailboxId, depth: u64) -> Result<Vec<String>> {
        if depth == 0 {
            return Ok(vec![]);
        }
        Ok(mailbox_password::Entity::find()
            .filter(mailbox_password::Column::MailboxId.eq(id.uuid()))
            .order_by_desc(mailbox_password::Column::Id)
            .paginate(self.reader(), depth)
            .fetch_page(0)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|p| p.hash)
            .collect())
    }

    /// A tenant's stored password policy (JSON), if one was set.
    pub async fn password_policy_view(&self, tenant: TenantId) -> Result<Option<String>> {
        Ok(tenant::Entity::find_by_id(tenant.uuid())
            .one(self.reader())
            .await
            .map_err(db_error)?
            .and_then(|t| t.password_policy))
    }
}

impl WriteTx {
    /// Stores a new password hash for a mailbox and keeps the newest `keep` hashes (at
    /// least the current one).
    pub async fn password_set(
        &self,
        id: MailboxId,
        hash: String,
        at: OffsetDateTime,
        keep: u64,
    ) -> Result<Mailbox> {
        mailbox_password::ActiveModel {
            id: Set(Uuid::now_v7()),
            mailbox_id: Set(id.uuid()),
            hash: Set(hash),
            set_at: Set(at),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        let keep = keep.max(1);
        let old: Vec<Uuid> = mailbox_password::Entity::find()
            .filter(mailbox_password::Column::MailboxId.eq(id.uuid()))
            .order_by_desc(mailbox_password::Column::Id)
            .all(&self.tx)
            .await
            .map_err(db_error)?
            .into_iter()
            .skip(keep as usize)
            .map(|p| p.id)
            .collect();
        if !old.is_empty() {
            mailbox_password::Entity::delete_many()
                .filter(mailbox_password::Column::Id.is_in(old))
                .exec(&self.tx)
                .await
                .map_err(db_error)?;
        }
        let row = mailbox::ActiveModel {
            id: Set(id.uuid()),
            password_set_at: Set(Some(at)),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&self.tx)
        .await
        .map_err(db_error)?;
        rows::mailbox(row)
    }

    /// Stores a tenant's password policy (JSON).
    pub async fn password_policy_set(&self, tenant: TenantId, policy: &str) -> Result<()> {
        tenant::ActiveModel {
            id: Set(tenant.uuid()),
            password_policy: Set(Some(policy.to_string())),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&self.tx)
        .await
        .map_err(|e| match e {
            DbErr::RecordNotUpdated => Error::not_found("tenant", tenant),
            other => db_error(other),
        })?;
        Ok(())
    }
}

//! Persistence of retention policies, legal holds and retention runs.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::retention::{LegalHold, RetentionPolicy, RetentionRun};
use mailplane_types::{Error, HoldId, MailboxId, Party, Result, TenantId};

use crate::entity::{legal_hold, retention_policy, retention_run};
use crate::{DataStore, WriteTx, db_error};

fn days(v: Option<i32>) -> Option<u32> {
    v.and_then(|d| u32::try_from(d).ok())
}

fn policy_row(r: retention_policy::Model) -> RetentionPolicy {
    RetentionPolicy {
        tenant_id: r.tenant_id.into(),
        delete_after_days: days(r.delete_after_days),
        keep_at_least_days: days(r.keep_at_least_days),
        locked: r.locked,
        updated_at: r.updated_at,
    }
}

fn hold_row(r: legal_hold::Model) -> Result<LegalHold> {
    Ok(LegalHold {
        id: r.id.into(),
        tenant_id: r.tenant_id.into(),
        mailbox_id: r.mailbox_id.map(Into::into),
        reason: r.reason,
        placed_by: r.placed_by,
        placed_by_party: r
            .placed_by_party
            .parse()
            .map_err(|e| Error::internal(format!("hold {}: {e}", r.id)))?,
        placed_at: r.placed_at,
        active: r.released_at.is_none(),
        released_at: r.released_at,
        released_by: r.released_by,
        release_reason: r.release_reason,
    })
}

fn run_row(r: retention_run::Model) -> RetentionRun {
    RetentionRun {
        id: r.id.into(),
        tenant_id: r.tenant_id.into(),
        mailbox_id: r.mailbox_id.into(),
        at: r.at,
        deleted_messages: u64::try_from(r.deleted_messages).unwrap_or(0),
        deleted_bytes: u64::try_from(r.deleted_bytes).unwrap_or(0),
        blocked_by: r.blocked_by.map(Into::into),
    }
}

impl WriteTx {
    /// The tenant's retention policy, if one is set.
    pub async fn retention_view(&self, tenant: TenantId) -> Result<Option<RetentionPolicy>> {
        Ok(retention_policy::Entity::find_by_id(tenant.uuid())
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .map(policy_row))
    }

    /// Sets the tenant's retention policy (the caller checked the lock).
    pub async fn retention_set(
        &self,
        tenant: TenantId,
        delete_after_days: Option<u32>,
        keep_at_least_days: Option<u32>,
        locked: bool,
        at: OffsetDateTime,
    ) -> Result<RetentionPolicy> {
        let exists = self.retention_view(tenant).await?.is_some();
        let am = retention_policy::ActiveModel {
            tenant_id: Set(tenant.uuid()),
            delete_after_days: Set(delete_after_days.map(|d| d as i32)),
            keep_at_least_days: Set(keep_at_least_days.map(|d| d as i32)),
            locked: Set(locked),
            updated_at: Set(at),
        };
        let row = if exists {
            am.update(&self.tx).await
        } else {
            am.insert(&self.tx).await
        }
        .map_err(db_error)?;
        Ok(policy_row(row))
    }

    /// Removes the tenant's retention policy (the caller checked it is not locked).
    pub async fn retention_remove(&self, tenant: TenantId) -> Result<()> {
        retention_policy::Entity::delete_by_id(tenant.uuid())
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Takes the tenant's hold fence: a hold is placed, and a deletion past which a hold can
    /// no longer save the data is decided, one after the other, so a hold committed first
    /// is always seen by the deletion's check.
    pub async fn hold_fence(&self, tenant: TenantId) -> Result<()> {
        self.advisory_lock(&format!("mailplane: legal holds of {tenant}"))
            .await
    }

    /// Places a hold, behind the tenant's hold fence.
    pub async fn hold_insert(
        &self,
        tenant: TenantId,
        mailbox: Option<MailboxId>,
        reason: &str,
        placed_by: (&str, Party),
        at: OffsetDateTime,
    ) -> Result<LegalHold> {
        self.hold_fence(tenant).await?;
        let row = legal_hold::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.uuid()),
            mailbox_id: Set(mailbox.map(MailboxId::uuid)),
            reason: Set(reason.to_string()),
            placed_by: Set(placed_by.0.to_string()),
            placed_by_party: Set(placed_by.1.to_string()),
            placed_at: Set(at),
            released_at: Set(None),
            released_by: Set(None),
            release_reason: Set(None),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        hold_row(row)
    }

    /// Releases an active hold of the tenant, at most once.
    pub async fn hold_release(
        &self,
        tenant: TenantId,
        id: HoldId,
        by: &str,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<LegalHold> {
        let res = legal_hold::Entity::update_many()
            .col_expr(legal_hold::Column::ReleasedAt, Expr::value(at))
            .col_expr(legal_hold::Column::ReleasedBy, Expr::value(by.to_string()))
            .col_expr(
                legal_hold::Column::ReleaseReason,
                Expr::value(reason.to_string()),
            )
            .filter(legal_hold::Column::Id.eq(id.uuid()))
            .filter(legal_hold::Column::TenantId.eq(tenant.uuid()))
            .filter(legal_hold::Column::ReleasedAt.is_null())
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        let row = legal_hold::Entity::find_by_id(id.uuid())
            .filter(legal_hold::Column::TenantId.eq(tenant.uuid()))
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::not_found("legal hold", id))?;
        if res.rows_affected == 0 {
            return Err(Error::conflict(None, "the hold was released already"));
        }
        hold_row(row)
    }

    /// The active hold that covers a mailbox (a hold on it or on its whole tenant), if any;
    /// `None` for the mailbox asks for any active hold of the tenant.
    pub async fn hold_covering(
        &self,
        tenant: TenantId,
        mailbox: Option<MailboxId>,
    ) -> Result<Option<LegalHold>> {
        hold_covering(&self.tx, tenant, mailbox).await
    }

    /// Records what a retention sweep did to a mailbox.
    pub async fn retention_run_insert(&self, run: &RetentionRun) -> Result<()> {
        retention_run::ActiveModel {
            id: Set(run.id.0),
            tenant_id: Set(run.tenant_id.uuid()),
            mailbox_id: Set(run.mailbox_id.uuid()),
            at: Set(run.at),
            deleted_messages: Set(run.deleted_messages as i64),
            deleted_bytes: Set(run.deleted_bytes as i64),
            blocked_by: Set(run.blocked_by.map(|h| h.0)),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    /// Removes a tenant's retention policy, released holds and runs, with the tenant. The
    /// caller has checked that no hold is active.
    pub(crate) async fn tenant_retention_delete(&self, tenant: TenantId) -> Result<()> {
        retention_policy::Entity::delete_many()
            .filter(retention_policy::Column::TenantId.eq(tenant.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        legal_hold::Entity::delete_many()
            .filter(legal_hold::Column::TenantId.eq(tenant.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        retention_run::Entity::delete_many()
            .filter(retention_run::Column::TenantId.eq(tenant.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

async fn hold_covering(
    db: &impl sea_orm::ConnectionTrait,
    tenant: TenantId,
    mailbox: Option<MailboxId>,
) -> Result<Option<LegalHold>> {
    let mut q = legal_hold::Entity::find()
        .filter(legal_hold::Column::TenantId.eq(tenant.uuid()))
        .filter(legal_hold::Column::ReleasedAt.is_null());
    if let Some(m) = mailbox {
        q = q.filter(
            sea_orm::Condition::any()
                .add(legal_hold::Column::MailboxId.is_null())
                .add(legal_hold::Column::MailboxId.eq(m.uuid())),
        );
    }
    q.order_by_asc(legal_hold::Column::Id)
        .one(db)
        .await
        .map_err(db_error)?
        .map(hold_row)
        .transpose()
}

impl DataStore {
    /// The tenant's retention policy, if one is set.
    pub async fn retention_view(&self, tenant: TenantId) -> Result<Option<RetentionPolicy>> {
        Ok(retention_policy::Entity::find_by_id(tenant.uuid())
            .one(self.reader())
            .await
            .map_err(db_error)?
            .map(policy_row))
    }

    /// Every retention policy that deletes mail: the sweep's work list.
    pub async fn retention_deleting(&self) -> Result<Vec<RetentionPolicy>> {
        Ok(retention_policy::Entity::find()
            .filter(retention_policy::Column::DeleteAfterDays.is_not_null())
            .all(self.reader())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(policy_row)
            .collect())
    }

    /// The tenant's holds, active and released, oldest first.
    pub async fn hold_list(&self, tenant: TenantId) -> Result<Vec<LegalHold>> {
        legal_hold::Entity::find()
            .filter(legal_hold::Column::TenantId.eq(tenant.uuid()))
            .order_by_asc(legal_hold::Column::Id)
            .all(self.reader())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(hold_row)
            .collect()
    }

    /// The tenant's retention runs, oldest first.
    pub async fn retention_run_list(&self, tenant: TenantId) -> Result<Vec<RetentionRun>> {
        Ok(retention_run::Entity::find()
            .filter(retention_run::Column::TenantId.eq(tenant.uuid()))
            .order_by_asc(retention_run::Column::Id)
            .all(self.reader())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(run_row)
            .collect())
    }
}

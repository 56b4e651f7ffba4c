//! Persistence of suspensions: a tenant's or a mailbox's, each with its reason, active until
//! it is lifted. Placing or lifting a suspension of the whole tenant also sets the tenant's
//! stored status (`suspended` while any is active, `active` once none is), in the same
//! transaction, so that the mail stack's lookups and every reader of the status see the
//! reasons' sum without reading them.
//!
//! On PostgreSQL every change of a tenant's suspensions (a placement, a lift, the dunning
//! ladder's end, a customer's cancellation of its termination) first takes a
//! transaction-scoped advisory lock of the tenant ([`WriteTx::suspensions_lock`]), before
//! it reads anything. Under READ COMMITTED each statement reads what was committed when it
//! began, so without the lock a placement and a lift running at once each count the other's
//! change as not made: the lift writes `active` over the placement's `suspended`. With it,
//! the second transaction reads only after the first committed. (On SQLite every write
//! transaction runs alone on the one writer connection.)

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::resources::TenantStatus;
use mailplane_types::suspensions::{Dunning, DunningState, Suspension, SuspensionReason};
use mailplane_types::{Error, MailboxId, Party, Result, SuspensionId, TenantId, TerminationId};

use crate::entity::{suspension, tenant};
use crate::{DataStore, WriteTx, db_error};

fn suspension_row(r: suspension::Model) -> Result<Suspension> {
    let bad = |e: String| Error::internal(format!("suspension {}: {e}", r.id));
    Ok(Suspension {
        id: r.id.into(),
        tenant_id: r.tenant_id.into(),
        mailbox_id: r.mailbox_id.map(Into::into),
        reason: r.reason.parse::<SuspensionReason>().map_err(bad)?,
        note: r.note,
        placed_by: r.placed_by,
        placed_by_party: r.placed_by_party.parse().map_err(bad)?,
        placed_at: r.placed_at,
        active: r.lifted_at.is_none(),
        lifted_at: r.lifted_at,
        lifted_by: r.lifted_by,
        lifted_by_party: r
            .lifted_by_party
            .map(|p| p.parse::<Party>())
            .transpose()
            .map_err(bad)?,
        lift_note: r.lift_note,
        dunning: r.grace_ends_at.map(|grace_ends_at| Dunning {
            state: match (r.termination_id, r.lifted_at) {
                (Some(_), _) => DunningState::Ended,
                (None, Some(_)) => DunningState::Stopped,
                (None, None) => DunningState::Grace,
            },
            grace_ends_at,
            termination_id: r.termination_id.map(Into::into),
        }),
    })
}

/// Who places or lifts a suspension, and when.
pub struct SuspensionAct<'a> {
    /// The principal.
    pub by: &'a str,
    /// Its party.
    pub party: Party,
    /// When.
    pub at: OffsetDateTime,
    /// What it wrote, if anything.
    pub note: Option<&'a str>,
    /// When the dunning ladder's grace ends, for a tenant's suspension for non-payment.
    pub grace_ends_at: Option<OffsetDateTime>,
}

impl WriteTx {
    /// Takes the tenant's suspensions lock until the transaction ends (PostgreSQL; SQLite
    /// has one writer): see the module documentation. Taken again in the same transaction,
    /// it is held already.
    pub async fn suspensions_lock(&self, tenant: TenantId) -> Result<()> {
        self.advisory_lock(&format!("mailplane: suspensions {tenant}"))
            .await
    }

    /// Places a suspension; a second active one of the same subject and reason is a conflict
    /// naming the first. A suspension of the whole tenant marks the tenant `suspended`.
    pub async fn suspension_insert(
        &self,
        tenant: TenantId,
        mailbox: Option<MailboxId>,
        reason: SuspensionReason,
        act: SuspensionAct<'_>,
    ) -> Result<Suspension> {
        self.suspensions_lock(tenant).await?;
        if let Some(s) = self
            .suspensions_active(tenant)
            .await?
            .into_iter()
            .find(|s| s.mailbox_id == mailbox && s.reason == reason)
        {
            return Err(Error::conflict(
                None,
                format!(
                    "suspension {} for `{reason}` is already active (placed by {} on {}); a reason is placed once",
                    s.id,
                    s.placed_by,
                    s.placed_at.date()
                ),
            ));
        }
        let row = suspension::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.uuid()),
            mailbox_id: Set(mailbox.map(MailboxId::uuid)),
            reason: Set(reason.as_str().to_string()),
            note: Set(act.note.map(str::to_string)),
            placed_by: Set(act.by.to_string()),
            placed_by_party: Set(act.party.to_string()),
            placed_at: Set(act.at),
            lifted_at: Set(None),
            lifted_by: Set(None),
            lifted_by_party: Set(None),
            lift_note: Set(None),
            grace_ends_at: Set(act.grace_ends_at),
            termination_id: Set(None),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        let s = suspension_row(row)?;
        self.suspension_status(tenant, act.at).await?;
        Ok(s)
    }

    /// Lifts an active suspension of the tenant, at most once. When it was the tenant's last
    /// active suspension of the whole tenant, the tenant is `active` again.
    pub async fn suspension_lift(
        &self,
        tenant: TenantId,
        id: SuspensionId,
        act: SuspensionAct<'_>,
    ) -> Result<Suspension> {
        // The lock comes before the lift's row lock: the dunning ladder takes it first too.
        self.suspensions_lock(tenant).await?;
        let res = suspension::Entity::update_many()
            .col_expr(suspension::Column::LiftedAt, Expr::value(act.at))
            .col_expr(
                suspension::Column::LiftedBy,
                Expr::value(act.by.to_string()),
            )
            .col_expr(
                suspension::Column::LiftedByParty,
                Expr::value(act.party.to_string()),
            )
            .col_expr(
                suspension::Column::LiftNote,
                Expr::value(act.note.map(str::to_string)),
            )
            .filter(suspension::Column::Id.eq(id.uuid()))
            .filter(suspension::Column::TenantId.eq(tenant.uuid()))
            .filter(suspension::Column::LiftedAt.is_null())
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        let row = suspension::Entity::find_by_id(id.uuid())
            .filter(suspension::Column::TenantId.eq(tenant.uuid()))
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::not_found("suspension", id))?;
        if res.rows_affected == 0 {
            return Err(Error::conflict(None, "the suspension was lifted already"));
        }
        self.suspension_status(tenant, act.at).await?;
        suspension_row(row)
    }

    /// A suspension of the tenant, lifted or not; `None` once it went with the tenant's
    /// configuration.
    pub async fn suspension_get(
        &self,
        tenant: TenantId,
        id: SuspensionId,
    ) -> Result<Option<Suspension>> {
        suspension::Entity::find_by_id(id.uuid())
            .filter(suspension::Column::TenantId.eq(tenant.uuid()))
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .map(suspension_row)
            .transpose()
    }

    /// Records the termination the dunning ladder opened (or adopted) for a suspension that
    /// is still placed and whose ladder has not ended yet; a conflict otherwise, so that a
    /// lift that committed first is never overwritten by an end. The caller holds the
    /// tenant's suspensions lock.
    pub async fn suspension_ended(
        &self,
        id: SuspensionId,
        termination: TerminationId,
    ) -> Result<()> {
        let res = suspension::Entity::update_many()
            .col_expr(
                suspension::Column::TerminationId,
                Expr::value(termination.uuid()),
            )
            .filter(suspension::Column::Id.eq(id.uuid()))
            .filter(suspension::Column::LiftedAt.is_null())
            .filter(suspension::Column::TerminationId.is_null())
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        if res.rows_affected != 1 {
            return Err(Error::conflict(
                None,
                format!("suspension {id} was lifted or its ladder ended meanwhile"),
            ));
        }
        Ok(())
    }

    /// The tenant's active suspensions (of the whole tenant and of its mailboxes), oldest
    /// first.
    pub async fn suspensions_active(&self, tenant: TenantId) -> Result<Vec<Suspension>> {
        suspension::Entity::find()
            .filter(suspension::Column::TenantId.eq(tenant.uuid()))
            .filter(suspension::Column::LiftedAt.is_null())
            .order_by_asc(suspension::Column::Id)
            .all(&self.tx)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(suspension_row)
            .collect()
    }

    /// Sets the tenant's stored status from its active suspensions of the whole tenant: the
    /// one place that writes `suspended` or lifts it. A terminated tenant stays terminated.
    /// Counts under the tenant's suspensions lock, so that it reads every change committed
    /// before it (see the module documentation).
    async fn suspension_status(&self, tenant: TenantId, at: OffsetDateTime) -> Result<()> {
        self.suspensions_lock(tenant).await?;
        let active = suspension::Entity::find()
            .filter(suspension::Column::TenantId.eq(tenant.uuid()))
            .filter(suspension::Column::MailboxId.is_null())
            .filter(suspension::Column::LiftedAt.is_null())
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        let status = if active > 0 {
            TenantStatus::Suspended
        } else {
            TenantStatus::Active
        };
        tenant::Entity::update_many()
            .col_expr(tenant::Column::Status, Expr::value(status.as_str()))
            .col_expr(tenant::Column::UpdatedAt, Expr::value(at))
            .filter(tenant::Column::Id.eq(tenant.uuid()))
            .filter(tenant::Column::Status.ne(TenantStatus::Terminated.as_str()))
            .filter(tenant::Column::Status.ne(status.as_str()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Removes a tenant's suspensions, with the tenant or at the destruction of its
    /// configuration.
    pub(crate) async fn tenant_suspensions_delete(&self, tenant: TenantId) -> Result<()> {
        suspension::Entity::delete_many()
            .filter(suspension::Column::TenantId.eq(tenant.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

impl DataStore {
    /// The tenant's suspensions, active and lifted, oldest first.
    pub async fn suspension_list(&self, tenant: TenantId) -> Result<Vec<Suspension>> {
        suspension::Entity::find()
            .filter(suspension::Column::TenantId.eq(tenant.uuid()))
            .order_by_asc(suspension::Column::Id)
            .all(self.reader())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(suspension_row)
            .collect()
    }
}

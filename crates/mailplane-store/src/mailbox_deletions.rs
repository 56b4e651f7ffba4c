//! Deleted and inactive mailboxes: the deletion that keeps a mailbox restorable for its
//! undelete window (or, under a legal hold, inactive until every hold is released), and the
//! signed receipt left when its data is destroyed.
//!
//! A deleted mailbox keeps its row, so its address stays reserved in `addresses` and its
//! aliases and group memberships stay in place, inert: the mail stack's lookups skip a
//! mailbox of status `deleted` or `inactive` (`mailstack.rs`). Its licences are released when
//! it is deleted and their SKUs kept on the deletion, so that a restore takes the same seats
//! again. When the window closes the mailbox row goes, with the deletion (a cascading foreign
//! key), and the receipt stays: it names the mailbox by id and address.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::resources::MailboxStatus;
use mailplane_types::{Error, MailboxId, Result, TenantId};

use crate::entity::{mailbox, mailbox_deletion, mailbox_receipt};
use crate::{DataStore, WriteTx, db_error};

/// A mailbox's deletion: who deleted it, when, what it was before, and when its window
/// closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxDeletion {
    /// The mailbox.
    pub mailbox_id: MailboxId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The status a restore gives back.
    pub prior_status: MailboxStatus,
    /// The SKUs of the licences it held, which a restore takes again.
    pub licences: Vec<String>,
    /// When it was deleted.
    pub deleted_at: OffsetDateTime,
    /// Who deleted it (the audit's subject).
    pub deleted_by: String,
    /// When its undelete window closes; `None` while a legal hold keeps it inactive.
    pub purge_after: Option<OffsetDateTime>,
}

/// A mailbox's signed destruction receipt, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// The receipt's id.
    pub id: Uuid,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The mailbox whose data was destroyed.
    pub mailbox_id: MailboxId,
    /// Its address.
    pub address: String,
    /// When the receipt was issued.
    pub issued_at: OffsetDateTime,
    /// The signed document (JSON).
    pub document: String,
}

impl DataStore {
    /// The deletion of a mailbox of a tenant, if it is deleted or inactive.
    pub async fn mailbox_deletion(
        &self,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<Option<MailboxDeletion>> {
        deletion_on(self.reader(), tenant, id).await
    }

    /// The destruction receipt of a mailbox of a tenant, if its window closed.
    pub async fn mailbox_receipt(
        &self,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<Option<StoredReceipt>> {
        receipt_on(self.reader(), tenant, id).await
    }
}

impl WriteTx {
    /// The deletion of a mailbox of a tenant inside the transaction.
    pub async fn mailbox_deletion(
        &self,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<Option<MailboxDeletion>> {
        deletion_on(&self.tx, tenant, id).await
    }

    /// The destruction receipt of a mailbox inside the transaction.
    pub async fn mailbox_receipt(
        &self,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<Option<StoredReceipt>> {
        receipt_on(&self.tx, tenant, id).await
    }

    /// Marks a mailbox `deleted` (with the end of its window) or `inactive` (no end while a
    /// hold keeps it), releasing its licences and recording what a restore gives back. The
    /// caller has checked the mailbox is the tenant's and not deleted already.
    pub async fn mailbox_mark_deleted(
        &self,
        tenant: TenantId,
        id: MailboxId,
        prior_status: MailboxStatus,
        deleted_at: OffsetDateTime,
        deleted_by: &str,
        purge_after: Option<OffsetDateTime>,
    ) -> Result<MailboxDeletion> {
        let status = match purge_after {
            Some(_) => MailboxStatus::Deleted,
            None => MailboxStatus::Inactive,
        };
        let licences = self.licences_of(id).await?;
        self.licences_release(id).await?;
        set_status(self, id, status).await?;
        mailbox_deletion::ActiveModel {
            mailbox_id: Set(id.uuid()),
            tenant_id: Set(tenant.uuid()),
            prior_status: Set(prior_status.as_str().to_string()),
            licences: Set(licences.join(",")),
            deleted_at: Set(deleted_at),
            deleted_by: Set(deleted_by.to_string()),
            purge_after: Set(purge_after),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        deletion_on(&self.tx, tenant, id)
            .await?
            .ok_or_else(|| Error::internal(format!("the deletion of mailbox {id} vanished")))
    }

    /// Opens the undelete window of an inactive mailbox whose last hold was released: it is
    /// `deleted` until `purge_after`.
    pub async fn mailbox_window_open(
        &self,
        id: MailboxId,
        purge_after: OffsetDateTime,
    ) -> Result<()> {
        set_status(self, id, MailboxStatus::Deleted).await?;
        mailbox_deletion::Entity::update_many()
            .col_expr(
                mailbox_deletion::Column::PurgeAfter,
                Expr::value(Some(purge_after)),
            )
            .filter(mailbox_deletion::Column::MailboxId.eq(id.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Forgets a restored mailbox's deletion (the caller sets its status back).
    pub async fn mailbox_deletion_remove(&self, id: MailboxId) -> Result<()> {
        mailbox_deletion::Entity::delete_many()
            .filter(mailbox_deletion::Column::MailboxId.eq(id.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// The tenant's mailboxes of a status (`inactive`, `deleted`), in id order.
    pub async fn mailboxes_of_status(
        &self,
        tenant: TenantId,
        status: MailboxStatus,
    ) -> Result<Vec<MailboxId>> {
        let rows = mailbox::Entity::find()
            .filter(mailbox::Column::TenantId.eq(tenant.uuid()))
            .filter(mailbox::Column::Status.eq(status.as_str()))
            .order_by_asc(mailbox::Column::Id)
            .all(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(|m| m.id.into()).collect())
    }

    /// The deleted or inactive mailbox that holds `address`, with its deletion, if any: an
    /// address it reserves cannot be taken by another mailbox, alias or group.
    pub async fn address_reserved(&self, address: &str) -> Result<Option<MailboxDeletion>> {
        let Some(m) = mailbox::Entity::find()
            .filter(mailbox::Column::Address.eq(address))
            .filter(mailbox::Column::Status.is_in([
                MailboxStatus::Deleted.as_str(),
                MailboxStatus::Inactive.as_str(),
            ]))
            .one(&self.tx)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        deletion_on(&self.tx, m.tenant_id.into(), m.id.into()).await
    }

    /// Stores a mailbox's signed destruction receipt.
    pub async fn mailbox_receipt_insert(&self, r: &StoredReceipt) -> Result<()> {
        mailbox_receipt::ActiveModel {
            id: Set(r.id),
            tenant_id: Set(r.tenant_id.uuid()),
            mailbox_id: Set(r.mailbox_id.uuid()),
            address: Set(r.address.clone()),
            issued_at: Set(r.issued_at),
            document: Set(r.document.clone()),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

async fn set_status(tx: &WriteTx, id: MailboxId, status: MailboxStatus) -> Result<()> {
    let r = mailbox::Entity::update_many()
        .col_expr(mailbox::Column::Status, Expr::value(status.as_str()))
        .col_expr(mailbox::Column::UpdatedAt, Expr::value(crate::now()))
        .filter(mailbox::Column::Id.eq(id.uuid()))
        .exec(&tx.tx)
        .await
        .map_err(db_error)?;
    if r.rows_affected != 1 {
        return Err(Error::not_found("mailbox", id));
    }
    Ok(())
}

async fn deletion_on<C: sea_orm::ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: MailboxId,
) -> Result<Option<MailboxDeletion>> {
    let Some(r) = mailbox_deletion::Entity::find_by_id(id.uuid())
        .filter(mailbox_deletion::Column::TenantId.eq(tenant.uuid()))
        .one(db)
        .await
        .map_err(db_error)?
    else {
        return Ok(None);
    };
    let prior_status = MailboxStatus::parse(&r.prior_status).ok_or_else(|| {
        Error::internal(format!(
            "mailbox {id} was deleted from the unknown status {}",
            r.prior_status
        ))
    })?;
    Ok(Some(MailboxDeletion {
        mailbox_id: r.mailbox_id.into(),
        tenant_id: r.tenant_id.into(),
        prior_status,
        licences: r
            .licences
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        deleted_at: r.deleted_at,
        deleted_by: r.deleted_by,
        purge_after: r.purge_after,
    }))
}

async fn receipt_on<C: sea_orm::ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: MailboxId,
) -> Result<Option<StoredReceipt>> {
    Ok(mailbox_receipt::Entity::find()
        .filter(mailbox_receipt::Column::MailboxId.eq(id.uuid()))
        .filter(mailbox_receipt::Column::TenantId.eq(tenant.uuid()))
        .one(db)
        .await
        .map_err(db_error)?
        .map(|r| StoredReceipt {
            id: r.id,
            tenant_id: r.tenant_id.into(),
            mailbox_id: r.mailbox_id.into(),
            address: r.address,
            issued_at: r.issued_at,
            document: r.document,
        }))
}

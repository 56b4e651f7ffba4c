//! Persistence of what a tenant takes from the catalogue: its licence subscriptions and
//! their assignments to mailboxes, one at a time or in batches. (A tenant's placement and
//! offer are in `tenants.rs`, its domains in `domains.rs`.)
//!
//! The seat invariants are the database's: triggers keep `subscriptions.assigned` equal to
//! the number of assignments and checks refuse overselling, so a check that fails here is
//! turned into an error that says what to do, and nothing is half written.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use mailplane_types::resources::{Mailbox, Subscription};
use mailplane_types::{Error, MailboxId, Result, SubscriptionId, TenantId};

use crate::entity::{domain, licence_assignment, subscription, tenant};
use crate::mailboxes::CHUNK;
use crate::rows::DEFAULT_DOMAIN;
use crate::{DataStore, WriteTx, db_error, now, rows};

/// A new subscription.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The catalogue SKU.
    pub sku: String,
    /// Seats to start with.
    pub seats: u32,
    /// The SKU's minimum.
    pub minimum_seats: u32,
}

impl WriteTx {
    /// Assigns a seat of `subscription` to each mailbox, in multi-row statements; the
    /// database refuses the whole batch when the seats do not suffice.
    pub async fn licences_assign_many(
        &self,
        subscription: &Subscription,
        mailboxes: &[&Mailbox],
    ) -> Result<()> {
        let t = now();
        for chunk in mailboxes.chunks(CHUNK) {
            let rows: Vec<licence_assignment::ActiveModel> = chunk
                .iter()
                .map(|m| licence_assignment::ActiveModel {
                    subscription_id: Set(subscription.id.0),
                    mailbox_id: Set(m.id.uuid()),
                    tenant_id: Set(m.tenant_id.uuid()),
                    assigned_at: Set(t),
                })
                .collect();
            licence_assignment::Entity::insert_many(rows)
                .exec(&self.tx)
                .await
                .map_err(|e| {
                    if e.to_string().contains("ck_subscriptions_assigned") {
                        Error::conflict(
                            Some("mailboxes"),
                            format!(
                                "the `{}` subscription has too few free seats for the batch",
                                subscription.sku
                            ),
                        )
                    } else {
                        db_error(e)
                    }
                })?;
        }
        Ok(())
    }

    /// Takes a subscription.
    pub async fn subscription_insert(&self, s: NewSubscription) -> Result<Subscription> {
        let at = now();
        let row = subscription::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(s.tenant_id.uuid()),
            sku: Set(s.sku.clone()),
            seats: Set(s.seats as i32),
            minimum_seats: Set(s.minimum_seats as i32),
            assigned: Set(0),
            created_at: Set(at),
            updated_at: Set(at),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| seats_error(e, s.minimum_seats))
        .map_err(|e| match e {
            Error::Conflict { .. } => Error::conflict(
                Some("sku"),
                format!("the tenant already holds a subscription to `{}`", s.sku),
            ),
            other => other,
        })?;
        Ok(rows::subscription(row))
    }

    /// A subscription of the tenant, locked for the rest of the transaction on PostgreSQL.
    pub async fn subscription_get(
        &self,
        tenant: TenantId,
        id: SubscriptionId,
    ) -> Result<Subscription> {
        let mut q = subscription::Entity::find_by_id(id.uuid())
            .filter(subscription::Column::TenantId.eq(tenant.uuid()));
        if self.backend == sea_orm::DbBackend::Postgres {
            q = sea_orm::QuerySelect::lock(q, sea_orm::sea_query::LockType::Update);
        }
        q.one(&self.tx)
            .await
            .map_err(db_error)?
            .map(rows::subscription)
            .ok_or_else(|| Error::not_found("subscription", id))
    }

    /// The tenant's subscription to a SKU, if any.
    pub async fn subscription_for_sku(
        &self,
        tenant: TenantId,
        sku: &str,
    ) -> Result<Option<Subscription>> {
        Ok(subscription::Entity::find()
            .filter(subscription::Column::TenantId.eq(tenant.uuid()))
            .filter(subscription::Column::Sku.eq(sku))
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .map(rows::subscription))
    }

    /// Sets a subscription's seat count. The database refuses fewer seats than assigned or
    /// than the minimum; the error says how many seats to unassign.
    pub async fn subscription_set_seats(
        &self,
        tenant: TenantId,
        id: SubscriptionId,
        seats: u32,
    ) -> Result<Subscription> {
        // The locked row says how many licences to unassign; the database's check is the
        // guard that holds whatever the code does.
        let current = self.subscription_get(tenant, id).await?;
        let too_few = |assigned: u32| {
            Error::conflict(
                Some("seats"),
                format!(
                    "{assigned} seat(s) are assigned: unassign {} licence(s) before lowering the seats to {seats}",
                    assigned.saturating_sub(seats)
                ),
            )
        };
        if seats < current.assigned {
            return Err(too_few(current.assigned));
        }
        let res = subscription::Entity::update_many()
            .col_expr(subscription::Column::Seats, Expr::value(seats as i32))
            .col_expr(subscription::Column::UpdatedAt, Expr::value(now()))
            .filter(subscription::Column::Id.eq(id.uuid()))
            .filter(subscription::Column::TenantId.eq(tenant.uuid()))
            .exec(&self.tx)
            .await;
        match res {
            Ok(r) if r.rows_affected == 0 => Err(Error::not_found("subscription", id)),
            Ok(_) => self.subscription_get(tenant, id).await,
            Err(e) if e.to_string().contains("ck_subscriptions_assigned") => {
                Err(too_few(current.assigned))
            }
            Err(e) => Err(seats_error(e, current.minimum_seats)),
        }
    }

    /// Assigns a seat of a subscription to a mailbox; the database refuses when no seat is
    /// free, and a second assignment of the same mailbox is a conflict.
    pub async fn licence_assign(
        &self,
        tenant: TenantId,
        subscription: &Subscription,
        mailbox: MailboxId,
    ) -> Result<()> {
        licence_assignment::ActiveModel {
            subscription_id: Set(subscription.id.0),
            mailbox_id: Set(mailbox.uuid()),
            tenant_id: Set(tenant.uuid()),
            assigned_at: Set(now()),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| {
            let message = e.to_string();
            if message.contains("ck_subscriptions_assigned") {
                Error::conflict(
                    Some("sku"),
                    format!(
                        "no free seat in the `{}` subscription: add seats or unassign a licence first",
                        subscription.sku
                    ),
                )
            } else if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) {
                Error::conflict(
                    Some("sku"),
                    format!("the mailbox already holds a licence of `{}`", subscription.sku),
                )
            } else {
                db_error(e)
            }
        })?;
        Ok(())
    }

    /// Removes a mailbox's seat of a subscription; false when it held none.
    pub async fn licence_unassign(
        &self,
        subscription: SubscriptionId,
        mailbox: MailboxId,
    ) -> Result<bool> {
        let res = licence_assignment::Entity::delete_many()
            .filter(licence_assignment::Column::SubscriptionId.eq(subscription.uuid()))
            .filter(licence_assignment::Column::MailboxId.eq(mailbox.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(res.rows_affected > 0)
    }

    /// Removes every seat a mailbox holds (before the mailbox is deleted).
    pub async fn licences_release(&self, mailbox: MailboxId) -> Result<()> {
        licence_assignment::Entity::delete_many()
            .filter(licence_assignment::Column::MailboxId.eq(mailbox.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// The SKUs of the licences a mailbox holds.
    pub async fn licences_of(&self, mailbox: MailboxId) -> Result<Vec<String>> {
        licences_of(&self.tx, mailbox).await
    }

    /// Deletes a tenant's default domain and subscriptions (with the tenant). The caller has
    /// checked that no mailbox is left, so no seat is assigned.
    pub(crate) async fn tenant_catalogue_delete(&self, id: TenantId) -> Result<()> {
        domain::Entity::delete_many()
            .filter(domain::Column::TenantId.eq(id.uuid()))
            .filter(domain::Column::Kind.eq(DEFAULT_DOMAIN))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        subscription::Entity::delete_many()
            .filter(subscription::Column::TenantId.eq(id.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

impl DataStore {
    /// The catalogue ids stored data refers to: the offers and regions of tenants and the
    /// SKUs of subscriptions, each once.
    pub async fn catalogue_references(&self) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
        let offers: Vec<Option<String>> = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Offer)
            .distinct()
            .into_tuple()
            .all(self.reader())
            .await
            .map_err(db_error)?;
        let regions: Vec<Option<String>> = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Region)
            .distinct()
            .into_tuple()
            .all(self.reader())
            .await
            .map_err(db_error)?;
        let skus: Vec<String> = subscription::Entity::find()
            .select_only()
            .column(subscription::Column::Sku)
            .distinct()
            .into_tuple()
            .all(self.reader())
            .await
            .map_err(db_error)?;
        Ok((
            offers.into_iter().flatten().collect(),
            regions.into_iter().flatten().collect(),
            skus,
        ))
    }

    /// The tenant's subscriptions, in the order they were taken.
    pub async fn subscription_list(&self, tenant: TenantId) -> Result<Vec<Subscription>> {
        Ok(subscription::Entity::find()
            .filter(subscription::Column::TenantId.eq(tenant.uuid()))
            .order_by_asc(subscription::Column::Id)
            .all(self.reader())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(rows::subscription)
            .collect())
    }

    /// The SKUs of the licences a mailbox holds.
    pub async fn licences_of(&self, mailbox: MailboxId) -> Result<Vec<String>> {
        licences_of(self.reader(), mailbox).await
    }
}

async fn licences_of(
    db: &impl sea_orm::ConnectionTrait,
    mailbox: MailboxId,
) -> Result<Vec<String>> {
    let held: Vec<Uuid> = licence_assignment::Entity::find()
        .filter(licence_assignment::Column::MailboxId.eq(mailbox.uuid()))
        .all(db)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|a| a.subscription_id)
        .collect();
    if held.is_empty() {
        return Ok(vec![]);
    }
    let mut skus: Vec<String> = subscription::Entity::find()
        .filter(subscription::Column::Id.is_in(held))
        .all(db)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|s| s.sku)
        .collect();
    skus.sort();
    Ok(skus)
}

/// A seat check the database refused, said in the caller's terms.
fn seats_error(e: DbErr, minimum: u32) -> Error {
    let message = e.to_string();
    if message.contains("ck_subscriptions_minimum") {
        Error::invalid(
            "seats",
            if minimum > 0 {
                format!("must be at least the SKU's minimum of {minimum}")
            } else {
                "must be at least the subscription's minimum".to_string()
            },
        )
    } else {
        db_error(e)
    }
}

//! Persistence of what a tenant takes from the catalogue: its placement and offer, its
//! default and verified domains, and its licence subscriptions and assignments.
//!
//! The seat invariants are the database's: triggers keep `subscriptions.assigned` equal to
//! the number of assignments and checks refuse overselling, so a check that fails here is
//! turned into an error that says what to do, and nothing is half written.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::resources::{Domain, Subscription, Tenant, TenantStatus};
use mailplane_types::{DomainId, DomainName, Error, MailboxId, PartnerId, Result, TenantId};

use crate::entity::{domain, licence_assignment, subscription, tenant};
use crate::rows::DEFAULT_DOMAIN;
use crate::write::on_conflict;
use crate::{DataStore, WriteTx, db_error, now, rows};

/// The fields of a new tenant (values already checked against the catalogue).
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// Display name.
    pub name: String,
    /// The left label of its default domain.
    pub slug: String,
    /// The profile and version it binds to.
    pub profile: (String, u32),
    /// The reselling partner, if any.
    pub partner_id: Option<PartnerId>,
    /// The region it is placed in.
    pub region: String,
    /// The region stated as a preference, if any.
    pub region_preference: Option<String>,
    /// Its offer.
    pub offer: String,
    /// Its default domain, `<slug>.<provider mail domain>`.
    pub default_domain: DomainName,
}

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
    /// Inserts a tenant with its default domain, verified by construction.
    pub async fn tenant_insert(&self, t: NewTenant) -> Result<(Tenant, Domain)> {
        let at = now();
        let row = tenant::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(t.name),
            status: Set(TenantStatus::Active.as_str().to_string()),
            profile: Set(t.profile.0),
            profile_version: Set(t.profile.1 as i32),
            partner_id: Set(t.partner_id.map(PartnerId::uuid)),
            slug: Set(Some(t.slug.clone())),
            region: Set(Some(t.region)),
            region_preference: Set(t.region_preference),
            offer: Set(Some(t.offer)),
            password_policy: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| on_conflict(e, "slug", format!("the slug `{}` is taken", t.slug)))?;
        let tenant = rows::tenant(row)?;
        let domain = domain::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.id.uuid()),
            name: Set(t.default_domain.to_string()),
            created_at: Set(at),
            kind: Set(DEFAULT_DOMAIN.to_string()),
            verification_token: Set(None),
            verified_at: Set(Some(at)),
            checked_at: Set(None),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| {
            on_conflict(
                e,
                "slug",
                format!(
                    "the default domain {} is already registered on this platform",
                    t.default_domain
                ),
            )
        })?;
        Ok((tenant, rows::domain(domain)?))
    }

    /// Moves a tenant to another offer.
    pub async fn tenant_set_offer(&self, id: TenantId, offer: &str) -> Result<Tenant> {
        self.tenant_set(id, |am| am.offer = Set(Some(offer.to_string())))
            .await
    }

    /// Moves a tenant to another region.
    pub async fn tenant_relocate(&self, id: TenantId, region: &str) -> Result<Tenant> {
        self.tenant_set(id, |am| am.region = Set(Some(region.to_string())))
            .await
    }

    async fn tenant_set(
        &self,
        id: TenantId,
        f: impl FnOnce(&mut tenant::ActiveModel),
    ) -> Result<Tenant> {
        let mut am = tenant::ActiveModel {
            id: Set(id.uuid()),
            updated_at: Set(now()),
            ..Default::default()
        };
        f(&mut am);
        let row = am.update(&self.tx).await.map_err(|e| match e {
            DbErr::RecordNotUpdated => Error::not_found("tenant", id),
            other => db_error(other),
        })?;
        rows::tenant(row)
    }

    /// Whether a slug is taken.
    pub async fn slug_taken(&self, slug: &str) -> Result<bool> {
        Ok(tenant::Entity::find()
            .filter(tenant::Column::Slug.eq(slug))
            .count(&self.tx)
            .await
            .map_err(db_error)?
            > 0)
    }

    /// Inserts a custom domain, unverified, with its verification token. An unverified
    /// domain is a claim: other tenants may hold claims on the same name, and the first to
    /// verify it wins it. A name this tenant already holds, or that another tenant has
    /// verified, is a conflict on `name` (which tenant is not said).
    pub async fn domain_insert(
        &self,
        tenant: TenantId,
        name: &DomainName,
        token: &str,
    ) -> Result<Domain> {
        let verified_elsewhere = domain::Entity::find()
            .filter(domain::Column::Name.eq(name.as_str()))
            .filter(domain::Column::VerifiedAt.is_not_null())
            .filter(domain::Column::TenantId.ne(tenant.uuid()))
            .count(&self.tx)
            .await
            .map_err(db_error)?
            > 0;
        if verified_elsewhere {
            return Err(verified_by_another(name.as_str()));
        }
        let row = domain::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.uuid()),
            name: Set(name.to_string()),
            created_at: Set(now()),
            kind: Set("custom".to_string()),
            verification_token: Set(Some(token.to_string())),
            verified_at: Set(None),
            checked_at: Set(None),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| {
            on_conflict(
                e,
                "name",
                format!("{name} is already a domain of this tenant"),
            )
        })?;
        rows::domain(row)
    }

    /// Records a DNS check of a tenant's domain; `verified` marks it verified (once
    /// verified, a domain stays verified: a later failing check is reported, not held
    /// against it). Returns the domain and whether this check verified it: the transition
    /// is a conditional update, so of two concurrent checks only one verifies. A name that
    /// another tenant verified first is a conflict on `name`: the partial unique index over
    /// verified names refuses the update, so of two tenants verifying the same name at once
    /// exactly one wins, and the other's transaction writes nothing.
    pub async fn domain_checked(
        &self,
        tenant: TenantId,
        id: DomainId,
        verified: bool,
        at: OffsetDateTime,
    ) -> Result<(Domain, bool)> {
        let mine = || {
            sea_orm::Condition::all()
                .add(domain::Column::Id.eq(id.uuid()))
                .add(domain::Column::TenantId.eq(tenant.uuid()))
        };
        let name = domain::Entity::find()
            .filter(mine())
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::not_found("domain", id))?
            .name;
        let newly = if verified {
            domain::Entity::update_many()
                .col_expr(domain::Column::VerifiedAt, Expr::value(at))
                .filter(mine())
                .filter(domain::Column::VerifiedAt.is_null())
                .exec(&self.tx)
                .await
                .map_err(|e| match db_error(e) {
                    Error::Conflict { .. } => verified_by_another(&name),
                    other => other,
                })?
                .rows_affected
                > 0
        } else {
            false
        };
        domain::Entity::update_many()
            .col_expr(domain::Column::CheckedAt, Expr::value(at))
            .filter(mine())
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        let row = domain::Entity::find()
            .filter(mine())
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::not_found("domain", id))?;
        Ok((rows::domain(row)?, newly))
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
    pub async fn subscription_get(&self, tenant: TenantId, id: Uuid) -> Result<Subscription> {
        let mut q = subscription::Entity::find_by_id(id)
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
        id: Uuid,
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
            .filter(subscription::Column::Id.eq(id))
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
            subscription_id: Set(subscription.id),
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
    pub async fn licence_unassign(&self, subscription: Uuid, mailbox: MailboxId) -> Result<bool> {
        let res = licence_assignment::Entity::delete_many()
            .filter(licence_assignment::Column::SubscriptionId.eq(subscription))
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

/// The conflict of a name verified by another tenant. It does not say which tenant.
fn verified_by_another(name: &str) -> Error {
    Error::conflict(
        Some("name"),
        format!(
            "{name} is verified by another tenant: a verified domain belongs to one tenant on this platform; remove this claim, or ask the provider if the domain is yours"
        ),
    )
}

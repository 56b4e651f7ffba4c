//! Domains of a tenant: their reads and their writes, from a claim through its verification
//! to the deletion of a domain nothing uses.
//!
//! A verified domain belongs to one tenant on the platform: the database refuses a second
//! verification of the same name, and the conflict does not say which tenant holds it.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::resources::Domain;
use mailplane_types::resources::MailboxStatus;
use mailplane_types::{DomainId, DomainName, Error, Result, TenantId};

use crate::entity::{domain, mailbox};
use crate::write::{deleted_one, on_conflict};
use crate::{DataStore, Page, PageRequest, WriteTx, db_error, now, paginate, rows};

impl DataStore {
    /// A domain of a tenant (the caller has already resolved the tenant in its scope).
    pub async fn domain_view(&self, tenant: TenantId, id: DomainId) -> Result<Option<Domain>> {
        domain_get_on(self.reader(), tenant, id).await
    }

    /// Domains of a tenant, in id order.
    pub async fn domain_list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Domain>> {
        let q = domain::Entity::find().filter(domain::Column::TenantId.eq(tenant.uuid()));
        let rows = self.keyset(q, domain::Column::Id, page).await?;
        paginate(rows, page.limit, |r| r.id, rows::domain)
    }
}

impl WriteTx {
    /// A domain of a tenant inside the transaction.
    pub async fn domain_view(&self, tenant: TenantId, id: DomainId) -> Result<Option<Domain>> {
        domain_get_on(&self.tx, tenant, id).await
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

    /// Deletes a domain that no mailbox uses.
    pub async fn domain_delete(&self, tenant: TenantId, id: DomainId) -> Result<()> {
        let users = mailbox::Entity::find()
            .filter(mailbox::Column::DomainId.eq(id.uuid()))
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        let kept = mailbox::Entity::find()
            .filter(mailbox::Column::DomainId.eq(id.uuid()))
            .filter(mailbox::Column::Status.is_in([
                MailboxStatus::Deleted.as_str(),
                MailboxStatus::Inactive.as_str(),
            ]))
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        if users > kept {
            return Err(Error::conflict(
                None,
                format!(
                    "the domain is in use by {} mailbox(es); delete them first",
                    users - kept
                ),
            ));
        }
        if kept > 0 {
            return Err(Error::conflict(
                None,
                format!(
                    "the domain keeps the addresses of {kept} deleted or inactive mailbox(es): they are restorable until their undelete window closes and their data is destroyed, or kept while a legal hold covers them"
                ),
            ));
        }
        let (aliases, groups) = self.domain_users(id).await?;
        if aliases + groups > 0 {
            return Err(Error::conflict(
                None,
                format!(
                    "the domain is in use by {aliases} alias(es) and {groups} group(s); delete them first"
                ),
            ));
        }
        let res = domain::Entity::delete_many()
            .filter(domain::Column::Id.eq(id.uuid()))
            .filter(domain::Column::TenantId.eq(tenant.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        deleted_one("domain", id, res.rows_affected)
    }
}

pub(crate) async fn domain_get_on<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: DomainId,
) -> Result<Option<Domain>> {
    domain::Entity::find_by_id(id.uuid())
        .filter(domain::Column::TenantId.eq(tenant.uuid()))
        .one(db)
        .await
        .map_err(db_error)?
        .map(rows::domain)
        .transpose()
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

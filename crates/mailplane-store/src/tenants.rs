//! Tenants, the customers' organisations: their reads and their writes, from the creation
//! with a default domain to the deletion of an empty tenant.
//!
//! A tenant is read through a [`Scope`]: a partner reaches only its customers' tenants, a
//! customer only its own, and a tenant out of scope is simply not found. On SQLite a tenant
//! just read may be served from the read cache (`sqlite/read_cache.rs`), with the same
//! scope applied.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};
use uuid::Uuid;

use mailplane_types::resources::{Domain, RequestState, Tenant, TenantStatus};
use mailplane_types::{DomainName, Error, PartnerId, Result, TenantId};

use crate::entity::{api_credential, domain, mailbox, request, tenant};
use crate::rows::DEFAULT_DOMAIN;
use crate::sqlite::read_cache::Lookup;
use crate::write::{deleted_one, gone, on_conflict};
use crate::{DataStore, Page, PageRequest, Scope, WriteTx, db_error, now, paginate, rows};

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

impl DataStore {
    /// A tenant by id, if it is in scope.
    pub async fn tenant_view(&self, scope: Scope, id: TenantId) -> Result<Option<Tenant>> {
        let Some(partner) = tenant_scope(scope, id) else {
            return Ok(None);
        };
        let seen = match self.remembered(|c| c.tenant(id)) {
            Lookup::Hit(t) => return Ok(in_partner_scope(&t, partner).then_some(t)),
            Lookup::Miss(seen) => seen,
        };
        let found = tenant_get_on(self.reader(), scope, id).await?;
        if let Some(t) = &found {
            self.remember(seen, t, None);
        }
        Ok(found)
    }

    /// Tenants in scope, in id order.
    pub async fn tenant_list(&self, scope: Scope, page: PageRequest) -> Result<Page<Tenant>> {
        let mut q = tenant::Entity::find();
        match scope {
            Scope::All => {}
            Scope::Partner(p) => q = q.filter(tenant::Column::PartnerId.eq(p.uuid())),
            Scope::Tenant(t) => q = q.filter(tenant::Column::Id.eq(t.uuid())),
        }
        let rows = self.keyset(q, tenant::Column::Id, page).await?;
        paginate(rows, page.limit, |r| r.id, rows::tenant)
    }
}

impl WriteTx {
    /// A tenant by id inside the transaction, if in scope.
    pub async fn tenant_view(&self, scope: Scope, id: TenantId) -> Result<Option<Tenant>> {
        tenant_get_on(&self.tx, scope, id).await
    }

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
            mail_backend: Set(None),
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

    /// Changes a tenant's name and/or status.
    pub async fn tenant_update(
        &self,
        id: TenantId,
        name: Option<&str>,
        status: Option<TenantStatus>,
    ) -> Result<Tenant> {
        let mut am = tenant::ActiveModel {
            id: Set(id.uuid()),
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(n) = name {
            am.name = Set(n.to_string());
        }
        if let Some(s) = status {
            am.status = Set(s.as_str().to_string());
        }
        let row = am.update(&self.tx).await.map_err(gone("tenant", id))?;
        rows::tenant(row)
    }

    /// Binds a tenant to another profile version. Requests already filed keep the version
    /// they were filed under.
    pub async fn tenant_rebind(&self, id: TenantId, profile: &str, version: u32) -> Result<Tenant> {
        let row = tenant::ActiveModel {
            id: Set(id.uuid()),
            profile: Set(profile.to_string()),
            profile_version: Set(version as i32),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&self.tx)
        .await
        .map_err(gone("tenant", id))?;
        rows::tenant(row)
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

    /// Deletes a tenant that holds no domain and no mailbox, and no pending request but
    /// those of the operation `deletion` (the stored name of the tenant's deletion, which the
    /// caller names: the store knows no operation name).
    pub async fn tenant_delete(&self, id: TenantId, deletion: &str) -> Result<()> {
        // A pending request to delete the tenant is the deletion itself, not a reason to wait.
        let pending = request::Entity::find()
            .filter(request::Column::TenantId.eq(id.uuid()))
            .filter(request::Column::State.eq(RequestState::Pending.as_str()))
            .filter(
                sea_orm::Condition::any()
                    .add(request::Column::Operation.is_null())
                    .add(request::Column::Operation.ne(deletion)),
            )
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        if pending > 0 {
            return Err(Error::conflict(
                None,
                format!(
                    "the tenant still has {pending} pending request(s) or proposal(s); answer or cancel them first"
                ),
            ));
        }
        let domains = domain::Entity::find()
            .filter(domain::Column::TenantId.eq(id.uuid()))
            .filter(domain::Column::Kind.ne(crate::rows::DEFAULT_DOMAIN))
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        if domains > 0 {
            return Err(Error::conflict(
                None,
                format!(
                    "the tenant still has {domains} custom domain(s); delete its mailboxes and domains first"
                ),
            ));
        }
        let mailboxes = mailbox::Entity::find()
            .filter(mailbox::Column::TenantId.eq(id.uuid()))
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        if mailboxes > 0 {
            return Err(Error::conflict(
                None,
                format!("the tenant still has {mailboxes} mailbox(es); delete them first"),
            ));
        }
        let groups = self.tenant_groups(id).await?;
        if groups > 0 {
            return Err(Error::conflict(
                None,
                format!("the tenant still has {groups} group(s); delete them first"),
            ));
        }
        self.tenant_catalogue_delete(id).await?;
        self.tenant_retention_delete(id).await?;
        self.tenant_suspensions_delete(id).await?;
        // What belongs to the tenant alone goes with it: its answered requests, its tickets,
        // its API credentials and its organisation's webhooks. The audit trail keeps their history.
        request::Entity::delete_many()
            .filter(request::Column::TenantId.eq(id.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        crate::entity::ticket::Entity::delete_many()
            .filter(crate::entity::ticket::Column::TenantId.eq(id.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        api_credential::Entity::delete_many()
            .filter(api_credential::Column::TenantId.eq(id.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        crate::entity::webhook::Entity::delete_many()
            .filter(crate::entity::webhook::Column::Org.eq(format!("tenant:{id}")))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        let res = tenant::Entity::delete_by_id(id.uuid())
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        deleted_one("tenant", id, res.rows_affected)
    }
}

/// How a scope reaches the tenant `id`: not at all (`None`), or through a filter on its
/// partner (`Some(Some(p))`) or none (`Some(None)`).
pub(crate) fn tenant_scope(scope: Scope, id: TenantId) -> Option<Option<PartnerId>> {
    match scope {
        Scope::All => Some(None),
        Scope::Partner(p) => Some(Some(p)),
        Scope::Tenant(t) => (t == id).then_some(None),
    }
}

/// Whether a tenant passes the partner filter of [`tenant_scope`], as its SQL would.
pub(crate) fn in_partner_scope(tenant: &Tenant, partner: Option<PartnerId>) -> bool {
    partner.is_none_or(|p| tenant.partner_id == Some(p))
}

pub(crate) async fn tenant_get_on<C: ConnectionTrait>(
    db: &C,
    scope: Scope,
    id: TenantId,
) -> Result<Option<Tenant>> {
    let Some(partner) = tenant_scope(scope, id) else {
        return Ok(None);
    };
    let mut q = tenant::Entity::find_by_id(id.uuid());
    if let Some(p) = partner {
        q = q.filter(tenant::Column::PartnerId.eq(p.uuid()));
    }
    q.one(db)
        .await
        .map_err(db_error)?
        .map(rows::tenant)
        .transpose()
}

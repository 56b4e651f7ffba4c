//! API credentials of a tenant (the public keys its tokens are signed with): their reads and
//! their writes.
//!
//! A credential is read by id alone only to verify a token that names it; every other read
//! is within its tenant. Revoking is one conditional update, so a second revocation changes
//! nothing and says so.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::resources::Credential;
use mailplane_types::{CredentialId, Result, TenantId};

use crate::entity::api_credential;
use crate::{DataStore, Page, PageRequest, WriteTx, db_error, now, paginate, rows};

/// The fields of a new API credential (already checked).
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// The tenant it acts for.
    pub tenant_id: TenantId,
    /// Its name.
    pub name: String,
    /// The roles tokens signed with it may exercise.
    pub roles: Vec<String>,
    /// The public key, SPKI PEM.
    pub public_key: String,
    /// SHA-256 of the key's DER form, hex.
    pub fingerprint: String,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
}

impl DataStore {
    /// A credential by id, whatever its tenant: for verifying a token that names it.
    pub async fn credential_by_id(&self, id: CredentialId) -> Result<Option<Credential>> {
        Ok(api_credential::Entity::find_by_id(id.uuid())
            .one(self.reader())
            .await
            .map_err(db_error)?
            .map(rows::credential))
    }

    /// A credential of a tenant.
    pub async fn credential_view(
        &self,
        tenant: TenantId,
        id: CredentialId,
    ) -> Result<Option<Credential>> {
        Ok(api_credential::Entity::find_by_id(id.uuid())
            .filter(api_credential::Column::TenantId.eq(tenant.uuid()))
            .one(self.reader())
            .await
            .map_err(db_error)?
            .map(rows::credential))
    }

    /// Credentials of a tenant, in id order.
    pub async fn credential_list(
        &self,
        tenant: TenantId,
        page: PageRequest,
    ) -> Result<Page<Credential>> {
        let q = api_credential::Entity::find()
            .filter(api_credential::Column::TenantId.eq(tenant.uuid()));
        let rows = self.keyset(q, api_credential::Column::Id, page).await?;
        paginate(rows, page.limit, |r| r.id, |r| Ok(rows::credential(r)))
    }
}

impl WriteTx {
    /// Registers an API credential.
    pub async fn credential_insert(&self, c: NewCredential) -> Result<Credential> {
        let row = api_credential::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(c.tenant_id.uuid()),
            name: Set(c.name),
            roles: Set(c.roles.join(",")),
            public_key: Set(c.public_key),
            fingerprint: Set(c.fingerprint),
            created_at: Set(now()),
            expires_at: Set(c.expires_at),
            revoked_at: Set(None),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        Ok(rows::credential(row))
    }

    /// Revokes a credential of a tenant that is not revoked yet. `None` when there is no
    /// such credential; otherwise the credential and whether this call revoked it (false:
    /// it was revoked before, and is unchanged).
    pub async fn credential_revoke(
        &self,
        tenant: TenantId,
        id: CredentialId,
        at: OffsetDateTime,
    ) -> Result<Option<(Credential, bool)>> {
        let res = api_credential::Entity::update_many()
            .col_expr(api_credential::Column::RevokedAt, Expr::value(at))
            .filter(api_credential::Column::Id.eq(id.uuid()))
            .filter(api_credential::Column::TenantId.eq(tenant.uuid()))
            .filter(api_credential::Column::RevokedAt.is_null())
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(api_credential::Entity::find_by_id(id.uuid())
            .filter(api_credential::Column::TenantId.eq(tenant.uuid()))
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .map(|r| (rows::credential(r), res.rows_affected == 1)))
    }
}

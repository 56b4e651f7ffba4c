//! Partners, the resellers between the provider and their customers' tenants: their reads
//! and their writes.
//!
//! A provider sees every partner, a partner only itself, a customer none. A partner is
//! deleted only once it has no tenant left.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, NotSet, PaginatorTrait, QueryFilter, Set,
};
use uuid::Uuid;

use mailplane_types::resources::Partner;
use mailplane_types::{Error, PartnerId, Result};

use crate::entity::{partner, tenant};
use crate::write::{deleted_one, on_conflict};
use crate::{DataStore, Page, PageRequest, Scope, WriteTx, db_error, now, paginate, rows};

impl DataStore {
    /// A partner by id, if the scope may see it (provider: all; partner: itself).
    pub async fn partner_view(&self, scope: Scope, id: PartnerId) -> Result<Option<Partner>> {
        if !partner_visible(scope, id) {
            return Ok(None);
        }
        let row = partner::Entity::find_by_id(id.uuid())
            .one(self.reader())
            .await
            .map_err(db_error)?;
        Ok(row.map(rows::partner))
    }

    /// Partners the scope may see, in id order.
    pub async fn partner_list(&self, scope: Scope, page: PageRequest) -> Result<Page<Partner>> {
        let mut q = partner::Entity::find();
        match scope {
            Scope::All => {}
            Scope::Partner(p) => q = q.filter(partner::Column::Id.eq(p.uuid())),
            Scope::Tenant(_) => {
                return Ok(Page {
                    items: vec![],
                    next_cursor: None,
                });
            }
        }
        let rows = self.keyset(q, partner::Column::Id, page).await?;
        paginate(rows, page.limit, |r| r.id, |r| Ok(rows::partner(r)))
    }
}

impl WriteTx {
    /// A partner by id inside the transaction.
    pub async fn partner_view(&self, id: PartnerId) -> Result<Option<Partner>> {
        Ok(partner::Entity::find_by_id(id.uuid())
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .map(rows::partner))
    }

    /// Inserts a partner; a duplicate name is a conflict on `name`.
    pub async fn partner_insert(&self, name: &str) -> Result<Partner> {
        let t = now();
        let row = partner::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name.to_string()),
            created_at: Set(t),
            updated_at: Set(t),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| on_conflict(e, "name", "a partner with this name already exists"))?;
        Ok(rows::partner(row))
    }

    /// Renames a partner.
    pub async fn partner_update(&self, id: PartnerId, name: &str) -> Result<Partner> {
        let row = partner::ActiveModel {
            id: Set(id.uuid()),
            name: Set(name.to_string()),
            created_at: NotSet,
            updated_at: Set(now()),
        }
        .update(&self.tx)
        .await
        .map_err(|e| match e {
            sea_orm::DbErr::RecordNotUpdated => Error::not_found("partner", id),
            e => on_conflict(e, "name", "a partner with this name already exists"),
        })?;
        Ok(rows::partner(row))
    }

    /// Deletes a partner that has no tenants left.
    pub async fn partner_delete(&self, id: PartnerId) -> Result<()> {
        let tenants = tenant::Entity::find()
            .filter(tenant::Column::PartnerId.eq(id.uuid()))
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        if tenants > 0 {
            return Err(Error::conflict(
                None,
                format!("the partner still has {tenants} tenant(s); move or delete them first"),
            ));
        }
        let res = partner::Entity::delete_by_id(id.uuid())
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        deleted_one("partner", id, res.rows_affected)
    }
}

fn partner_visible(scope: Scope, id: PartnerId) -> bool {
    match scope {
        Scope::All => true,
        Scope::Partner(p) => p == id,
        Scope::Tenant(_) => false,
    }
}

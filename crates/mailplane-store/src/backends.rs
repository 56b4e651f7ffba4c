//! The Dovecot back end a tenant's mail is placed on (`tenants.mail_backend`), for regions
//! whose mail hosts list several back ends.
//!
//! The names are the deployment's (its mail hosts file), not the catalogue's: the store
//! keeps them as text and knows nothing of which back ends exist. Placement is one short
//! transaction of its own: it counts the tenants of each candidate back end and places the
//! tenant on the one with the fewest (ties by name), unless the tenant was placed already.
//! Two placements never count the same old numbers: on SQLite every write transaction runs
//! alone on the one writer connection, and on PostgreSQL the transaction first takes an
//! advisory lock held until it ends, so placements run one after the other.

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};

use mailplane_types::resources::{Tenant, TenantStatus};
use mailplane_types::{Error, Result, TenantId};

use crate::entity::tenant;
use crate::{DataStore, WriteTx, db_error};

/// The lock every placement takes on PostgreSQL.
const PLACEMENT_LOCK: &str = "mailplane: mail back end placement";

/// Where a tenant's mail is, as routing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailPlacement {
    /// The tenant's status.
    pub status: TenantStatus,
    /// Its region.
    pub region: Option<String>,
    /// The back end it is placed on, if it was placed.
    pub backend: Option<String>,
}

impl DataStore {
    /// The tenant's region and back end, or `None` for a tenant that does not exist.
    pub async fn tenant_mail_placement(&self, id: TenantId) -> Result<Option<MailPlacement>> {
        placement_on(self.reader(), id).await
    }

    /// Places the tenant, in `region`, on the back end of `candidates` (names) that holds
    /// the fewest tenants not terminated, ties by name; a tenant placed already keeps its
    /// back end. Returns the back end the tenant is on. Runs outside any caller's guard:
    /// placement is not the caller's change, and is kept whatever becomes of it.
    pub async fn tenant_place_mail_backend(
        &self,
        id: TenantId,
        region: &str,
        candidates: &[String],
    ) -> Result<String> {
        let tx = WriteTx::new(
            self.transaction().await?,
            self.writer.get_database_backend(),
        );
        tx.advisory_lock(PLACEMENT_LOCK).await?;
        let now = placement_on(&tx.tx, id)
            .await?
            .ok_or_else(|| Error::not_found("tenant", id))?;
        if let Some(backend) = now.backend {
            return Ok(backend);
        }
        if now.region.as_deref() != Some(region) {
            return Err(Error::Unavailable(format!(
                "tenant {id} moved out of region `{region}` while it was being placed there: try again"
            )));
        }
        let counts = tx.mail_backend_counts(candidates).await?;
        let chosen = least_loaded(candidates, &counts).ok_or_else(|| {
            Error::Unavailable(format!(
                "region `{region}` has no mail back end taking new tenants"
            ))
        })?;
        tenant::Entity::update_many()
            .col_expr(tenant::Column::MailBackend, Expr::value(chosen.clone()))
            .filter(tenant::Column::Id.eq(id.uuid()))
            .filter(tenant::Column::MailBackend.is_null())
            .exec(&tx.tx)
            .await
            .map_err(db_error)?;
        tx.commit().await?;
        Ok(chosen)
    }
}

impl WriteTx {
    /// The back end the tenant is placed on, if it was placed, as this transaction sees it.
    pub async fn tenant_mail_backend(&self, id: TenantId) -> Result<Option<String>> {
        Ok(placement_on(&self.tx, id)
            .await?
            .ok_or_else(|| Error::not_found("tenant", id))?
            .backend)
    }

    /// The number of tenants not terminated placed on each of `names`.
    pub async fn mail_backend_counts(&self, names: &[String]) -> Result<BTreeMap<String, u64>> {
        let rows: Vec<Count> = tenant::Entity::find()
            .select_only()
            .column_as(tenant::Column::MailBackend, "name")
            .column_as(tenant::Column::Id.count(), "n")
            .filter(tenant::Column::MailBackend.is_in(names.iter().cloned()))
            .filter(tenant::Column::Status.ne(TenantStatus::Terminated.as_str()))
            .group_by(tenant::Column::MailBackend)
            .into_model()
            .all(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .filter_map(|c| c.name.map(|name| (name, c.n as u64)))
            .collect())
    }

    /// Moves a tenant to another region and back end (`None`: not placed, which a region
    /// with one back end, or none of its own, needs).
    pub async fn tenant_relocate_to(
        &self,
        id: TenantId,
        region: &str,
        backend: Option<&str>,
    ) -> Result<Tenant> {
        self.tenant_relocate(id, region).await?;
        tenant::Entity::update_many()
            .col_expr(
                tenant::Column::MailBackend,
                Expr::value(backend.map(str::to_owned)),
            )
            .filter(tenant::Column::Id.eq(id.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        self.tenant_view(crate::Scope::All, id)
            .await?
            .ok_or_else(|| Error::not_found("tenant", id))
    }
}

/// The candidate with the fewest tenants, ties by name.
pub fn least_loaded(candidates: &[String], counts: &BTreeMap<String, u64>) -> Option<String> {
    candidates
        .iter()
        .min_by_key(|name| (counts.get(*name).copied().unwrap_or(0), name.as_str()))
        .cloned()
}

/// A back end's count of tenants.
#[derive(FromQueryResult)]
struct Count {
    name: Option<String>,
    n: i64,
}

/// A tenant's placement columns.
#[derive(FromQueryResult)]
struct Placed {
    status: String,
    region: Option<String>,
    mail_backend: Option<String>,
}

async fn placement_on(db: &impl ConnectionTrait, id: TenantId) -> Result<Option<MailPlacement>> {
    let row: Option<Placed> = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Status)
        .column(tenant::Column::Region)
        .column(tenant::Column::MailBackend)
        .filter(tenant::Column::Id.eq(id.uuid()))
        .into_model()
        .one(db)
        .await
        .map_err(db_error)?;
    row.map(
        |Placed {
             status,
             region,
             mail_backend: backend,
         }| {
            Ok(MailPlacement {
                status: TenantStatus::parse(&status)
                    .ok_or_else(|| Error::internal(format!("a tenant of status {status}")))?,
                region,
                backend,
            })
        },
    )
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_loaded_back_end_wins_and_ties_go_by_name() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let counts: BTreeMap<String, u64> = [("eu-1".to_string(), 2), ("eu-2".to_string(), 1)]
            .into_iter()
            .collect();
        assert_eq!(
            least_loaded(&names(&["eu-1", "eu-2"]), &counts).as_deref(),
            Some("eu-2")
        );
        assert_eq!(
            least_loaded(&names(&["eu-3", "eu-2"]), &counts).as_deref(),
            Some("eu-3"),
            "a back end with no tenant yet"
        );
        assert_eq!(
            least_loaded(&names(&["eu-4", "eu-3"]), &counts).as_deref(),
            Some("eu-3"),
            "a tie goes by name"
        );
        assert_eq!(least_loaded(&[], &counts), None);
    }
}
#[cfg(test)]
mod placement_tests {
    use crate::{DataStore, DatabaseLocation, NewTenant};
    use mailplane_types::{DomainName, TenantId};

    async fn tenant(store: &DataStore, slug: &str) -> TenantId {
        let tx = store.begin().await.unwrap();
        let (t, _) = tx
            .tenant_insert(NewTenant {
                name: slug.into(),
                slug: slug.into(),
                profile: ("p".into(), 1),
                partner_id: None,
                region: "eu".into(),
                region_preference: None,
                offer: "o".into(),
                default_domain: DomainName::parse(&format!("{slug}.mail.example")).unwrap(),
            })
            .await
            .unwrap();
        tx.commit().await.unwrap();
        t.id
    }

    #[tokio::test]
    async fn tenants_are_placed_on_the_least_loaded_back_end_and_stay_there() {
        let dir = std::env::temp_dir().join(format!("mp-placement-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = DataStore::open(&DatabaseLocation::Sqlite(dir.join("p.db")))
            .await
            .unwrap();
        let both = ["eu-1".to_string(), "eu-2".to_string()];
        let (a, b, c) = (
            tenant(&store, "a").await,
            tenant(&store, "b").await,
            tenant(&store, "c").await,
        );
        let placement = store.tenant_mail_placement(a).await.unwrap().unwrap();
        assert_eq!(
            (placement.region.as_deref(), placement.backend),
            (Some("eu"), None)
        );
        let place = |t| store.tenant_place_mail_backend(t, "eu", &both);
        assert_eq!(place(a).await.unwrap(), "eu-1");
        assert_eq!(place(b).await.unwrap(), "eu-2");
        // Placed for good, whatever the candidates say now.
        assert_eq!(
            store
                .tenant_place_mail_backend(a, "eu", &["eu-2".to_string()])
                .await
                .unwrap(),
            "eu-1"
        );
        let e = store
            .tenant_place_mail_backend(c, "ca", &both)
            .await
            .expect_err("c is in eu");
        assert!(e.to_string().contains("moved out of region"), "{e}");
        let e = store
            .tenant_place_mail_backend(c, "eu", &[])
            .await
            .expect_err("no candidate");
        assert!(
            e.to_string()
                .contains("no mail back end taking new tenants"),
            "{e}"
        );
        let tx = store.begin().await.unwrap();
        let counts = tx.mail_backend_counts(&both).await.unwrap();
        assert_eq!(counts.get("eu-1"), Some(&1));
        assert_eq!(counts.get("eu-2"), Some(&1));
        drop(tx);
        std::fs::remove_dir_all(&dir).ok();
    }
}

//! The benchmark's own reads of a seeded database: the tenants, domains and mailboxes its
//! measurements ask for, picked with a fixed seed so that every run asks for the same ones.

use mailplane::DatabaseLocation;
use mailplane::types::{DomainId, MailboxId, PartnerId, TenantId};
use mailplane_store::DataStore;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use uuid::Uuid;

use crate::stats::Rng;

/// Opens the seeded database for the benchmark's own reads (ids to ask for), without
/// migrations and with the store's usual settings.
async fn open_for_reading(location: &DatabaseLocation) -> Result<DataStore, String> {
    DataStore::connect(location)
        .await
        .map_err(|e| format!("opening the database: {e}"))
}

/// A tenant of a seeded database, as the other parts of the benchmark address it.
#[derive(Debug, Clone)]
pub struct SeededTenant {
    /// The tenant.
    pub id: TenantId,
    /// Its profile.
    pub profile: String,
    /// Its partner, if resold.
    pub partner: Option<PartnerId>,
    /// Its default domain.
    pub domain: DomainId,
    /// Some of its mailboxes (at most the number asked for).
    pub mailboxes: Vec<MailboxId>,
}

/// Reads `count` tenants picked at random (with a fixed seed), each with its default
/// domain and up to `mailboxes` of its mailboxes.
pub async fn sample(
    location: &DatabaseLocation,
    count: usize,
    mailboxes: usize,
) -> Result<Vec<SeededTenant>, String> {
    let db = open_for_reading(location).await?;
    let backend = db.sql_reader().get_database_backend();
    let rows = db
        .sql_reader()
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT t.id AS tenant_id, t.profile AS profile, t.partner_id AS partner_id, \
             d.id AS domain_id FROM tenants t \
             JOIN domains d ON d.tenant_id = t.id AND d.kind = 'default' ORDER BY t.id",
        ))
        .await
        .map_err(|e| e.to_string())?;
    let mut all = Vec::with_capacity(rows.len());
    for r in rows {
        // By name: a row of the SQLite transport keeps its columns in name order.
        let get = |name| r.try_get::<Uuid>("", name).map_err(|e| e.to_string());
        all.push(SeededTenant {
            id: get("tenant_id")?.into(),
            profile: r
                .try_get::<String>("", "profile")
                .map_err(|e| e.to_string())?,
            partner: r
                .try_get::<Option<Uuid>>("", "partner_id")
                .map_err(|e| e.to_string())?
                .map(Into::into),
            domain: get("domain_id")?.into(),
            mailboxes: Vec::new(),
        });
    }
    let mut rng = Rng::new(0x5eed);
    let picked: Vec<SeededTenant> = rng
        .permutation(all.len())
        .into_iter()
        .take(count)
        .map(|i| all[i].clone())
        .collect();
    let mut out = Vec::with_capacity(picked.len());
    for mut t in picked {
        let (sql, values) = match backend {
            DbBackend::Postgres => (
                "SELECT id FROM mailboxes WHERE tenant_id = $1 ORDER BY id LIMIT $2",
                vec![Value::from(t.id.uuid()), Value::from(mailboxes as i64)],
            ),
            _ => (
                "SELECT id FROM mailboxes WHERE tenant_id = ? ORDER BY id LIMIT ?",
                vec![Value::from(t.id.uuid()), Value::from(mailboxes as i64)],
            ),
        };
        let rows = db
            .sql_reader()
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(|e| e.to_string())?;
        for r in rows {
            t.mailboxes.push(
                r.try_get_by_index::<Uuid>(0)
                    .map_err(|e| e.to_string())?
                    .into(),
            );
        }
        out.push(t);
    }
    Ok(out)
}

/// The id of the mailbox at `position` (0-based) in a tenant's id order: a cursor deep
/// in its list.
pub async fn mailbox_at(
    location: &DatabaseLocation,
    tenant: TenantId,
    position: usize,
) -> Result<Uuid, String> {
    let db = open_for_reading(location).await?;
    let backend = db.sql_reader().get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT id FROM mailboxes WHERE tenant_id = $1 ORDER BY id LIMIT 1 OFFSET $2"
        }
        _ => "SELECT id FROM mailboxes WHERE tenant_id = ? ORDER BY id LIMIT 1 OFFSET ?",
    };
    let row = db
        .sql_reader()
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [Value::from(tenant.uuid()), Value::from(position as i64)],
        ))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("tenant {tenant} has no mailbox at position {position}"))?;
    let id = row.try_get_by_index::<Uuid>(0).map_err(|e| e.to_string())?;
    Ok(id)
}

/// The id of the tenant at `position` (0-based) in id order.
pub async fn tenant_at(location: &DatabaseLocation, position: usize) -> Result<Uuid, String> {
    let db = open_for_reading(location).await?;
    let backend = db.sql_reader().get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT id FROM tenants ORDER BY id LIMIT 1 OFFSET $1",
        _ => "SELECT id FROM tenants ORDER BY id LIMIT 1 OFFSET ?",
    };
    let row = db
        .sql_reader()
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [Value::from(position as i64)],
        ))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no tenant at position {position}"))?;
    let id = row.try_get_by_index::<Uuid>(0).map_err(|e| e.to_string())?;
    Ok(id)
}

/// How many tenants the database holds.
pub async fn tenant_count(location: &DatabaseLocation) -> Result<usize, String> {
    let db = open_for_reading(location).await?;
    let row = db
        .sql_reader()
        .query_one_raw(Statement::from_string(
            db.sql_reader().get_database_backend(),
            "SELECT COUNT(*) FROM tenants",
        ))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no count")?;
    let n = row.try_get_by_index::<i64>(0).map_err(|e| e.to_string())?;
    Ok(n as usize)
}

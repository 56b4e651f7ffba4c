//! Domain claims: an unverified domain is a claim, not an ownership.
//!
//! Until now a domain's name was unique on the platform whatever its state, so a tenant that
//! added a name it did not control blocked every other tenant from adding it. From here on
//! several tenants may hold unverified claims on the same name; only a verified domain is
//! unique on the platform (a partial unique index over the names of verified domains), and a
//! tenant holds at most one domain of a name (a unique index over the tenant and the name).
//! Of two claims verified at once, the index lets exactly one commit.
//!
//! PostgreSQL drops the column's unique constraint. SQLite cannot drop a constraint, so the
//! table is rebuilt in one transaction with foreign keys off, as SQLite's documentation
//! prescribes: a new table without the constraint, the rows copied, the old table dropped and
//! the new one renamed into its place, its index made again.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The partial unique index that keeps a verified domain's name unique on the platform.
pub const VERIFIED_NAME_INDEX: &str = "ux_domains_verified_name";

/// The unique index that keeps one domain of a name per tenant.
pub const TENANT_NAME_INDEX: &str = "ux_domains_tenant_name";

/// The columns of `domains`, in their order.
const COLUMNS: &str =
    "id, tenant_id, name, created_at, kind, verification_token, verified_at, checked_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let indexes = format!(
            "CREATE UNIQUE INDEX {VERIFIED_NAME_INDEX} ON domains (name) WHERE verified_at IS NOT NULL;
             CREATE UNIQUE INDEX {TENANT_NAME_INDEX} ON domains (tenant_id, name);"
        );
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "ALTER TABLE domains DROP CONSTRAINT domains_name_key; {indexes}"
                ))
                .await?;
                Ok(())
            }
            _ => rebuild_sqlite(db, false, &indexes).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "DROP INDEX IF EXISTS {VERIFIED_NAME_INDEX};
                     DROP INDEX IF EXISTS {TENANT_NAME_INDEX};
                     ALTER TABLE domains ADD CONSTRAINT domains_name_key UNIQUE (name);"
                ))
                .await?;
                Ok(())
            }
            _ => rebuild_sqlite(db, true, "").await,
        }
    }
}

/// Rebuilds SQLite's `domains` with or without the unique constraint on `name`, then runs
/// `extra` (the new indexes) in the same transaction. One batch on one connection: the
/// statements commit together or, on an error, the open transaction is rolled back when the
/// connection goes back to its pool.
async fn rebuild_sqlite<C: ConnectionTrait>(
    db: &C,
    unique_name: bool,
    extra: &str,
) -> Result<(), DbErr> {
    let name = if unique_name {
        string_uniq("name")
    } else {
        string("name")
    };
    let create = Table::create()
        .table("domains_rebuilt")
        .col(pk_uuid("id"))
        .col(uuid("tenant_id"))
        .col(name)
        .col(timestamp_with_time_zone("created_at"))
        .col(string("kind").default("custom").to_owned())
        .col(string_null("verification_token"))
        .col(timestamp_with_time_zone_null("verified_at"))
        .col(timestamp_with_time_zone_null("checked_at"))
        .foreign_key(
            ForeignKey::create()
                .name("fk_domains_tenant")
                .from("domains_rebuilt", "tenant_id")
                .to("tenants", "id")
                .on_delete(ForeignKeyAction::Restrict),
        )
        .to_owned()
        .to_string(SqliteQueryBuilder);
    let index = Index::create()
        .name("ix_domains_tenant")
        .table("domains")
        .col("tenant_id")
        .col("id")
        .to_owned()
        .to_string(SqliteQueryBuilder);
    let batch = format!(
        "PRAGMA foreign_keys = OFF;
         BEGIN IMMEDIATE;
         {create};
         INSERT INTO domains_rebuilt ({COLUMNS}) SELECT {COLUMNS} FROM domains;
         DROP TABLE domains;
         ALTER TABLE domains_rebuilt RENAME TO domains;
         {index};
         {extra}
         COMMIT;
         PRAGMA foreign_keys = ON;"
    );
    let done = db.execute_unprepared(&batch).await;
    if done.is_err() {
        // The batch stopped inside its transaction; the connection must not stay without
        // its foreign keys.
        let _ = db.execute_unprepared("ROLLBACK").await;
        let _ = db.execute_unprepared("PRAGMA foreign_keys = ON").await;
    }
    done.map(|_| ())
}

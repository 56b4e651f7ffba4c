//! Frozen schema history.
//!
//! A migration, once released, is never edited: a change to the schema is a new migration.
//! Migrations name tables and columns as strings and never import the entities, so that a
//! later change to an entity cannot rewrite history.

use sea_orm_migration::prelude::*;

mod m0001_foundation;
mod m0002_events;
mod m0003_requests;
mod m0004_workflow;
mod m0005_webhooks;
mod m0006_tickets;
mod m0007_consultations;
mod m0008_catalogue;
mod m0009_directory;
mod m0010_idempotency;
mod m0011_retention;
mod m0012_lifecycle;
mod m0013_address_updates;
mod m0014_domain_claims;
mod m0015_suspensions;
mod m0016_mailbox_undelete;
mod m0017_mail_backends;

/// Applies Mailplane's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_foundation::Migration),
            Box::new(m0002_events::Migration),
            Box::new(m0003_requests::Migration),
            Box::new(m0004_workflow::Migration),
            Box::new(m0005_webhooks::Migration),
            Box::new(m0006_tickets::Migration),
            Box::new(m0007_consultations::Migration),
            Box::new(m0008_catalogue::Migration),
            Box::new(m0009_directory::Migration),
            Box::new(m0010_idempotency::Migration),
            Box::new(m0011_retention::Migration),
            Box::new(m0012_lifecycle::Migration),
            Box::new(m0013_address_updates::Migration),
            Box::new(m0014_domain_claims::Migration),
            Box::new(m0015_suspensions::Migration),
            Box::new(m0016_mailbox_undelete::Migration),
            Box::new(m0017_mail_backends::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use super::*;

    /// The catalogue and directory migrations apply to a database that already holds a
    /// tenant with a domain and a mailbox, and keep that domain usable: it counts as
    /// verified, gets a token, and its mailbox's address enters the address namespace.
    #[tokio::test]
    async fn later_migrations_apply_to_a_database_with_rows() {
        let dir = std::env::temp_dir().join(format!("mp-migrate-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = crate::sqlite::transport::DirectPool::open(&dir.join("m.db"), 1)
            .unwrap()
            .connection()
            .unwrap();
        Migrator::up(&db, Some(7)).await.unwrap();
        let (t, d, m) = (
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
        );
        let at = "2026-01-01T00:00:00+00:00";
        // UUIDs are stored as 16-byte blobs on SQLite.
        let blob = |u: uuid::Uuid| format!("X'{}'", u.simple());
        for sql in [
            format!(
                "INSERT INTO tenants (id, name, status, profile, profile_version, partner_id, created_at, updated_at) \
                 VALUES ({}, 'Old', 'active', 'hosted-exchange', 1, NULL, '{at}', '{at}')",
                blob(t)
            ),
            format!(
                "INSERT INTO domains (id, tenant_id, name, created_at) VALUES ({}, {}, 'old.example', '{at}')",
                blob(d),
                blob(t)
            ),
            format!(
                "INSERT INTO mailboxes (id, tenant_id, domain_id, local_part, address, display_name, quota_bytes, status, created_at, updated_at) \
                 VALUES ({}, {}, {}, 'a', 'a@old.example', 'A', 1024, 'enabled', '{at}', '{at}')",
                blob(m),
                blob(t),
                blob(d)
            ),
        ] {
            db.execute_unprepared(&sql).await.unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT verified_at IS NOT NULL AS verified, length(verification_token) AS token, \
                 kind FROM domains",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.try_get::<i64>("", "verified").unwrap(),
            1,
            "the old domain counts as verified"
        );
        assert_eq!(row.try_get::<i64>("", "token").unwrap(), 32);
        assert_eq!(row.try_get::<String>("", "kind").unwrap(), "custom");
        let owner = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT owner_kind FROM addresses WHERE address = 'a@old.example'",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(owner.try_get_by_index::<String>(0).unwrap(), "mailbox");
        std::fs::remove_dir_all(&dir).ok();
    }
}

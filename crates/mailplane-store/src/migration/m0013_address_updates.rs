//! Address uniqueness under UPDATE: m0009's triggers keep `addresses` in step with the rows
//! of `mailboxes`, `aliases` and `groups` as they are inserted and deleted, but a statement
//! that changes a row's address (or moves it to another tenant) bypassed them. These
//! triggers move the row's entry in `addresses`, so its key refuses a second owner there too.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables that own addresses.
const OWNERS: [&str; 3] = ["mailboxes", "aliases", "groups"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in OWNERS {
            let sql = match manager.get_database_backend() {
                DbBackend::Postgres => format!(
                    "CREATE FUNCTION mailplane_{table}_address_update() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN
                       UPDATE addresses SET address = NEW.address, tenant_id = NEW.tenant_id
                         WHERE address = OLD.address AND owner_id = OLD.id;
                       RETURN NEW;
                     END $$;
                     CREATE TRIGGER tg_{table}_address_update AFTER UPDATE OF address, tenant_id ON {table}
                       FOR EACH ROW EXECUTE FUNCTION mailplane_{table}_address_update();"
                ),
                _ => format!(
                    "CREATE TRIGGER tg_{table}_address_update AFTER UPDATE OF address, tenant_id ON {table}
                     BEGIN
                       UPDATE addresses SET address = NEW.address, tenant_id = NEW.tenant_id
                         WHERE address = OLD.address AND owner_id = OLD.id;
                     END;"
                ),
            };
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in OWNERS {
            let sql = match manager.get_database_backend() {
                DbBackend::Postgres => format!(
                    "DROP TRIGGER IF EXISTS tg_{table}_address_update ON {table};
                     DROP FUNCTION IF EXISTS mailplane_{table}_address_update();"
                ),
                _ => format!("DROP TRIGGER IF EXISTS tg_{table}_address_update"),
            };
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }
}

//! The full directory: aliases, distribution groups and their members, forwarding targets,
//! shared mailboxes, mailbox passwords and tenants' password policies.
//!
//! Every address a tenant receives mail at (a mailbox's, an alias's, a group's) is unique
//! across the platform, and the database keeps it so: triggers on `mailboxes`, `aliases` and
//! `groups` write each address into `addresses`, whose primary key refuses a second owner,
//! whatever statement inserted the row.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose rows own an address, with the kind recorded in `addresses`.
const OWNERS: [(&str, &str); 3] = [
    ("mailboxes", "mailbox"),
    ("aliases", "alias"),
    ("groups", "group"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("addresses")
                    .col(string("address").primary_key())
                    .col(uuid("tenant_id"))
                    .col(string("owner_kind"))
                    .col(uuid("owner_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_addresses_tenant")
                    .table("addresses")
                    .col("tenant_id")
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO addresses (address, tenant_id, owner_kind, owner_id)
             SELECT address, tenant_id, 'mailbox', id FROM mailboxes",
        )
        .await?;
        // SQLite adds one column per statement.
        for def in [
            string("kind").default("user").to_owned(),
            string_null("forward_to").to_owned(),
            timestamp_with_time_zone_null("password_set_at").to_owned(),
        ] {
            manager
                .alter_table(Table::alter().table("mailboxes").add_column(def).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .add_column(text_null("password_policy"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("mailbox_passwords")
                    .col(pk_uuid("id"))
                    .col(uuid("mailbox_id"))
                    .col(string("hash"))
                    .col(timestamp_with_time_zone("set_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mailbox_passwords_mailbox")
                            .from("mailbox_passwords", "mailbox_id")
                            .to("mailboxes", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mailbox_passwords_mailbox")
                    .table("mailbox_passwords")
                    .col("mailbox_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("aliases")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(uuid("mailbox_id"))
                    .col(uuid("domain_id"))
                    .col(string("address"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_aliases_mailbox")
                            .from("aliases", "mailbox_id")
                            .to("mailboxes", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_aliases_domain")
                            .from("aliases", "domain_id")
                            .to("domains", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("groups")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(uuid("domain_id"))
                    .col(string("address"))
                    .col(string("display_name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_groups_tenant")
                            .from("groups", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_groups_domain")
                            .from("groups", "domain_id")
                            .to("domains", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("group_members")
                    .col(pk_uuid("id"))
                    .col(uuid("group_id"))
                    .col(uuid_null("mailbox_id"))
                    .col(string_null("external_address"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_group_members_group")
                            .from("group_members", "group_id")
                            .to("groups", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_group_members_mailbox")
                            .from("group_members", "mailbox_id")
                            .to("mailboxes", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // Exactly one of a mailbox and an external address.
                    .check((
                        "ck_group_members_one",
                        Expr::cust("(mailbox_id IS NULL) <> (external_address IS NULL)"),
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ux_group_members_mailbox", "mailbox_id"),
            ("ux_group_members_external", "external_address"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("group_members")
                        .col("group_id")
                        .col(col)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        for (table, kind) in OWNERS {
            let (insert, delete) = address_triggers(manager.get_database_backend(), table, kind);
            db.execute_unprepared(&insert).await?;
            db.execute_unprepared(&delete).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (table, _) in OWNERS {
            match manager.get_database_backend() {
                DbBackend::Postgres => {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS tg_{table}_address_insert ON {table};
                         DROP TRIGGER IF EXISTS tg_{table}_address_delete ON {table};
                         DROP FUNCTION IF EXISTS mailplane_{table}_address_insert();
                         DROP FUNCTION IF EXISTS mailplane_{table}_address_delete();"
                    ))
                    .await?;
                }
                _ => {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS tg_{table}_address_insert"
                    ))
                    .await?;
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS tg_{table}_address_delete"
                    ))
                    .await?;
                }
            }
        }
        for t in [
            "group_members",
            "groups",
            "aliases",
            "mailbox_passwords",
            "addresses",
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        for col in ["kind", "forward_to", "password_set_at"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("mailboxes")
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .drop_column("password_policy")
                    .to_owned(),
            )
            .await
    }
}

/// The statements that keep `addresses` in step with one owning table.
fn address_triggers(backend: DbBackend, table: &str, kind: &str) -> (String, String) {
    match backend {
        DbBackend::Postgres => (
            format!(
                "CREATE FUNCTION mailplane_{table}_address_insert() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                   INSERT INTO addresses (address, tenant_id, owner_kind, owner_id)
                   VALUES (NEW.address, NEW.tenant_id, '{kind}', NEW.id);
                   RETURN NEW;
                 END $$;
                 CREATE TRIGGER tg_{table}_address_insert AFTER INSERT ON {table}
                   FOR EACH ROW EXECUTE FUNCTION mailplane_{table}_address_insert();"
            ),
            format!(
                "CREATE FUNCTION mailplane_{table}_address_delete() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                   DELETE FROM addresses WHERE address = OLD.address AND owner_id = OLD.id;
                   RETURN OLD;
                 END $$;
                 CREATE TRIGGER tg_{table}_address_delete AFTER DELETE ON {table}
                   FOR EACH ROW EXECUTE FUNCTION mailplane_{table}_address_delete();"
            ),
        ),
        _ => (
            format!(
                "CREATE TRIGGER tg_{table}_address_insert AFTER INSERT ON {table}
                 BEGIN
                   INSERT INTO addresses (address, tenant_id, owner_kind, owner_id)
                   VALUES (NEW.address, NEW.tenant_id, '{kind}', NEW.id);
                 END;"
            ),
            format!(
                "CREATE TRIGGER tg_{table}_address_delete AFTER DELETE ON {table}
                 BEGIN
                   DELETE FROM addresses WHERE address = OLD.address AND owner_id = OLD.id;
                 END;"
            ),
        ),
    }
}

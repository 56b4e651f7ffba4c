//! The catalogue on tenants and domains, and licence subscriptions with their seat
//! invariants.
//!
//! A tenant records its slug (the left label of its default domain), the region it was
//! placed in and the preference stated for it, and its offer. A domain records whether it is
//! the tenant's default domain and its verification state. The seat invariants live in the
//! database, not only in code: `assigned` is kept by triggers on `licence_assignments`, and
//! checks refuse `assigned > seats` and `seats < minimum_seats`, so that concurrent
//! assignments can never oversell a subscription on either backend.
//!
//! Columns added to existing tables are nullable: tenants created before the catalogue
//! existed have no slug, region, offer or default domain. Their domains, which carried
//! addresses before verification existed, count as verified since they were added.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for col in ["slug", "region", "region_preference", "offer"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("tenants")
                        .add_column(string_null(col))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ux_tenants_slug")
                    .table("tenants")
                    .col("slug")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("domains")
                    .add_column(string("kind").default("custom"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("domains")
                    .add_column(string_null("verification_token"))
                    .to_owned(),
            )
            .await?;
        for col in ["verified_at", "checked_at"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("domains")
                        .add_column(timestamp_with_time_zone_null(col))
                        .to_owned(),
                )
                .await?;
        }
        // Domains added before verification existed keep carrying their addresses: they count
        // as verified since they were added, and get a token so that their records can be
        // shown and checked like any other.
        let db = manager.get_connection();
        db.execute_unprepared("UPDATE domains SET verified_at = created_at")
            .await?;
        db.execute_unprepared(match manager.get_database_backend() {
            DbBackend::Postgres => {
                "UPDATE domains SET verification_token = md5(random()::text || id::text)"
            }
            _ => "UPDATE domains SET verification_token = lower(hex(randomblob(16)))",
        })
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("subscriptions")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(string("sku"))
                    .col(integer("seats"))
                    .col(integer("minimum_seats"))
                    .col(integer("assigned").default(0))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_subscriptions_tenant")
                            .from("subscriptions", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .check((
                        "ck_subscriptions_minimum",
                        Expr::col("seats").gte(Expr::col("minimum_seats")),
                    ))
                    .check((
                        "ck_subscriptions_assigned",
                        Expr::col("assigned").lte(Expr::col("seats")),
                    ))
                    .check(("ck_subscriptions_counted", Expr::col("assigned").gte(0)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_subscriptions_tenant_sku")
                    .table("subscriptions")
                    .col("tenant_id")
                    .col("sku")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("licence_assignments")
                    .col(uuid("subscription_id"))
                    .col(uuid("mailbox_id"))
                    .col(uuid("tenant_id"))
                    .col(timestamp_with_time_zone("assigned_at"))
                    .primary_key(Index::create().col("subscription_id").col("mailbox_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_licence_assignments_subscription")
                            .from("licence_assignments", "subscription_id")
                            .to("subscriptions", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_licence_assignments_mailbox")
                            .from("licence_assignments", "mailbox_id")
                            .to("mailboxes", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_licence_assignments_mailbox")
                    .table("licence_assignments")
                    .col("mailbox_id")
                    .to_owned(),
            )
            .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION mailplane_count_licences() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN
                       IF TG_OP = 'INSERT' THEN
                         UPDATE subscriptions SET assigned = assigned + 1 WHERE id = NEW.subscription_id;
                         RETURN NEW;
                       ELSE
                         UPDATE subscriptions SET assigned = assigned - 1 WHERE id = OLD.subscription_id;
                         RETURN OLD;
                       END IF;
                     END $$;
                     CREATE TRIGGER tg_licence_assignments_count
                       AFTER INSERT OR DELETE ON licence_assignments
                       FOR EACH ROW EXECUTE FUNCTION mailplane_count_licences();",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(
                    "CREATE TRIGGER tg_licence_assignments_insert AFTER INSERT ON licence_assignments
                     BEGIN
                       UPDATE subscriptions SET assigned = assigned + 1 WHERE id = NEW.subscription_id;
                     END;",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER tg_licence_assignments_delete AFTER DELETE ON licence_assignments
                     BEGIN
                       UPDATE subscriptions SET assigned = assigned - 1 WHERE id = OLD.subscription_id;
                     END;",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["licence_assignments", "subscriptions"] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS mailplane_count_licences()")
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ux_tenants_slug")
                    .table("tenants")
                    .to_owned(),
            )
            .await?;
        for col in ["slug", "region", "region_preference", "offer"] {
            manager
                .alter_table(Table::alter().table("tenants").drop_column(col).to_owned())
                .await?;
        }
        for col in ["kind", "verification_token", "verified_at", "checked_at"] {
            manager
                .alter_table(Table::alter().table("domains").drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}

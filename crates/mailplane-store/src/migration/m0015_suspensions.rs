//! Suspensions of a tenant or of one of its mailboxes, each with its reason, and the dunning
//! ladder's traces.
//!
//! A row is one suspension, active until it is lifted; a tenant or a mailbox is suspended
//! while any of its rows is active. A partial unique index keeps one active suspension per
//! subject (the mailbox, or the tenant when the row names no mailbox) and reason, so that two
//! placements of the same reason at once cannot both commit. A tenant's suspension for
//! non-payment carries the end of its grace and, once the ladder ended the contract, the
//! termination it opened. A termination for cause (`contract.end`) records its reason and
//! note in two new columns of `terminations` (absent on a customer's own termination).

use sea_orm::ConnectionTrait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The partial unique index over the active suspensions' subject and reason.
pub const ACTIVE_INDEX: &str = "ux_suspensions_active";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("suspensions")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(uuid_null("mailbox_id"))
                    .col(string("reason"))
                    .col(text_null("note"))
                    .col(string("placed_by"))
                    .col(string("placed_by_party"))
                    .col(timestamp_with_time_zone("placed_at"))
                    .col(timestamp_with_time_zone_null("lifted_at"))
                    .col(string_null("lifted_by"))
                    .col(string_null("lifted_by_party"))
                    .col(text_null("lift_note"))
                    .col(timestamp_with_time_zone_null("grace_ends_at"))
                    .col(uuid_null("termination_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_suspensions_tenant")
                            .from("suspensions", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_suspensions_tenant")
                    .table("suspensions")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE UNIQUE INDEX {ACTIVE_INDEX} ON suspensions \
                 (tenant_id, COALESCE(mailbox_id, tenant_id), reason) WHERE lifted_at IS NULL"
            ))
            .await?;
        // SQLite adds one column per statement.
        for column in [string_null("cause"), text_null("cause_note")] {
            manager
                .alter_table(
                    Table::alter()
                        .table("terminations")
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["cause", "cause_note"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("terminations")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table("suspensions").to_owned())
            .await
    }
}

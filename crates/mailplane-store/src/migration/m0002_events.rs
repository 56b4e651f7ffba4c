//! The event feed: one row per executed change, addressed to the parties that are owed it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("events")
                    // The audit row's position: events share the audit chain's order.
                    .col(big_integer("seq").primary_key())
                    .col(uuid_uniq("id"))
                    .col(timestamp_with_time_zone("at"))
                    .col(uuid_null("tenant_id"))
                    .col(string("activity"))
                    .col(string("actor"))
                    .col(string("actor_party"))
                    .col(string("target_kind"))
                    .col(string("target_id"))
                    .col(string("outcome"))
                    .col(boolean("for_customer"))
                    .col(boolean("for_partner"))
                    .col(boolean("for_provider"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_events_tenant")
                    .table("events")
                    .col("tenant_id")
                    .col("seq")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("events").to_owned())
            .await
    }
}

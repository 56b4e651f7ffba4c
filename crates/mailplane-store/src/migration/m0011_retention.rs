//! Retention policies, legal holds and the record of what retention deleted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("retention_policies")
                    .col(uuid("tenant_id").primary_key())
                    .col(integer_null("delete_after_days"))
                    .col(integer_null("keep_at_least_days"))
                    .col(boolean("locked"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_retention_policies_tenant")
                            .from("retention_policies", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("legal_holds")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(uuid_null("mailbox_id"))
                    .col(text("reason"))
                    .col(string("placed_by"))
                    .col(string("placed_by_party"))
                    .col(timestamp_with_time_zone("placed_at"))
                    .col(timestamp_with_time_zone_null("released_at"))
                    .col(string_null("released_by"))
                    .col(text_null("release_reason"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_legal_holds_tenant")
                            .from("legal_holds", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_legal_holds_tenant")
                    .table("legal_holds")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("retention_runs")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(uuid("mailbox_id"))
                    .col(timestamp_with_time_zone("at"))
                    .col(big_integer("deleted_messages"))
                    .col(big_integer("deleted_bytes"))
                    .col(uuid_null("blocked_by"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_retention_runs_tenant")
                    .table("retention_runs")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["retention_runs", "legal_holds", "retention_policies"] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}

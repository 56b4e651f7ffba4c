//! Requests: work the accountable party asks of the responsible party (A without R).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("requests")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(string("activity"))
                    .col(string("profile"))
                    .col(integer("profile_version"))
                    .col(text("payload"))
                    .col(text("note"))
                    .col(string("state"))
                    .col(string("requester"))
                    .col(string("requester_party"))
                    .col(string("requester_org"))
                    .col(string("responsible"))
                    .col(string_null("decided_by"))
                    .col(text_null("reason"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_requests_tenant")
                            .from("requests", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_requests_tenant")
                    .table("requests")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_requests_state")
                    .table("requests")
                    .col("state")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("requests").to_owned())
            .await
    }
}

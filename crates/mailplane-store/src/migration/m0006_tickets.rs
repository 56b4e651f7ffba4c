//! Tickets: incidents a customer reports and the provider handles, with their history.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tickets")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(string("title"))
                    .col(text("description"))
                    .col(string("severity"))
                    .col(string("state"))
                    .col(string("opened_by"))
                    .col(string("opened_by_party"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tickets_tenant")
                            .from("tickets", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tickets_tenant")
                    .table("tickets")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("ticket_updates")
                    .col(pk_uuid("id"))
                    .col(uuid("ticket_id"))
                    .col(timestamp_with_time_zone("at"))
                    .col(string("author"))
                    .col(string("party"))
                    .col(string_null("state"))
                    .col(string_null("severity"))
                    .col(text("comment"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ticket_updates_ticket")
                            .from("ticket_updates", "ticket_id")
                            .to("tickets", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_ticket_updates_ticket")
                    .table("ticket_updates")
                    .col("ticket_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["ticket_updates", "tickets"] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}

//! Webhooks: each organisation's receivers, the deliveries taken from the event outbox, and
//! the log of every attempt.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhooks")
                    .col(pk_uuid("id"))
                    // The owning organisation (`provider`, `partner:<id>`, `tenant:<id>`).
                    .col(string("org"))
                    .col(text("url"))
                    // The HMAC key; needed in clear to sign, never returned after creation.
                    .col(string("secret"))
                    .col(boolean("active"))
                    // The last event seq copied into deliveries for this webhook.
                    .col(big_integer("cursor_seq"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhooks_org")
                    .table("webhooks")
                    .col("org")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_deliveries")
                    .col(pk_uuid("id"))
                    .col(uuid("webhook_id"))
                    .col(big_integer("event_seq"))
                    .col(uuid("event_id"))
                    // `pending`, `delivered` or `failed` (attempts exhausted).
                    .col(string("state"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    // A worker's claim: until when, and which claim, so that a late
                    // worker cannot record over a newer one.
                    .col(timestamp_with_time_zone_null("leased_until"))
                    .col(uuid_null("lease"))
                    .col(integer_null("last_status"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deliveries_webhook")
                            .from("webhook_deliveries", "webhook_id")
                            .to("webhooks", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_deliveries_webhook_event")
                    .table("webhook_deliveries")
                    .col("webhook_id")
                    .col("event_seq")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_deliveries_due")
                    .table("webhook_deliveries")
                    .col("state")
                    .col("next_attempt_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_attempts")
                    .col(pk_uuid("id"))
                    .col(uuid("delivery_id"))
                    .col(integer("attempt"))
                    .col(timestamp_with_time_zone("at"))
                    .col(integer_null("status"))
                    .col(text_null("error"))
                    .col(big_integer("duration_ms"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_attempts_delivery")
                            .from("webhook_attempts", "delivery_id")
                            .to("webhook_deliveries", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_attempts_delivery")
                    .table("webhook_attempts")
                    .col("delivery_id")
                    .col("attempt")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["webhook_attempts", "webhook_deliveries", "webhooks"] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}

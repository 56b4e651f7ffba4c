//! The workflow around requests: proposals beside requests, the operation a request carries,
//! its deadline and result, the request id on the audit rows and events it caused, and the
//! customer-managed API credentials that the first automated activity registers.
//!
//! SQLite alters one column per statement, so each column is its own `ALTER TABLE`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let request_columns = [
            // `request` (A without R asks R) or `proposal` (R without A asks A).
            string("kind").default("request").to_owned(),
            // The operation the request carries out when fulfilled or approved (absent:
            // the request describes work done outside Mailplane).
            string_null("operation").to_owned(),
            // The parties whose answer the request waits for.
            string("addressed_to").default("").to_owned(),
            // The requester's roles, so that an approved proposal runs with them.
            string("requester_roles").default("").to_owned(),
            // When a pending request expires.
            timestamp_with_time_zone_null("expires_at").to_owned(),
            // What fulfilment produced (the kind and id of the object), as JSON.
            text_null("result").to_owned(),
        ];
        for col in request_columns {
            manager
                .alter_table(Table::alter().table("requests").add_column(col).to_owned())
                .await?;
        }
        // Requests filed before proposals existed wait for their responsible parties.
        manager
            .get_connection()
            .execute_unprepared("UPDATE requests SET addressed_to = responsible")
            .await?;
        for table in ["audit_log", "events"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(uuid_null("request_id"))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("api_credentials")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(string("name"))
                    .col(string("roles"))
                    // The customer's Ed25519 public key (SPKI PEM); the private key never
                    // reaches Mailplane.
                    .col(text("public_key"))
                    .col(string("fingerprint"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_credentials_tenant")
                            .from("api_credentials", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_api_credentials_tenant")
                    .table("api_credentials")
                    .col("tenant_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_requests_expiry")
                    .table("requests")
                    .col("state")
                    .col("expires_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("api_credentials").to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_requests_expiry")
                    .table("requests")
                    .to_owned(),
            )
            .await?;
        for table in ["audit_log", "events"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column("request_id")
                        .to_owned(),
                )
                .await?;
        }
        for col in [
            "kind",
            "addressed_to",
            "operation",
            "requester_roles",
            "expires_at",
            "result",
        ] {
            manager
                .alter_table(Table::alter().table("requests").drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}

//! The undelete window: a deleted mailbox is kept, with its address, aliases and group
//! memberships, until its window closes or, under a legal hold, until every hold is
//! released; then its data is destroyed and a signed receipt says so.
//!
//! `mailbox_deletions` holds one row per mailbox that is `deleted` or `inactive`: when and
//! by whom it was deleted, the status and licences it had before (a restore gives them back), and when its
//! window closes (`purge_after`, empty while a hold keeps it inactive). The row goes with the
//! mailbox (a foreign key that cascades). `mailbox_receipts` holds the signed destruction
//! receipt of each mailbox whose window closed: the mailbox row is gone by then, so the
//! receipt names it by id and address, and a late restore names the receipt.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("mailbox_deletions")
                    .col(pk_uuid("mailbox_id"))
                    .col(uuid("tenant_id"))
                    .col(string("prior_status"))
                    .col(string("licences"))
                    .col(timestamp_with_time_zone("deleted_at"))
                    .col(string("deleted_by"))
                    .col(timestamp_with_time_zone_null("purge_after"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mailbox_deletions_mailbox")
                            .from("mailbox_deletions", "mailbox_id")
                            .to("mailboxes", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mailbox_deletions_tenant")
                            .from("mailbox_deletions", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mailbox_deletions_tenant")
                    .table("mailbox_deletions")
                    .col("tenant_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("mailbox_receipts")
                    .col(pk_uuid("id"))
                    .col(uuid("tenant_id"))
                    .col(uuid_uniq("mailbox_id"))
                    .col(string("address"))
                    .col(timestamp_with_time_zone("issued_at"))
                    .col(text("document"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mailbox_receipts_tenant")
                            .from("mailbox_receipts", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("mailbox_receipts").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("mailbox_deletions").to_owned())
            .await?;
        Ok(())
    }
}

//! Several Dovecot back ends per region: the back end a tenant's mail is placed on.
//!
//! `tenants.mail_backend` names a back end of the deployment's mail hosts file, or is null:
//! a tenant of a region with one back end, or not placed yet (placement happens at the
//! tenant's first need, see `mailplane::data_plane::regions`). A count of the tenants per
//! back end balances placement, so the column is indexed.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .add_column(ColumnDef::new("mail_backend").text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tenants_mail_backend")
                    .table("tenants")
                    .col("mail_backend")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_tenants_mail_backend")
                    .table("tenants")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .drop_column("mail_backend")
                    .to_owned(),
            )
            .await
    }
}

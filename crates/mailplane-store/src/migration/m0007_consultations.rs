//! Consultations: the answers of the consulted parties, kept on the request they answer.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("requests")
                    // A JSON array of answers, one per consulted party; written under the
                    // request's row lock, so two answers never overwrite each other.
                    .add_column(text("answers").default("[]"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("requests")
                    .drop_column("answers")
                    .to_owned(),
            )
            .await
    }
}

//! The `mailbox_deletions` table: a deleted or inactive mailbox's deletion, until it is
//! restored or its data destroyed.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mailbox_deletions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub mailbox_id: Uuid,
    pub tenant_id: Uuid,
    pub prior_status: String,
    pub licences: String,
    pub deleted_at: TimeDateTimeWithTimeZone,
    pub deleted_by: String,
    pub purge_after: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

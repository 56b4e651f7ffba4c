//! The `licence_assignments` table: which mailbox holds a seat of which subscription.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "licence_assignments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub subscription_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub mailbox_id: Uuid,
    pub tenant_id: Uuid,
    pub assigned_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

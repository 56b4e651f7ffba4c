//! The `suspensions` table: suspensions of a tenant or of one of its mailboxes, lifted or not.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "suspensions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub mailbox_id: Option<Uuid>,
    pub reason: String,
    pub note: Option<String>,
    pub placed_by: String,
    pub placed_by_party: String,
    pub placed_at: TimeDateTimeWithTimeZone,
    pub lifted_at: Option<TimeDateTimeWithTimeZone>,
    pub lifted_by: Option<String>,
    pub lifted_by_party: Option<String>,
    pub lift_note: Option<String>,
    pub grace_ends_at: Option<TimeDateTimeWithTimeZone>,
    pub termination_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

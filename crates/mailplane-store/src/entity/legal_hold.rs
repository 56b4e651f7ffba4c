//! The `legal_holds` table: legal holds on a mailbox or a whole tenant, released or not.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "legal_holds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub mailbox_id: Option<Uuid>,
    pub reason: String,
    pub placed_by: String,
    pub placed_by_party: String,
    pub placed_at: TimeDateTimeWithTimeZone,
    pub released_at: Option<TimeDateTimeWithTimeZone>,
    pub released_by: Option<String>,
    pub release_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

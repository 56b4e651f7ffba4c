//! The `exports` table: exports of a mailbox or a whole tenant, and their download window.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "exports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub mailbox_id: Option<Uuid>,
    pub format: String,
    pub state: String,
    pub requested_by: String,
    pub requested_by_party: String,
    pub created_at: TimeDateTimeWithTimeZone,
    pub ready_at: Option<TimeDateTimeWithTimeZone>,
    pub expires_at: Option<TimeDateTimeWithTimeZone>,
    pub manifest: Option<String>,
    pub acknowledged_at: Option<TimeDateTimeWithTimeZone>,
    pub acknowledged_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! The `requests` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub activity: String,
    pub profile: String,
    pub profile_version: i32,
    pub payload: String,
    pub note: String,
    pub state: String,
    pub requester: String,
    pub requester_party: String,
    pub requester_org: String,
    pub responsible: String,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
    pub kind: String,
    pub operation: Option<String>,
    pub addressed_to: String,
    pub requester_roles: String,
    pub expires_at: Option<TimeDateTimeWithTimeZone>,
    pub result: Option<String>,
    pub answers: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! The `audit_log` table: append-only, hash chained.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub id: Uuid,
    pub at: TimeDateTimeWithTimeZone,
    pub actor: String,
    pub party: String,
    pub org: String,
    pub roles: String,
    pub activity: String,
    pub letters: String,
    pub tenant_id: Option<Uuid>,
    pub target_kind: String,
    pub target_id: String,
    pub outcome: String,
    pub prev_hash: String,
    pub hash: String,
    pub request_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

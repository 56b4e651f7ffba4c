//! The `events` table: the feed of executed changes, with its audience.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub id: Uuid,
    pub at: TimeDateTimeWithTimeZone,
    pub tenant_id: Option<Uuid>,
    pub activity: String,
    pub actor: String,
    pub actor_party: String,
    pub target_kind: String,
    pub target_id: String,
    pub outcome: String,
    pub for_customer: bool,
    pub for_partner: bool,
    pub for_provider: bool,
    pub request_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! The `terminations` table: a tenant's end of service, its dates, and the certificate.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "terminations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub state: String,
    pub requested_by: String,
    pub requested_by_party: String,
    pub terminated_at: TimeDateTimeWithTimeZone,
    pub export_window_days: i32,
    pub window_ends_at: TimeDateTimeWithTimeZone,
    pub blocked_by: String,
    pub cancelled_at: Option<TimeDateTimeWithTimeZone>,
    pub cancelled_by: Option<String>,
    pub configuration_destroyed_at: Option<TimeDateTimeWithTimeZone>,
    pub data_destroyed_at: Option<TimeDateTimeWithTimeZone>,
    pub files_removed_at: Option<TimeDateTimeWithTimeZone>,
    pub closed_at: Option<TimeDateTimeWithTimeZone>,
    pub snapshot: Option<String>,
    pub erasure: Option<String>,
    pub certificate: Option<String>,
    pub cause: Option<String>,
    pub cause_note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

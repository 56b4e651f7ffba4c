//! The `jobs` table: durable jobs, the step each is at, and the lease of the worker running it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub subject: Uuid,
    pub tenant_id: Option<Uuid>,
    pub step: String,
    pub state: String,
    pub run_after: TimeDateTimeWithTimeZone,
    pub lease_owner: Option<String>,
    pub lease_until: Option<TimeDateTimeWithTimeZone>,
    pub attempts: i32,
    pub progress: String,
    pub last_error: Option<String>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

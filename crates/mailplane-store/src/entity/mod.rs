//! sea-orm entities: one module per table, rows as the database sees them.
//!
//! Entities are private to the store; callers receive the resource types of
//! `mailplane-types`.

pub mod address;
pub mod alias;
pub mod api_credential;
pub mod audit_head;
pub mod audit_log;
pub mod domain;
pub mod event;
pub mod export;
pub mod group;
pub mod group_member;
pub mod idempotency_key;
pub mod job;
pub mod job_step;
pub mod legal_hold;
pub mod licence_assignment;
pub mod mailbox;
pub mod mailbox_password;
pub mod partner;
pub mod request;
pub mod retention_policy;
pub mod retention_run;
pub mod subscription;
pub mod tenant;
pub mod termination;
pub mod ticket;
pub mod ticket_update;
pub mod webhook;
pub mod webhook_attempt;
pub mod webhook_delivery;

use sea_orm::sea_query::ColumnType;
use sea_orm::{ColumnTrait, EntityTrait, IdenStatic, Iterable};

/// Every entity's columns as `(table, column, type)`: how `direct.rs` decodes a value read
/// from a table column into the type its model field expects.
pub(crate) fn column_types() -> Vec<(&'static str, &'static str, ColumnType)> {
    fn columns_of<E: EntityTrait + Default>(
        out: &mut Vec<(&'static str, &'static str, ColumnType)>,
    ) {
        let table = E::default().table_name();
        for column in E::Column::iter() {
            out.push((
                table,
                column.as_str(),
                column.def().get_column_type().clone(),
            ));
        }
    }
    let mut out = Vec::new();
    macro_rules! entities {
        ($($module:ident),* $(,)?) => { $( columns_of::<$module::Entity>(&mut out); )* };
    }
    entities!(
        address,
        alias,
        api_credential,
        audit_head,
        audit_log,
        domain,
        event,
        export,
        group,
        group_member,
        idempotency_key,
        job,
        job_step,
        legal_hold,
        licence_assignment,
        mailbox,
        mailbox_password,
        partner,
        request,
        retention_policy,
        retention_run,
        subscription,
        tenant,
        termination,
        ticket,
        ticket_update,
        webhook,
        webhook_attempt,
        webhook_delivery,
    );
    out
}

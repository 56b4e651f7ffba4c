//! sea-orm entities: one module per table, rows as the database sees them.
//!
//! Entities are private to the store; callers receive the resource types of
//! `mailplane-types`.
//!
//! **One list of entities.** The [`entities!`] invocation below is the only place an entity
//! is named: it declares the modules and builds [`column_types`], which the SQLite transport
//! (`sqlite/values.rs`) decodes every value with. A module missing from it is not compiled
//! at all, and a test compares the list with the files of this folder, so that a new table
//! cannot be written on PostgreSQL yet read with the wrong types on SQLite.

use sea_orm::sea_query::ColumnType;
use sea_orm::{ColumnTrait, EntityTrait, IdenStatic, Iterable};

/// Declares each entity module and the functions that must cover every entity, from one
/// list.
macro_rules! entities {
    ($($module:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// The names of the entity modules, as listed.
        #[cfg(test)]
        pub(crate) const MODULES: &[&str] = &[$(stringify!($module)),*];

        /// Every entity's columns as `(table, column, type)`: how the SQLite transport
        /// (`sqlite/values.rs`) decodes a value read from a table column into the type its
        /// model field expects.
        pub(crate) fn column_types() -> Vec<(&'static str, &'static str, ColumnType)> {
            let mut out = Vec::new();
            $( columns_of::<$module::Entity>(&mut out); )*
            out
        }
    };
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
    mailbox_deletion,
    mailbox_password,
    mailbox_receipt,
    partner,
    request,
    retention_policy,
    retention_run,
    subscription,
    suspension,
    tenant,
    termination,
    ticket,
    ticket_update,
    webhook,
    webhook_attempt,
    webhook_delivery,
);

/// Appends the columns of the entity `E` to `out`.
fn columns_of<E: EntityTrait + Default>(out: &mut Vec<(&'static str, &'static str, ColumnType)>) {
    let table = E::default().table_name();
    for column in E::Column::iter() {
        out.push((
            table,
            column.as_str(),
            column.def().get_column_type().clone(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of `src/entity/` is an entity of the one list, and the list names no other.
    #[test]
    fn the_entity_list_names_every_file_of_the_folder() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/entity");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("the entity folder is readable")
            .map(|e| {
                e.expect("a folder entry")
                    .file_name()
                    .into_string()
                    .unwrap()
            })
            .filter(|name| name != "mod.rs")
            .filter_map(|name| name.strip_suffix(".rs").map(str::to_string))
            .collect();
        files.sort();
        let mut listed: Vec<String> = MODULES.iter().map(|m| m.to_string()).collect();
        listed.sort();
        assert_eq!(
            files, listed,
            "every file of src/entity/ must be in the `entities!` list of entity/mod.rs"
        );
    }

    /// Every listed entity has its columns typed for the SQLite transport.
    #[test]
    fn every_listed_entity_has_its_columns_typed() {
        let tables: std::collections::BTreeSet<&str> =
            column_types().iter().map(|(table, _, _)| *table).collect();
        assert_eq!(tables.len(), MODULES.len());
    }
}

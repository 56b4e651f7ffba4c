//! Frozen schema history.
//!
//! A migration, once released, is never edited: a change to the schema is a new migration.
//! Migrations name tables and columns as strings and never import the entities, so that a
//! later change to an entity cannot rewrite history.

use sea_orm_migration::prelude::*;

mod m0001_foundation;
mod m0002_events;
mod m0003_requests;
mod m0004_workflow;
mod m0005_webhooks;
mod m0006_tickets;
mod m0007_consultations;
mod m0008_catalogue;
mod m0009_directory;
mod m0010_idempotency;

/// Applies Mailplane's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_foundation::Migration),
            Box::new(m0002_events::Migration),
            Box::new(m0003_requests::Migration),
            Box::new(m0004_workflow::Migration),
            Box::new(m0005_webhooks::Migration),
            Box::new(m0006_tickets::Migration),
            Box::new(m0007_consultations::Migration),
            Box::new(m0008_catalogue::Migration),
            Box::new(m0009_directory::Migration),
            Box::new(m0010_idempotency::Migration),
        ]
    }
}

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

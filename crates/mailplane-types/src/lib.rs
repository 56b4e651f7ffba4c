//! Mailplane's vocabulary, shared by every other crate.
//!
//! This crate exists so that the policy engine, the store, the library facade and the HTTP
//! layer speak about the same things with the same types: typed ids, validated names, the
//! three parties, the four RACI duties, activity ids, and the one transport-agnostic
//! [`Error`]. It does no I/O.

pub mod audit;
pub mod catalogue;
pub mod dns;
pub mod duty;
pub mod error;
pub mod ids;
pub mod inventory;
pub mod lifecycle;
pub mod limits;
pub mod names;
pub mod party;
pub mod passwords;
pub mod recent;
pub mod resources;
pub mod retention;
pub mod suspensions;
pub mod text;

pub use audit::{AuditOutcome, AuditTarget};
pub use duty::{Duty, Letters};
pub use error::{Error, FieldError, PartyLetters, Refusal, Result};
pub use ids::{
    AliasId, AuditId, BatchId, CredentialId, DeliveryId, DomainId, EventId, ExportId, GroupId,
    HoldId, JobId, MailboxId, OrgId, PartnerId, RequestId, RetentionRunId, SubscriptionId,
    SuspensionId, TenantId, TerminationId, TicketId, WebhookId,
};
pub use names::{ActivityId, DomainName, EmailAddress, LocalPart};
pub use party::Party;
pub use text::TextKind;

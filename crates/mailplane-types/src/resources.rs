//! The resources Mailplane manages, as callers see them.
//!
//! The store converts its rows into these, the library returns them, and the HTTP layer
//! serialises them; none of them knows where it came from.
//!
//! One module per resource, named as in the other layers; every type is re-exported here, so
//! `mailplane_types::resources::Mailbox` is the path callers use.

mod audit;
mod catalogue;
mod credentials;
mod directory;
mod domains;
mod mailboxes;
mod partners;
mod requests;
mod tenants;
mod tickets;
mod webhooks;

pub use audit::{AuditEntry, Event};
pub use catalogue::Subscription;
pub use credentials::Credential;
pub use directory::{Alias, Group, GroupMember};
pub use domains::Domain;
pub use mailboxes::{Mailbox, MailboxKind, MailboxStatus};
pub use partners::Partner;
pub use requests::{ConsultationAnswer, Request, RequestKind, RequestState};
pub use tenants::{Tenant, TenantStatus};
pub use tickets::{Severity, Ticket, TicketState, TicketUpdate};
pub use webhooks::{Delivery, DeliveryAttempt, DeliveryState, Webhook, WebhookCreated};

//! A tenant's inventory: what it holds of the service at one moment, in one document.
//!
//! The inventory exists for `inventory.provide` ("provide an inventory of the service in
//! use"): the provider hands the customer a statement of its offer, region, licences and
//! their assignments, domains and directory totals, which the customer can read as JSON or
//! take away as CSV. It is a read model assembled from the tenant, the catalogue and the
//! directory; nothing is stored in this shape.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::catalogue::{Offer, Region};
use crate::resources::{Subscription, TenantStatus};
use crate::{DomainId, DomainName, EmailAddress, MailboxId, PartnerId, TenantId};

/// Everything a tenant holds of the service, as of `generated_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Inventory {
    /// The tenant's id.
    pub tenant_id: TenantId,
    /// The tenant's display name.
    pub name: String,
    /// The left label of the tenant's default domain; absent only on tenants created
    /// before the catalogue existed.
    pub slug: Option<String>,
    /// The RACI profile the tenant is bound to.
    pub profile: String,
    /// The profile version the tenant is bound to.
    pub profile_version: u32,
    /// The tenant's lifecycle state.
    pub status: TenantStatus,
    /// The partner that resells to the tenant, if any.
    pub partner_id: Option<PartnerId>,
    /// The catalogue region the tenant's data lives in, if it is placed in one.
    pub region: Option<Region>,
    /// The catalogue offer the tenant is on, if it has one.
    pub offer: Option<Offer>,
    /// The tenant's licence subscriptions with their seats, in the order they were taken.
    pub subscriptions: Vec<Subscription>,
    /// Every licence assigned to a mailbox, by address and then SKU.
    pub assignments: Vec<LicenceAssignment>,
    /// Every domain of the tenant with its verification state, in the order they were added.
    pub domains: Vec<DomainState>,
    /// How many mailboxes the tenant has, and the quota they add up to.
    pub mailboxes: MailboxTotals,
    /// How many aliases the tenant's mailboxes have.
    pub aliases: u64,
    /// How many distribution groups the tenant has.
    pub groups: u64,
    /// What the tenant's mailboxes hold in its region's mail store, counted there when the
    /// inventory is taken; absent when the deployment has no data plane.
    pub storage: Option<StorageUse>,
    /// When the inventory was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
}

/// A licence seat held by a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LicenceAssignment {
    /// The mailbox that holds the seat.
    pub mailbox_id: MailboxId,
    /// The mailbox's address.
    pub address: EmailAddress,
    /// The catalogue SKU of the subscription the seat belongs to.
    pub sku: String,
    /// When the seat was assigned.
    #[serde(with = "time::serde::rfc3339")]
    pub assigned_at: OffsetDateTime,
}

/// A domain of the tenant and whether it is verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainState {
    /// The domain's id.
    pub id: DomainId,
    /// The name in lower-case A-label form.
    pub name: DomainName,
    /// Whether this is the tenant's default domain, verified by construction.
    pub default: bool,
    /// Whether the tenant proved it controls the domain.
    pub verified: bool,
    /// When the domain was verified.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub verified_at: Option<OffsetDateTime>,
}

/// Mailbox counts and quota sums of a tenant. `enabled` and `disabled` split all mailboxes
/// by status; `shared` counts the shared mailboxes whatever their status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailboxTotals {
    /// Every mailbox.
    pub total: u64,
    /// Mailboxes that receive and send mail.
    pub enabled: u64,
    /// Mailboxes that are kept but neither receive nor send.
    pub disabled: u64,
    /// Shared mailboxes (enabled or disabled), which take no licence.
    pub shared: u64,
    /// Enabled person's mailboxes: the ones that hold a seat when the offer needs licences.
    pub enabled_users: u64,
    /// The quota of every mailbox, in bytes.
    pub quota_bytes_total: i64,
    /// The quota of the enabled mailboxes, in bytes.
    pub quota_bytes_enabled: i64,
    /// The quota of the disabled mailboxes, in bytes.
    pub quota_bytes_disabled: i64,
    /// The quota of the shared mailboxes, in bytes.
    pub quota_bytes_shared: i64,
}

/// What a tenant's mailboxes hold in the mail store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StorageUse {
    /// The mailboxes counted.
    pub mailboxes: u64,
    /// The messages they hold.
    pub messages: u64,
    /// The messages' size in bytes, as the mail store counts it (the size a client reads).
    pub bytes: u64,
}

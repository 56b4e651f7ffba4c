//! Retention and legal holds, as callers see them.
//!
//! A retention policy deletes mail after a number of days, or keeps it for at least a
//! number of days, or both; a locked policy is never shortened or removed. A legal hold on
//! a mailbox or a whole tenant outranks every delete path until it is released.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{HoldId, MailboxId, Party, RetentionRunId, TenantId};

/// A tenant's retention policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionPolicy {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Mail older than this many days is deleted by the retention sweep.
    pub delete_after_days: Option<u32>,
    /// Mail is kept at least this many days: no retention deletes it sooner.
    pub keep_at_least_days: Option<u32>,
    /// A locked policy is never shortened or removed, and stays locked.
    pub locked: bool,
    /// When it was last set.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A legal hold: while active, no delete path removes the mail it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LegalHold {
    /// The hold's id.
    pub id: HoldId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The mailbox it covers; absent when it covers the whole tenant.
    pub mailbox_id: Option<MailboxId>,
    /// Why it was placed (a case, an order).
    pub reason: String,
    /// Who placed it.
    pub placed_by: String,
    /// The party of who placed it.
    pub placed_by_party: Party,
    /// When it was placed.
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    /// Whether it still holds.
    pub active: bool,
    /// When it was released.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub released_at: Option<OffsetDateTime>,
    /// Who released it.
    pub released_by: Option<String>,
    /// Why it was released.
    pub release_reason: Option<String>,
}

/// What one retention sweep did to one mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionRun {
    /// The run's id.
    pub id: RetentionRunId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The mailbox.
    pub mailbox_id: MailboxId,
    /// When it ran.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Messages deleted.
    pub deleted_messages: u64,
    /// Bytes deleted.
    pub deleted_bytes: u64,
    /// The legal hold that stopped the deletion, if one did.
    pub blocked_by: Option<HoldId>,
}

//! A tenant's subscriptions to the catalogue's licences.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{SubscriptionId, TenantId};

/// A tenant's licences of one SKU: a seat count, never below the SKU's minimum, and the
/// seats assigned to mailboxes, never above the seat count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    /// The subscription's id.
    pub id: SubscriptionId,
    /// The tenant that holds it.
    pub tenant_id: TenantId,
    /// The catalogue SKU.
    pub sku: String,
    /// Seats paid for.
    pub seats: u32,
    /// The fewest seats the subscription may hold (from the SKU when it was taken).
    pub minimum_seats: u32,
    /// Seats assigned to mailboxes.
    pub assigned: u32,
    /// Seats free to assign.
    pub free: u32,
    /// When it was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its seats last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

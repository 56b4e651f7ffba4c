//! A partner: the reseller organisations of the platform.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::PartnerId;

/// A partner: a reseller or managed-services provider with customers of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Partner {
    /// The partner's id.
    pub id: PartnerId,
    /// Display name, unique on the platform.
    pub name: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

//! A tenant and its lifecycle state.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{PartnerId, TenantId};

/// The lifecycle state of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// In service.
    Active,
    /// At least one suspension of the whole tenant is active (see `suspensions`): nobody of
    /// the tenant signs in, mail is still delivered, data is kept.
    Suspended,
    /// Out of service for good: its contract ended and its configuration was destroyed at
    /// end of service. The row remains as the tombstone; only end of service sets this.
    Terminated,
}

impl TenantStatus {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Terminated => "terminated",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<TenantStatus> {
        match s {
            "active" => Some(TenantStatus::Active),
            "suspended" => Some(TenantStatus::Suspended),
            "terminated" => Some(TenantStatus::Terminated),
            _ => None,
        }
    }
}

/// A tenant: one customer organisation, bound to a RACI profile version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Lifecycle state.
    pub status: TenantStatus,
    /// The RACI profile the tenant is bound to (`hosted-exchange`).
    pub profile: String,
    /// The profile version the tenant is bound to.
    pub profile_version: u32,
    /// The partner that resells to this tenant, if any.
    pub partner_id: Option<PartnerId>,
    /// The left label of the tenant's default domain, unique on the platform. Absent only
    /// on tenants created before the catalogue existed.
    pub slug: Option<String>,
    /// The catalogue region the tenant's data lives in. It changes only through an
    /// audited relocation (`service.location.choose`). Absent only on tenants created
    /// before the catalogue existed.
    pub region: Option<String>,
    /// The region stated as a preference when the tenant was created, if any.
    pub region_preference: Option<String>,
    /// The catalogue offer the tenant is on (`service.sizing.choose`): upgraded, never
    /// downgraded. Absent only on tenants created before the catalogue existed.
    pub offer: Option<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

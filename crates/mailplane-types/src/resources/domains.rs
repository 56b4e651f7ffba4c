//! A domain of a tenant.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{DomainId, DomainName, TenantId};

/// A domain of a tenant, unique across the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Domain {
    /// The domain's id.
    pub id: DomainId,
    /// The tenant that owns it.
    pub tenant_id: TenantId,
    /// The name in lower-case A-label form.
    pub name: DomainName,
    /// Whether this is the tenant's default domain (`<slug>.<provider mail domain>`), given
    /// at creation, verified by construction, and removed only with the tenant.
    pub default: bool,
    /// Whether the tenant proved it controls the domain; mailbox addresses, aliases and
    /// groups may use only verified domains.
    pub verified: bool,
    /// The token the customer publishes in the verification TXT record (absent on the
    /// default domain).
    pub verification_token: Option<String>,
    /// When the domain was verified.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub verified_at: Option<OffsetDateTime>,
    /// When its DNS records were last checked.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub checked_at: Option<OffsetDateTime>,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

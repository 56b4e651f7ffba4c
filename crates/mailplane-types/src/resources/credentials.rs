//! Customer-managed API credentials.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{CredentialId, TenantId};

/// A customer-managed API credential: a public key the customer registered for the control
/// plane (`access.control-plane`). The customer keeps the private key and signs its own
/// tokens with it (EdDSA, `kid` = `credential:<id>`); Mailplane never sees a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credential {
    /// The credential's id; tokens name it as `kid` = `credential:<id>`.
    pub id: CredentialId,
    /// The tenant it acts for.
    pub tenant_id: TenantId,
    /// A name for people, such as `provisioning-bot`.
    pub name: String,
    /// The customer roles a token signed with it may exercise.
    pub roles: Vec<String>,
    /// The Ed25519 public key, SPKI PEM.
    pub public_key: String,
    /// SHA-256 of the key's DER form, hex: to compare with the key pair on file.
    pub fingerprint: String,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When tokens signed with it stop being accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

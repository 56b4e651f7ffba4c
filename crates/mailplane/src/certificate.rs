//! End-of-service destruction certificates.
//!
//! When a tenant leaves and its data is destroyed by cryptographic erase, the customer and
//! its auditors need evidence that outlives the provider's own systems: a statement of what
//! was destroyed, when, how and by whom, that they can check offline years later without
//! trusting a database or a web page. This module issues that statement as a JSON document
//! signed with Ed25519, publishes the provider's public key as a JWK so it can be pinned,
//! and verifies a certificate from its bytes alone.
//!
//! The signature covers a canonical form of the `certificate` object (keys sorted at every
//! level, no insignificant whitespace) prefixed by a domain-separation string, so a
//! certificate still verifies after a tool pretty-prints or reorders it, and a signature
//! made for a certificate cannot be replayed as a signature over anything else. Verification
//! canonicalizes the object exactly as it appears in the file, not as this version of the
//! code would re-derive it, so fields this version does not know are still covered.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{
    STANDARD as BASE64, STANDARD_NO_PAD as BASE64_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::{Error, Result};

/// The only certificate format version this module issues and reads.
pub const VERSION: u32 = 1;

/// The destruction method every certificate states.
pub const METHOD: &str = "purge by cryptographic erase: the tenant's data keys and every wrapped copy destroyed, then the ciphertext removed";

/// The sanitization standard the method follows.
pub const STANDARD: &str = "NIST SP 800-88 Rev. 1";

/// The signature algorithm, as written in [`CertificateSignature::algorithm`].
pub const ALGORITHM: &str = "Ed25519";

/// The bytes prefixed to the canonical certificate before signing, so that the signing key's
/// signatures over certificates cannot be confused with signatures over anything else.
const DOMAIN: &[u8] = b"mailplane destruction certificate v1\n";

/// The statement a destruction certificate makes: everything in it is covered by the
/// signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateBody {
    /// The certificate format version; always 1.
    pub version: u32,
    /// The certificate's own id.
    pub certificate_id: Uuid,
    /// The provider that issued the certificate, by name or identifier.
    pub issuer: String,
    /// The tenant whose data was destroyed.
    pub tenant: CertifiedTenant,
    /// The tenant's mailboxes whose data was destroyed.
    pub mailboxes: Vec<CertifiedMailbox>,
    /// The number of messages destroyed.
    pub objects: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// The ids of the data keys destroyed, with every wrapped copy of each.
    pub key_ids: Vec<Uuid>,
    /// How the data was destroyed; [`METHOD`] for certificates issued by Mailplane.
    pub method: String,
    /// The standard the method follows; [`STANDARD`] for certificates issued by Mailplane.
    pub standard: String,
    /// The store that held the data and how its erase destroyed the data there; absent
    /// from certificates issued before certificates named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<CertifiedStore>,
    /// When the service was terminated.
    #[serde(with = "time::serde::rfc3339")]
    pub terminated_at: OffsetDateTime,
    /// When the tenant's configuration (domains, mailboxes, credentials) was destroyed.
    #[serde(with = "time::serde::rfc3339")]
    pub configuration_destroyed_at: OffsetDateTime,
    /// When the data keys were destroyed and the ciphertext removed.
    #[serde(with = "time::serde::rfc3339")]
    pub erased_at: OffsetDateTime,
    /// When the data was checked to be unreadable.
    #[serde(with = "time::serde::rfc3339")]
    pub verified_at: OffsetDateTime,
    /// When the certificate was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// Who carried out the destruction.
    pub responsible: CertifiedParty,
    /// The parties informed of the destruction, such as the customer.
    pub accountable_informed: Vec<CertifiedParty>,
    /// A sentence describing the check performed to confirm the data is no longer readable.
    pub verification: String,
}

/// The tenant named in a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertifiedTenant {
    /// The tenant's id.
    pub id: Uuid,
    /// The tenant's name at the time of destruction.
    pub name: String,
    /// The tenant's slug, when it had one.
    pub slug: Option<String>,
}

/// A mailbox named in a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertifiedMailbox {
    /// The mailbox's id.
    pub id: Uuid,
    /// The mailbox's address.
    pub address: String,
}

/// The store that held a tenant's data, as a certificate names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertifiedStore {
    /// The store: its kind and where it runs (`Dovecot with mail_crypt at http://…`).
    pub name: String,
    /// How the tenant's data was made unreadable in it.
    pub method: String,
}

/// A party named in a certificate, with the subject who acted or was informed for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertifiedParty {
    /// The party (`provider`, `customer`).
    pub party: String,
    /// The subject within the party: a person, role or automation.
    pub subject: String,
}

/// A signed destruction certificate, as issued and stored by the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Certificate {
    /// The statement.
    pub certificate: CertificateBody,
    /// The signature over the statement's canonical form.
    pub signature: CertificateSignature,
}

/// The signature on a certificate, with the public key that verifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateSignature {
    /// The algorithm; always `Ed25519`.
    pub algorithm: String,
    /// The signing key's id: the first 16 hex digits of the SHA-256 of the public key.
    pub key_id: String,
    /// The 32-byte public key, base64url without padding.
    pub public_key: String,
    /// The 64-byte signature, base64url without padding.
    pub value: String,
}

/// A public signing key published as a JSON Web Key (RFC 8037), so auditors can pin it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishedKey {
    /// The key type; always `OKP`.
    pub kty: String,
    /// The curve; always `Ed25519`.
    pub crv: String,
    /// The 32-byte public key, base64url without padding.
    pub x: String,
    /// The key id, as in [`CertificateSignature::key_id`].
    pub kid: String,
    /// The algorithm; always `EdDSA`.
    pub alg: String,
    /// The key's use; always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

/// A JSON Web Key Set of the provider's certificate signing keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishedKeys {
    /// The keys.
    pub keys: Vec<PublishedKey>,
}

/// A certificate that verified, with the key that signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The statement.
    pub body: CertificateBody,
    /// The id of the key that signed it.
    pub key_id: String,
    /// Whether the key was checked against a trusted key; when not, the signature proves
    /// only that the certificate is intact, not who issued it.
    pub pinned: bool,
}

/// The provider's certificate signing key. It signs certificates and nothing else: export
/// download links are authenticated with a key of their own
/// ([`crate::data_plane::DataPlane::export_link_key`]), which shares no material with it.
pub struct CertificateSigner {
    key: SigningKey,
}

impl std::fmt::Debug for CertificateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret key is never printed; the key id is enough to tell keys apart.
        f.debug_struct("CertificateSigner")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl CertificateSigner {
    /// The signing key held in `path` as a raw 32-byte seed; when the file does not exist, a
    /// random key is created there (owner read and write only on unix).
    pub fn from_key_file(path: &Path) -> Result<CertificateSigner> {
        let seed = crate::files::key32_file(path, "signing_key")?;
        Ok(CertificateSigner {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// A random signing key, for tests and embedders that keep the key elsewhere.
    pub fn generate() -> CertificateSigner {
        CertificateSigner {
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// The key's id: the first 16 hex digits of the SHA-256 of the public key.
    pub fn key_id(&self) -> String {
        key_id_of(self.key.verifying_key().as_bytes())
    }

    /// The public key as a JSON Web Key, for publication.
    pub fn published_key(&self) -> PublishedKey {
        published(self.key.verifying_key().as_bytes())
    }

    /// Signs `body`, whose version must be [`VERSION`].
    pub fn sign(&self, body: CertificateBody) -> Result<Certificate> {
        if body.version != VERSION {
            return Err(Error::invalid(
                "certificate.version",
                format!("must be {VERSION}, it is {}", body.version),
            ));
        }
        let value = serde_json::to_value(&body)
            .map_err(|e| Error::internal(format!("serializing a certificate: {e}")))?;
        Ok(Certificate {
            certificate: body,
            signature: self.signature_over(DOMAIN, &value),
        })
    }

    /// The signature of a signed object under a domain-separation string, as
    /// [`verify_signed`] checks it.
    pub(crate) fn signature_over(
        &self,
        domain: &[u8],
        signed: &serde_json::Value,
    ) -> CertificateSignature {
        let signature = self.key.sign(&signed_message(domain, signed));
        let public = self.key.verifying_key();
        CertificateSignature {
            algorithm: ALGORITHM.to_string(),
            key_id: key_id_of(public.as_bytes()),
            public_key: URL_SAFE_NO_PAD.encode(public.as_bytes()),
            value: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
        }
    }
}

/// The key id of a public key: the first 16 hex digits of its SHA-256.
fn key_id_of(public: &[u8; 32]) -> String {
    let mut id = hex::encode(Sha256::digest(public));
    id.truncate(16);
    id
}

/// The JSON Web Key for a public key.
fn published(public: &[u8; 32]) -> PublishedKey {
    PublishedKey {
        kty: "OKP".to_string(),
        crv: "Ed25519".to_string(),
        x: URL_SAFE_NO_PAD.encode(public),
        kid: key_id_of(public),
        alg: "EdDSA".to_string(),
        use_: "sig".to_string(),
    }
}

/// The bytes a signature covers: the domain-separation string (`DOMAIN` for a certificate),
/// then the canonical form of the signed object.
pub(crate) fn signed_message(domain: &[u8], signed: &serde_json::Value) -> Vec<u8> {
    let mut message = domain.to_vec();
    message.extend_from_slice(&canonical_json(signed));
    message
}

/// The canonical form of a JSON value: compact, with object keys sorted by their UTF-8 bytes
/// at every level, arrays kept in order, and strings and numbers written as serde_json
/// writes them.
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(map) => {
            // The workspace keeps maps in insertion order, so the keys are sorted here.
            let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(serde_json::Value::from(key.as_str()).to_string().as_bytes());
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        leaf => out.extend_from_slice(leaf.to_string().as_bytes()),
    }
}

/// Verifies a certificate document offline.
///
/// The signature is checked over the `certificate` object exactly as it appears in the
/// document. When `trusted` is not empty, the signing key must be one of those keys and the
/// result is pinned; when it is empty, any key verifies and the result proves only that the
/// certificate is intact.
pub fn verify(document: &[u8], trusted: &[PublishedKey]) -> Result<Verified> {
    let signed = verify_signed(document, "certificate", DOMAIN, trusted)?;
    let body: CertificateBody = serde_json::from_value(signed.body)
        .map_err(|e| Error::invalid("certificate", format!("is malformed: {e}")))?;
    if body.version != VERSION {
        return Err(Error::invalid(
            "certificate.version",
            format!("must be {VERSION}, it is {}", body.version),
        ));
    }
    Ok(Verified {
        body,
        key_id: signed.key_id,
        pinned: signed.pinned,
    })
}

/// A signed document whose signature verified: its signed object, not yet read as a body.
pub(crate) struct SignedObject {
    /// The object the signature covers.
    pub body: serde_json::Value,
    /// The id of the key that signed it.
    pub key_id: String,
    /// Whether that key is one of the trusted keys.
    pub pinned: bool,
}

/// Checks the envelope every signed document of Mailplane shares: a JSON object holding the
/// signed object under `field` and a `signature` beside it, nothing else, signed with
/// Ed25519 over `domain` and the object's canonical form, by one of `trusted` when any are
/// given. Certificates and mailbox receipts differ only in the field and the domain.
pub(crate) fn verify_signed(
    document: &[u8],
    field: &str,
    domain: &[u8],
    trusted: &[PublishedKey],
) -> Result<SignedObject> {
    let parsed: serde_json::Value = serde_json::from_slice(document)
        .map_err(|e| Error::invalid("document", format!("is not JSON: {e}")))?;
    let serde_json::Value::Object(mut top) = parsed else {
        return Err(Error::invalid(
            "document",
            format!("must be a JSON object with `{field}` and `signature`"),
        ));
    };
    // Only the signed object is covered, so nothing else may ride along beside it.
    if let Some(extra) = top
        .keys()
        .find(|k| k.as_str() != field && k.as_str() != "signature")
    {
        return Err(Error::invalid(
            extra.as_str(),
            format!("is not part of a {field}: only `{field}` and `signature` are allowed"),
        ));
    }
    let body = top
        .remove(field)
        .ok_or_else(|| Error::invalid(field, "is missing"))?;
    if !body.is_object() {
        return Err(Error::invalid(field, "must be an object"));
    }
    let signature = top
        .remove("signature")
        .ok_or_else(|| Error::invalid("signature", "is missing"))?;
    let signature: CertificateSignature = serde_json::from_value(signature)
        .map_err(|e| Error::invalid("signature", format!("is malformed: {e}")))?;

    if signature.algorithm != ALGORITHM {
        return Err(Error::invalid(
            "signature.algorithm",
            format!("must be {ALGORITHM}, it is {:?}", signature.algorithm),
        ));
    }
    let public: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&signature.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::invalid("signature.public_key", "must be 32 bytes of base64url"))?;
    let value: [u8; 64] = URL_SAFE_NO_PAD
        .decode(&signature.value)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::invalid("signature.value", "must be 64 bytes of base64url"))?;
    let key_id = key_id_of(&public);
    if signature.key_id != key_id {
        return Err(Error::invalid(
            "signature.key_id",
            format!(
                "must be {key_id}, the id of the public key, it is {:?}",
                signature.key_id
            ),
        ));
    }
    let verifying = VerifyingKey::from_bytes(&public)
        .map_err(|_| Error::invalid("signature.public_key", "is not a valid Ed25519 public key"))?;
    verifying
        .verify_strict(
            &signed_message(domain, &body),
            &Signature::from_bytes(&value),
        )
        .map_err(|_| {
            Error::invalid(
                "signature",
                format!("does not verify: the {field} was altered or not signed by this key"),
            )
        })?;

    let pinned = !trusted.is_empty();
    if pinned && !trusted.iter().any(|k| trusted_bytes(k) == Some(public)) {
        return Err(Error::invalid(
            "signature.key_id",
            format!("key {key_id} is not among the trusted keys"),
        ));
    }
    Ok(SignedObject {
        body,
        key_id,
        pinned,
    })
}

/// The public key bytes of a trusted key, when it is an Ed25519 key.
fn trusted_bytes(key: &PublishedKey) -> Option<[u8; 32]> {
    if key.kty != "OKP" || key.crv != "Ed25519" {
        return None;
    }
    URL_SAFE_NO_PAD.decode(&key.x).ok()?.try_into().ok()
}

/// A JSON Web Key as published by anyone: only the key material is required.
#[derive(Deserialize)]
struct LooseJwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    kid: Option<String>,
}

/// The trusted keys in a document an auditor was given: a JSON Web Key Set
/// (`{"keys":[...]}`), a single JSON Web Key, a bare 32-byte public key in base64url or
/// base64 (optionally as a JSON string), or a PEM `PUBLIC KEY`.
///
/// In a key set, keys that are not Ed25519 are skipped; at least one must remain.
pub fn trusted_keys(document: &[u8]) -> Result<Vec<PublishedKey>> {
    let text = std::str::from_utf8(document)
        .map_err(|_| Error::invalid("trusted_keys", "must be UTF-8 text"))?
        .trim();
    if text.is_empty() {
        return Err(Error::invalid("trusted_keys", "is empty"));
    }
    if text.starts_with("-----BEGIN") {
        use ed25519_dalek::pkcs8::DecodePublicKey as _;
        let key = VerifyingKey::from_public_key_pem(text)
            .map_err(|_| Error::invalid("trusted_keys", "is not an Ed25519 PEM public key"))?;
        return Ok(vec![published(key.as_bytes())]);
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) if map.contains_key("keys") => {
            let keys: Vec<LooseJwk> = serde_json::from_value(map["keys"].clone()).map_err(|e| {
                Error::invalid("trusted_keys.keys", format!("is not a list of keys: {e}"))
            })?;
            let mut found = Vec::new();
            for (i, jwk) in keys.into_iter().enumerate() {
                let ed25519 =
                    jwk.kty.as_deref() == Some("OKP") && jwk.crv.as_deref() == Some("Ed25519");
                if ed25519 {
                    found.push(from_jwk(jwk, &format!("trusted_keys.keys[{i}]"))?);
                }
            }
            if found.is_empty() {
                return Err(Error::invalid("trusted_keys.keys", "holds no Ed25519 key"));
            }
            Ok(found)
        }
        Ok(object @ serde_json::Value::Object(_)) => {
            let jwk: LooseJwk = serde_json::from_value(object).map_err(|e| {
                Error::invalid("trusted_keys", format!("is not a JSON Web Key: {e}"))
            })?;
            if jwk.kty.as_deref() != Some("OKP") || jwk.crv.as_deref() != Some("Ed25519") {
                return Err(Error::invalid(
                    "trusted_keys",
                    "must be an Ed25519 key (`kty` OKP, `crv` Ed25519)",
                ));
            }
            Ok(vec![from_jwk(jwk, "trusted_keys")?])
        }
        Ok(serde_json::Value::String(bare)) => Ok(vec![from_bare(bare.trim())?]),
        Ok(_) => Err(Error::invalid(
            "trusted_keys",
            "must be a key set, a key or a base64 public key",
        )),
        Err(_) => Ok(vec![from_bare(text)?]),
    }
}

/// A trusted key from a JSON Web Key already known to be Ed25519; a `kid`, when present,
/// must match the key.
fn from_jwk(jwk: LooseJwk, field: &str) -> Result<PublishedKey> {
    let public: [u8; 32] = jwk
        .x
        .as_deref()
        .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::invalid(format!("{field}.x"), "must be 32 bytes of base64url"))?;
    let key = published(&public);
    if let Some(kid) = jwk.kid
        && kid != key.kid
    {
        return Err(Error::invalid(
            format!("{field}.kid"),
            format!("must be {}, the id of the key, it is {kid:?}", key.kid),
        ));
    }
    Ok(key)
}

/// A trusted key from a bare public key in base64url or base64, padded or not.
fn from_bare(text: &str) -> Result<PublishedKey> {
    let public: [u8; 32] = [URL_SAFE_NO_PAD, URL_SAFE, BASE64_NO_PAD, BASE64]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            Error::invalid(
                "trusted_keys",
                "must be a key set, a key, or a 32-byte public key in base64url or base64",
            )
        })?;
    Ok(published(&public))
}

impl Verified {
    /// A multi-line summary for a person: what was destroyed, how, when, by whom, and which
    /// key signed it. Text from the certificate is shown with control characters escaped.
    pub fn summary(&self) -> String {
        let b = &self.body;
        let time = |t: &OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| t.to_string())
        };
        let party = |p: &CertifiedParty| format!("{} ({})", shown(&p.party), shown(&p.subject));
        let slug = b
            .tenant
            .slug
            .as_deref()
            .map(|s| format!(", slug {}", shown(s)))
            .unwrap_or_default();
        let keys = if b.key_ids.is_empty() {
            "none".to_string()
        } else {
            b.key_ids
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let informed = if b.accountable_informed.is_empty() {
            "none".to_string()
        } else {
            b.accountable_informed
                .iter()
                .map(party)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let trust = if self.pinned {
            "pinned: it is one of the trusted keys".to_string()
        } else {
            "not pinned: the key was taken from the certificate itself, so the signature \
             proves the certificate is intact but not who issued it"
                .to_string()
        };
        [
            format!(
                "Destruction certificate {} (version {}), issued by {}",
                b.certificate_id,
                b.version,
                shown(&b.issuer)
            ),
            format!("Tenant: {} {}{slug}", b.tenant.id, shown(&b.tenant.name)),
            format!("Mailboxes: {}", b.mailboxes.len()),
            format!("Messages destroyed: {}", b.objects),
            format!("Bytes destroyed: {}", b.bytes),
            format!("Data keys destroyed: {keys}"),
            format!("Method: {}", shown(&b.method)),
            format!("Standard: {}", shown(&b.standard)),
            match &b.store {
                Some(s) => format!("Store: {} ({})", shown(&s.name), shown(&s.method)),
                None => "Store: not named".into(),
            },
            format!("Terminated at: {}", time(&b.terminated_at)),
            format!(
                "Configuration destroyed at: {}",
                time(&b.configuration_destroyed_at)
            ),
            format!("Erased at: {}", time(&b.erased_at)),
            format!("Verified at: {}", time(&b.verified_at)),
            format!("Issued at: {}", time(&b.issued_at)),
            format!("Verification: {}", shown(&b.verification)),
            format!("Responsible: {}", party(&b.responsible)),
            format!("Informed: {informed}"),
            format!("Signed by key {}, {trust}", self.key_id),
        ]
        .join("\n")
    }
}

/// Text from a certificate with control characters escaped, so a crafted certificate cannot
/// drive the auditor's terminal.
fn shown(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

pub mod receipt;

#[cfg(test)]
mod tests;

//! Per-mailbox destruction receipts: the signed statement issued when a deleted mailbox's
//! undelete window closes and its data is destroyed.
//!
//! A receipt is signed with the same Ed25519 key as the end-of-service certificate and
//! verified by the same tool (`mailplane certificate verify` recognises a receipt by its
//! `receipt` object), but over its own domain-separation string, so that a receipt can never
//! pass for a certificate or the reverse. The signature covers the canonical form of the
//! `receipt` object exactly as it appears in the document, as for certificates.
//!
//! The method is stated honestly: a tenant has one data key for all of its mailboxes, so one
//! mailbox cannot be cryptographically erased. A receipt says the mailbox's messages and
//! storage were deleted from the named store, and that the tenant's key was not erased.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::{Error, Result};

use super::{
    CertificateSignature, CertificateSigner, CertifiedMailbox, CertifiedParty, PublishedKey, shown,
    verify_signed,
};

/// The only receipt format version this module issues and reads.
pub const RECEIPT_VERSION: u32 = 1;

/// The bytes prefixed to the canonical receipt before signing.
const RECEIPT_DOMAIN: &[u8] = b"mailplane mailbox destruction receipt v1\n";

/// What a receipt states: everything in it is covered by the signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptBody {
    /// The receipt format version; always 1.
    pub version: u32,
    /// The receipt's own id.
    pub receipt_id: Uuid,
    /// The provider that issued it.
    pub issuer: String,
    /// The tenant the mailbox belonged to.
    pub tenant_id: Uuid,
    /// The mailbox whose data was destroyed.
    pub mailbox: CertifiedMailbox,
    /// How many messages were destroyed.
    pub objects: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// How the data was destroyed, in a sentence that names the store.
    pub method: String,
    /// When the mailbox was deleted.
    #[serde(with = "time::serde::rfc3339")]
    pub deleted_at: OffsetDateTime,
    /// When its undelete window closed.
    #[serde(with = "time::serde::rfc3339")]
    pub window_closed_at: OffsetDateTime,
    /// When its data was destroyed.
    #[serde(with = "time::serde::rfc3339")]
    pub destroyed_at: OffsetDateTime,
    /// When the receipt was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// Who carried out the destruction.
    pub responsible: CertifiedParty,
}

/// A signed destruction receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// The statement.
    pub receipt: ReceiptBody,
    /// The signature over the statement's canonical form.
    pub signature: CertificateSignature,
}

/// A receipt that verified, with the key that signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedReceipt {
    /// The statement.
    pub body: ReceiptBody,
    /// The id of the key that signed it.
    pub key_id: String,
    /// Whether the key was checked against a trusted key.
    pub pinned: bool,
}

impl CertificateSigner {
    /// Signs a receipt, whose version must be [`RECEIPT_VERSION`].
    pub fn sign_receipt(&self, body: ReceiptBody) -> Result<Receipt> {
        if body.version != RECEIPT_VERSION {
            return Err(Error::invalid(
                "receipt.version",
                format!("must be {RECEIPT_VERSION}, it is {}", body.version),
            ));
        }
        let value = serde_json::to_value(&body)
            .map_err(|e| Error::internal(format!("serializing a receipt: {e}")))?;
        Ok(Receipt {
            receipt: body,
            signature: self.signature_over(RECEIPT_DOMAIN, &value),
        })
    }
}

/// Whether a document is a receipt (its top level holds a `receipt` object) rather than a
/// certificate.
pub fn is_receipt(document: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(document)
        .ok()
        .and_then(|v| v.get("receipt").map(serde_json::Value::is_object))
        .unwrap_or(false)
}

/// Verifies a receipt offline, as [`super::verify`] does a certificate: the signature over
/// the `receipt` object as it appears in the document, and the signing key among `trusted`
/// when any are given.
pub fn verify_receipt(document: &[u8], trusted: &[PublishedKey]) -> Result<VerifiedReceipt> {
    let signed = verify_signed(document, "receipt", RECEIPT_DOMAIN, trusted)?;
    let body: ReceiptBody = serde_json::from_value(signed.body)
        .map_err(|e| Error::invalid("receipt", format!("is malformed: {e}")))?;
    if body.version != RECEIPT_VERSION {
        return Err(Error::invalid(
            "receipt.version",
            format!("must be {RECEIPT_VERSION}, it is {}", body.version),
        ));
    }
    Ok(VerifiedReceipt {
        body,
        key_id: signed.key_id,
        pinned: signed.pinned,
    })
}

impl VerifiedReceipt {
    /// A multi-line summary for a person, with text from the receipt escaped.
    pub fn summary(&self) -> String {
        let b = &self.body;
        let time = |t: &OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| t.to_string())
        };
        let trust = if self.pinned {
            "pinned: it is one of the trusted keys"
        } else {
            "not pinned: the key was taken from the receipt itself, so the signature proves \
             the receipt is intact but not who issued it"
        };
        [
            format!(
                "Mailbox destruction receipt {} (version {}), issued by {}",
                b.receipt_id,
                b.version,
                shown(&b.issuer)
            ),
            format!("Tenant: {}", b.tenant_id),
            format!("Mailbox: {} {}", b.mailbox.id, shown(&b.mailbox.address)),
            format!("Messages destroyed: {}", b.objects),
            format!("Bytes destroyed: {}", b.bytes),
            format!("Method: {}", shown(&b.method)),
            format!("Deleted: {}", time(&b.deleted_at)),
            format!("Undelete window closed: {}", time(&b.window_closed_at)),
            format!("Destroyed: {}", time(&b.destroyed_at)),
            format!("Issued: {}", time(&b.issued_at)),
            format!(
                "Responsible: {} ({})",
                shown(&b.responsible.party),
                shown(&b.responsible.subject)
            ),
            format!("Signing key: {} ({trust})", self.key_id),
        ]
        .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> ReceiptBody {
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        ReceiptBody {
            version: RECEIPT_VERSION,
            receipt_id: Uuid::now_v7(),
            issuer: "Example Provider".into(),
            tenant_id: Uuid::now_v7(),
            mailbox: CertifiedMailbox {
                id: Uuid::now_v7(),
                address: "ana@example.com".into(),
            },
            objects: 3,
            bytes: 1200,
            method: "deleted from Mailplane embedded file store".into(),
            deleted_at: at,
            window_closed_at: at,
            destroyed_at: at,
            issued_at: at,
            responsible: CertifiedParty {
                party: "provider".into(),
                subject: "automation".into(),
            },
        }
    }

    #[test]
    fn a_signed_receipt_verifies_and_a_tampered_one_does_not() {
        let signer = CertificateSigner::generate();
        let doc = serde_json::to_vec(&signer.sign_receipt(body()).unwrap()).unwrap();
        assert!(is_receipt(&doc));
        let v = verify_receipt(&doc, &[signer.published_key()]).unwrap();
        assert!(v.pinned);
        assert!(v.summary().contains("ana@example.com"));
        let mut tampered: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        tampered["receipt"]["objects"] = 0.into();
        let e = verify_receipt(&serde_json::to_vec(&tampered).unwrap(), &[]).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");
        let other = CertificateSigner::generate();
        let e = verify_receipt(&doc, &[other.published_key()]).unwrap_err();
        assert!(e.to_string().contains("not among the trusted keys"), "{e}");
    }

    #[test]
    fn a_receipt_is_not_a_certificate() {
        let signer = CertificateSigner::generate();
        let doc = serde_json::to_vec(&signer.sign_receipt(body()).unwrap()).unwrap();
        assert!(super::super::verify(&doc, &[]).is_err());
    }
}

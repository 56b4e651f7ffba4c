//! The DNS records a customer publishes for a custom mail domain, and what a check found.
//!
//! The provider does not host its customers' DNS zones. To take a domain into service,
//! Mailplane tells the customer exactly which records to publish ([`DnsRecord`]) and later
//! looks them up to see whether they are in place ([`RecordCheck`]). These types are the
//! vocabulary of that exchange; the lookups themselves live in the `mailplane` crate.

use serde::{Deserialize, Serialize};

/// Why a record is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordPurpose {
    /// A TXT record with a token that proves the customer controls the domain.
    Verification,
    /// The MX record that routes the domain's mail to the provider.
    Mx,
    /// The SPF TXT record that allows the provider's servers to send for the domain.
    Spf,
    /// The CNAME that lets mail clients find their settings (`autodiscover.<domain>`).
    Autodiscover,
}

/// The DNS type of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum RecordKind {
    /// A text record.
    Txt,
    /// A mail exchanger record.
    Mx,
    /// An alias record.
    Cname,
}

impl RecordKind {
    /// The type's name as DNS tools write it (`TXT`, `MX`, `CNAME`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Txt => "TXT",
            RecordKind::Mx => "MX",
            RecordKind::Cname => "CNAME",
        }
    }
}

/// One record the customer must publish in their zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DnsRecord {
    /// Why the record is needed.
    pub purpose: RecordPurpose,
    /// Its DNS type.
    pub kind: RecordKind,
    /// The fully qualified owner name, without a trailing dot (`_mailplane.example.com`).
    pub name: String,
    /// The record's value: the TXT text, the MX exchange host or the CNAME target.
    pub value: String,
    /// The MX preference; only for MX records.
    pub priority: Option<u16>,
}

/// The outcome of checking one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// The record is published as expected.
    Found,
    /// No record of that type was found at the name, or the name server did not answer.
    Missing,
    /// Records of that type exist at the name, but none has the expected value.
    Wrong,
}

/// What a DNS check found for one expected record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordCheck {
    /// The record that was expected.
    pub record: DnsRecord,
    /// Whether it was found.
    pub status: RecordStatus,
    /// What DNS returned at that name for that type, for the customer to compare.
    pub found: Vec<String>,
    /// One sentence that explains the status.
    pub detail: String,
}

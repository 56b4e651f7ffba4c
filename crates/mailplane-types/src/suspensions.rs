//! Suspensions, as callers see them: why a tenant's or a mailbox's sign-in is blocked.
//!
//! A suspension names its subject (the whole tenant, or one mailbox of it), one reason from a
//! closed list and an optional note. Reasons overlap: a subject stays suspended while any of
//! its suspensions is active, and each suspension is placed and lifted on its own. Mail is
//! still delivered to a suspended subject; only signing in is refused.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{MailboxId, Party, SuspensionId, TenantId, TerminationId};

/// Why a tenant or a mailbox is suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SuspensionReason {
    /// The bill is unpaid; for a tenant, this starts the dunning ladder.
    NonPayment,
    /// The service was abused (spam, phishing, a compromised account).
    Abuse,
    /// A court, a regulator or the law requires it.
    Legal,
    /// The customer asked for it.
    CustomerRequest,
    /// Any other reason, which the note explains.
    Other,
}

impl SuspensionReason {
    /// Every reason, in declaration order.
    pub const ALL: &'static [SuspensionReason] = &[
        SuspensionReason::NonPayment,
        SuspensionReason::Abuse,
        SuspensionReason::Legal,
        SuspensionReason::CustomerRequest,
        SuspensionReason::Other,
    ];

    /// The one spelling written to the database and shown to callers.
    pub fn as_str(self) -> &'static str {
        match self {
            SuspensionReason::NonPayment => "non_payment",
            SuspensionReason::Abuse => "abuse",
            SuspensionReason::Legal => "legal",
            SuspensionReason::CustomerRequest => "customer_request",
            SuspensionReason::Other => "other",
        }
    }
}

impl FromStr for SuspensionReason {
    type Err = String;

    /// Reads the stored spelling.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SuspensionReason::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a known suspension reason"))
    }
}

impl fmt::Display for SuspensionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A suspension of a whole tenant or of one of its mailboxes, active or lifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suspension {
    /// The suspension's id.
    pub id: SuspensionId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The mailbox it suspends; absent when it suspends the whole tenant.
    pub mailbox_id: Option<MailboxId>,
    /// Why.
    pub reason: SuspensionReason,
    /// What the party that placed it wrote, if anything (always present for `other`).
    pub note: Option<String>,
    /// Who placed it.
    pub placed_by: String,
    /// The party of who placed it.
    pub placed_by_party: Party,
    /// When it was placed.
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    /// Whether it still holds.
    pub active: bool,
    /// When it was lifted.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub lifted_at: Option<OffsetDateTime>,
    /// Who lifted it.
    pub lifted_by: Option<String>,
    /// The party of who lifted it.
    pub lifted_by_party: Option<Party>,
    /// What the party that lifted it wrote, if anything.
    pub lift_note: Option<String>,
    /// The dunning ladder of a tenant's suspension for `non_payment`; absent otherwise.
    pub dunning: Option<Dunning>,
}

/// Where the dunning ladder of a tenant's suspension for `non_payment` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DunningState {
    /// The grace runs: lifting the suspension before it ends stops the ladder.
    Grace,
    /// The suspension was lifted before the contract was ended: the ladder stopped.
    Stopped,
    /// The grace passed with the suspension still placed: the contract was ended for cause
    /// (`contract.end`), and the termination walks the end of service.
    Ended,
}

/// The dunning ladder of a tenant's suspension for `non_payment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dunning {
    /// Where it is.
    pub state: DunningState,
    /// When the grace ends (from the profile's `dunning_grace`).
    #[serde(with = "time::serde::rfc3339")]
    pub grace_ends_at: OffsetDateTime,
    /// The termination the ladder opened, once it ended the contract.
    pub termination_id: Option<TerminationId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reason's stored spelling is its serde spelling and reads back.
    #[test]
    fn reasons_round_trip() {
        for r in SuspensionReason::ALL {
            assert_eq!(r.as_str().parse::<SuspensionReason>().unwrap(), *r);
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::from(r.as_str())
            );
        }
        assert!("unpaid".parse::<SuspensionReason>().is_err());
    }
}

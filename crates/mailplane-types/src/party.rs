//! The three parties of a RACI profile.
//!
//! Every principal belongs to exactly one party; a profile assigns letters to parties, never
//! to people. The string forms are stable: they appear in tokens, policies and audit rows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A party to a hosted-mail contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Party {
    /// The customer organisation (a tenant).
    Customer,
    /// A reseller or managed-services provider that keeps the customer relationship.
    Partner,
    /// The hosting provider that runs the platform.
    Provider,
}

impl Party {
    /// Every party, in the order tables print them.
    pub const ALL: [Party; 3] = [Party::Customer, Party::Partner, Party::Provider];

    /// The stable string id of the party.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Customer => "customer",
            Party::Partner => "partner",
            Party::Provider => "provider",
        }
    }

    /// A dense index (0, 1, 2) for per-party arrays.
    pub fn index(self) -> usize {
        match self {
            Party::Customer => 0,
            Party::Partner => 1,
            Party::Provider => 2,
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Party {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "customer" => Ok(Party::Customer),
            "partner" => Ok(Party::Partner),
            "provider" => Ok(Party::Provider),
            other => Err(format!(
                "unknown party `{other}`: expected customer, partner or provider"
            )),
        }
    }
}

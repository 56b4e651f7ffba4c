//! Incident tickets and their history.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Party, TenantId, TicketId};

/// How urgent an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Can wait.
    Low,
    /// The default.
    Normal,
    /// Users are hindered.
    High,
    /// The service is down for the tenant.
    Critical,
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// Reported, not looked at yet.
    Open,
    /// The provider qualified it (severity confirmed or changed).
    Qualified,
    /// The provider is working on it.
    InProgress,
    /// The provider says it is fixed.
    Resolved,
    /// Finished; no further change.
    Closed,
}

macro_rules! stored_enum {
    ($t:ty { $($v:ident => $s:literal),* }) => {
        impl $t {
            /// The stored string.
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }

            /// Parses the stored string.
            pub fn parse(s: &str) -> Option<$t> {
                match s { $($s => Some(<$t>::$v),)* _ => None }
            }
        }
    };
}
stored_enum!(Severity { Low => "low", Normal => "normal", High => "high", Critical => "critical" });
stored_enum!(TicketState { Open => "open", Qualified => "qualified", InProgress => "in_progress", Resolved => "resolved", Closed => "closed" });

/// One step in a ticket's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketUpdate {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (the subject).
    pub author: String,
    /// The author's party.
    pub party: Party,
    /// The state it moved to, if it moved.
    pub state: Option<TicketState>,
    /// The severity it was set to, if it was.
    pub severity: Option<Severity>,
    /// What was said.
    pub comment: String,
}

/// An incident reported on a tenant (`incident.report`) and handled by the provider
/// (`incident.handle`), with its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    /// The ticket's id.
    pub id: TicketId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// A one-line summary.
    pub title: String,
    /// What happens, as reported.
    pub description: String,
    /// How urgent it is.
    pub severity: Severity,
    /// Where it stands.
    pub state: TicketState,
    /// Who reported it (the subject).
    pub opened_by: String,
    /// The reporter's party.
    pub opened_by_party: Party,
    /// When it was reported.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Every update, oldest first.
    pub updates: Vec<TicketUpdate>,
}

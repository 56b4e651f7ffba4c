//! Requests, proposals and consultations between the parties of the RACI matrix.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Party, RequestId, TenantId};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for the responsible party (a request) or the accountable party (a proposal).
    Pending,
    /// A request carried out by the responsible party.
    Fulfilled,
    /// A request refused by the responsible party, with a reason.
    Declined,
    /// Withdrawn by the party that filed it.
    Cancelled,
    /// Not decided before its deadline.
    Expired,
    /// A proposal approved by the accountable party, and carried out.
    Approved,
    /// A proposal rejected by the accountable party, with a reason.
    Rejected,
}

impl RequestState {
    /// Every state, in the order of the documentation.
    pub const ALL: [RequestState; 7] = [
        RequestState::Pending,
        RequestState::Fulfilled,
        RequestState::Declined,
        RequestState::Cancelled,
        RequestState::Expired,
        RequestState::Approved,
        RequestState::Rejected,
    ];
}

/// Which way a request goes between the parties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// The accountable party asks the responsible party to carry an activity out
    /// (A without R). The responsible party fulfils or declines it.
    Request,
    /// The responsible party proposes to carry an activity out (R without A). The
    /// accountable party approves it, and the activity runs as the proposer, or rejects it.
    Proposal,
    /// The accountable party's activity waits for the consulted parties (C). It runs when
    /// every one consented, or at the deadline; an objection hands the decision back to the
    /// accountable party, who approves it or cancels it.
    Consultation,
}

/// A consulted party's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsultationAnswer {
    /// The consulted party.
    pub party: Party,
    /// Who answered (the subject).
    pub by: String,
    /// Whether it consents; `false` is an objection.
    pub consent: bool,
    /// Why, as given.
    pub reason: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl RequestKind {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Request => "request",
            RequestKind::Proposal => "proposal",
            RequestKind::Consultation => "consultation",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<RequestKind> {
        match s {
            "request" => Some(RequestKind::Request),
            "proposal" => Some(RequestKind::Proposal),
            "consultation" => Some(RequestKind::Consultation),
            _ => None,
        }
    }
}

impl RequestState {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Fulfilled => "fulfilled",
            RequestState::Declined => "declined",
            RequestState::Cancelled => "cancelled",
            RequestState::Expired => "expired",
            RequestState::Approved => "approved",
            RequestState::Rejected => "rejected",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<RequestState> {
        match s {
            "pending" => Some(RequestState::Pending),
            "fulfilled" => Some(RequestState::Fulfilled),
            "declined" => Some(RequestState::Declined),
            "cancelled" => Some(RequestState::Cancelled),
            "expired" => Some(RequestState::Expired),
            "approved" => Some(RequestState::Approved),
            "rejected" => Some(RequestState::Rejected),
            _ => None,
        }
    }
}

/// Work the accountable party asked of the responsible party (A without R): a ticket to the
/// provider, in the words of the hosted suites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Request {
    /// The request's id.
    pub id: RequestId,
    /// The tenant it concerns.
    pub tenant_id: TenantId,
    /// The activity asked for.
    pub activity: String,
    /// The profile the request was filed under; it keeps this binding.
    pub profile: String,
    /// The profile version the request was filed under.
    pub profile_version: u32,
    /// A request (the accountable party asks) or a proposal (the responsible party offers).
    pub kind: RequestKind,
    /// The operation that runs when the request is fulfilled or the proposal approved, such
    /// as `mailbox.create`; absent when the work is done outside Mailplane.
    pub operation: Option<String>,
    /// What exactly is asked: the operation's input, or free JSON such as a disclaimer's
    /// text.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
    /// A note from the requester.
    pub note: String,
    /// Where the request stands.
    pub state: RequestState,
    /// Who asked (the subject).
    pub requester: String,
    /// The requester's party (the accountable one).
    pub requester_party: Party,
    /// The requester's organisation.
    pub requester_org: String,
    /// The requester's roles; an approved proposal runs with them.
    pub requester_roles: Vec<String>,
    /// The parties that may carry it out (they hold R).
    pub responsible: Vec<Party>,
    /// The parties whose answer it waits for: the responsible parties of a request, the
    /// accountable party of a proposal.
    pub addressed_to: Vec<Party>,
    /// Who fulfilled, declined, approved, rejected or cancelled it.
    pub decided_by: Option<String>,
    /// Why it was declined or rejected, or the decider's note.
    pub reason: Option<String>,
    /// What the operation produced when it ran: `{"kind": "mailbox", "id": "..."}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<serde_json::Value>,
    /// The consulted parties' answers, for a consultation.
    pub answers: Vec<ConsultationAnswer>,
    /// When a pending request expires, from the deadline its profile sets.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was filed.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

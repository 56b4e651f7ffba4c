//! The audit log and the events derived from it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AuditId, AuditOutcome, AuditTarget, EventId, Letters, Party, RequestId, TenantId};

/// One row of the hash-chained audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// The row's id.
    pub id: AuditId,
    /// When the change was committed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The acting principal (the token's subject).
    pub actor: String,
    /// The actor's party.
    pub party: String,
    /// The actor's organisation (`provider`, `partner:<id>`, `tenant:<id>`).
    pub org: String,
    /// The actor's roles, comma-separated.
    pub roles: String,
    /// The activity that was carried out.
    pub activity: String,
    /// The letters the actor used.
    pub letters: Letters,
    /// The tenant the change belongs to, when it belongs to one.
    pub tenant_id: Option<TenantId>,
    /// The kind of object changed (`mailbox`).
    pub target_kind: AuditTarget,
    /// The id of the object changed.
    pub target_id: String,
    /// What happened (`created`, `updated`, `deleted`).
    pub outcome: AuditOutcome,
    /// The hash of the previous row (hex SHA-256; zeros for the first row).
    pub prev_hash: String,
    /// The hash of this row: SHA-256 over the previous hash and this row's content.
    pub hash: String,
    /// The request or proposal this change carried out, if any.
    pub request_id: Option<RequestId>,
}

/// A change a party is owed news of: it holds I for the activity, or it is accountable and
/// another party acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Position in the feed: the audit row of the same change.
    pub seq: i64,
    /// The event's id.
    pub id: EventId,
    /// When the change was committed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The tenant the change belongs to, when it belongs to one.
    pub tenant_id: Option<TenantId>,
    /// The activity that was carried out.
    pub activity: String,
    /// Who acted (the subject).
    pub actor: String,
    /// The actor's party.
    pub actor_party: Party,
    /// The kind of object changed.
    pub target_kind: AuditTarget,
    /// The id of the object changed.
    pub target_id: String,
    /// What happened.
    pub outcome: AuditOutcome,
    /// The parties the event is addressed to.
    pub audience: Vec<Party>,
    /// The request or proposal this change carried out, or that the event is about.
    pub request_id: Option<RequestId>,
}

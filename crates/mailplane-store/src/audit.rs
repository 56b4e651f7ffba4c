//! The audit chain: how a row's hash is computed, and how the chain is verified.
//!
//! Each row stores the hash of the previous row and its own hash, SHA-256 over the previous
//! hash and the row's content in a fixed field order. Editing a row breaks its own hash;
//! deleting a row breaks the next row's link or, for the last row, the head's.

use sha2::{Digest, Sha256};

use crate::entity::audit_log;

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One change's evidence: its audit row and the parties owed its event, written together
/// by [`WriteTx::record`](crate::WriteTx::record). The target and the outcome are enums;
/// the store writes their one spelling.
#[derive(Debug, Clone)]
pub struct Change {
    /// The acting principal's subject.
    pub actor: String,
    /// Its party.
    pub party: mailplane_types::Party,
    /// Its organisation.
    pub org: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// The activity carried out.
    pub activity: String,
    /// The letters used.
    pub letters: mailplane_types::Letters,
    /// The tenant concerned, if any.
    pub tenant_id: Option<mailplane_types::TenantId>,
    /// The kind of object changed.
    pub target: mailplane_types::AuditTarget,
    /// The object's id.
    pub target_id: String,
    /// What happened.
    pub outcome: mailplane_types::AuditOutcome,
    /// The request or proposal the change carried out, if any.
    pub request_id: Option<uuid::Uuid>,
    /// The parties owed an event (none: an audit row only).
    pub audience: Vec<mailplane_types::Party>,
}

impl crate::WriteTx {
    /// Records a change: appends its audit row to the chain and its event to the feed of
    /// each party of its audience, in the change's transaction. The one way to record a
    /// change; the enums become their stored spelling here.
    pub async fn record(
        &self,
        change: Change,
    ) -> mailplane_types::Result<mailplane_types::resources::AuditEntry> {
        let entry = self
            .audit_append(crate::AuditRecord {
                actor: change.actor,
                party: change.party.to_string(),
                org: change.org,
                roles: change.roles,
                activity: change.activity,
                letters: change.letters,
                tenant_id: change.tenant_id,
                target_kind: change.target.as_str(),
                target_id: change.target_id,
                outcome: change.outcome.as_str(),
                request_id: change.request_id,
            })
            .await?;
        self.event_append(&entry, &change.audience).await?;
        Ok(entry)
    }
}

/// The hash of a row, given the previous row's hash. Every field but `hash` takes part.
pub fn row_hash(row: &audit_log::Model) -> String {
    let at_micros = row.at.unix_timestamp_nanos() / 1_000;
    let tenant = row.tenant_id.map(|t| t.to_string()).unwrap_or_default();
    let fields: [&str; 14] = [
        &row.prev_hash,
        &row.seq.to_string(),
        &row.id.to_string(),
        &at_micros.to_string(),
        &row.actor,
        &row.party,
        &row.org,
        &row.roles,
        &row.activity,
        &row.letters,
        &tenant,
        &row.target_kind,
        &row.target_id,
        &row.outcome,
    ];
    let request = row.request_id.map(|r| r.to_string());
    let mut h = Sha256::new();
    // The request id was added later: it takes part only when present, so that rows written
    // before it existed keep their hashes.
    for f in fields.into_iter().chain(request.as_deref()) {
        // Length-prefixed, so that no two different rows give the same byte string.
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Rows read.
    pub rows: u64,
    /// The first break in the chain, if any, as a sentence.
    pub problem: Option<String>,
}

impl AuditReport {
    /// Whether the chain is intact.
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Checks one row against the previous one; returns the problem, if any.
pub(crate) fn check_link(prev_seq: i64, prev_hash: &str, row: &audit_log::Model) -> Option<String> {
    if row.seq != prev_seq + 1 {
        return Some(format!(
            "row {} follows row {prev_seq}: rows {}..{} are missing",
            row.seq,
            prev_seq + 1,
            row.seq - 1
        ));
    }
    if row.prev_hash != prev_hash {
        return Some(format!(
            "row {} does not link to the row before it (its prev_hash differs)",
            row.seq
        ));
    }
    if row_hash(row) != row.hash {
        return Some(format!(
            "row {} was altered: its content does not match its hash",
            row.seq
        ));
    }
    None
}

//! The audit chain and the event feed: their reads and their writes, how a row's hash is
//! computed, and how the chain is verified.
//!
//! Each row stores the hash of the previous row and its own hash, SHA-256 over the previous
//! hash and the row's content in a fixed field order. Editing a row breaks its own hash;
//! deleting a row breaks the next row's link or, for the last row, the head's. The event of
//! a change is written in the same transaction as the change and its audit row.

use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use mailplane_types::resources::{AuditEntry, Event};
use mailplane_types::{AuditId, Error, Letters, Party, Result, TenantId};

// The moved reads and writes name this module's own functions as `audit::...`, as they did
// from outside it.
use crate::audit;
use crate::entity::{audit_head, audit_log, event};
use crate::{DataStore, Page, Scope, WriteTx, db_error, in_scope, now, paginate, rows};

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
    pub request_id: Option<mailplane_types::RequestId>,
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
            .audit_append(AuditRecord {
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
                request_id: change.request_id.map(mailplane_types::RequestId::uuid),
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

/// What an audit row records, before the chain fields are added.
#[derive(Debug, Clone)]
struct AuditRecord {
    /// The acting principal's subject.
    actor: String,
    /// Its party.
    party: String,
    /// Its organisation.
    org: String,
    /// Its roles.
    roles: Vec<String>,
    /// The activity carried out.
    activity: String,
    /// The letters used.
    letters: Letters,
    /// The tenant concerned, if any.
    tenant_id: Option<TenantId>,
    /// The kind of object changed.
    target_kind: &'static str,
    /// The object's id.
    target_id: String,
    /// What happened.
    outcome: &'static str,
    /// The request or proposal the change carried out, if any.
    request_id: Option<Uuid>,
}

impl DataStore {
    /// Audit rows in scope, in chain order. The cursor is the last `seq` seen. A partner
    /// reads only the rows of its customers' tenants bound to one of `partner_profiles`
    /// (the profiles under which a partner may review the audit trail).
    pub async fn audit_list(
        &self,
        scope: Scope,
        partner_profiles: &[String],
        after_seq: Option<i64>,
        limit: u64,
    ) -> Result<Page<AuditEntry>> {
        let mut q = audit_log::Entity::find();
        q = in_scope(q, audit_log::Column::TenantId, scope, partner_profiles);
        if let Some(after) = after_seq {
            q = q.filter(audit_log::Column::Seq.gt(after));
        }
        let rows = q
            .order_by_asc(audit_log::Column::Seq)
            .limit(limit + 1)
            .all(self.reader())
            .await
            .map_err(db_error)?;
        paginate(rows, limit, |r| r.seq, rows::audit)
    }

    /// The feed of `party` within `scope`, in order; the cursor is the last `seq` seen. A
    /// partner reads the events of its customers' tenants bound to `partner_profiles` only.
    pub async fn event_list(
        &self,
        scope: Scope,
        party: Party,
        partner_profiles: &[String],
        after_seq: Option<i64>,
        limit: u64,
    ) -> Result<Page<Event>> {
        let mut q = event::Entity::find();
        q = match party {
            Party::Customer => q.filter(event::Column::ForCustomer.eq(true)),
            Party::Partner => q.filter(event::Column::ForPartner.eq(true)),
            Party::Provider => q.filter(event::Column::ForProvider.eq(true)),
        };
        q = in_scope(q, event::Column::TenantId, scope, partner_profiles);
        if let Some(after) = after_seq {
            q = q.filter(event::Column::Seq.gt(after));
        }
        let rows = q
            .order_by_asc(event::Column::Seq)
            .limit(limit + 1)
            .all(self.reader())
            .await
            .map_err(db_error)?;
        paginate(rows, limit, |r| r.seq, rows::event)
    }

    /// Walks the whole chain and reports the first break: an edited row, a removed row, or a
    /// removed end of the chain.
    pub async fn audit_verify(&self) -> Result<AuditReport> {
        let mut prev_seq = 0i64;
        let mut prev_hash = audit::GENESIS.to_string();
        let mut rows = 0u64;
        loop {
            let batch = audit_log::Entity::find()
                .filter(audit_log::Column::Seq.gt(prev_seq))
                .order_by_asc(audit_log::Column::Seq)
                .limit(1000)
                .all(self.reader())
                .await
                .map_err(db_error)?;
            if batch.is_empty() {
                break;
            }
            for row in batch {
                if let Some(problem) = audit::check_link(prev_seq, &prev_hash, &row) {
                    return Ok(AuditReport {
                        rows,
                        problem: Some(problem),
                    });
                }
                rows += 1;
                prev_seq = row.seq;
                prev_hash = row.hash;
            }
        }
        let head = audit_head::Entity::find_by_id(1)
            .one(self.reader())
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::internal("audit_head row is missing"))?;
        let problem = if head.seq != prev_seq || head.hash != prev_hash {
            Some(format!(
                "the chain ends at row {prev_seq} but its head records row {}: rows at the end were removed",
                head.seq
            ))
        } else {
            None
        };
        Ok(AuditReport { rows, problem })
    }
}

impl WriteTx {
    /// Appends a row to the audit chain. The head row is locked first (on PostgreSQL), so
    /// concurrent transactions extend the chain one after another.
    async fn audit_append(&self, rec: AuditRecord) -> Result<AuditEntry> {
        let mut head_q = audit_head::Entity::find_by_id(1);
        if self.backend == DbBackend::Postgres {
            head_q = head_q.lock(LockType::Update);
        }
        let head = head_q
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::internal("audit_head row is missing"))?;
        let mut row = audit_log::Model {
            seq: head.seq + 1,
            id: AuditId::new().uuid(),
            at: now(),
            actor: rec.actor,
            party: rec.party,
            org: rec.org,
            roles: rec.roles.join(","),
            activity: rec.activity,
            letters: rec.letters.to_string(),
            tenant_id: rec.tenant_id.map(TenantId::uuid),
            target_kind: rec.target_kind.to_string(),
            target_id: rec.target_id,
            outcome: rec.outcome.to_string(),
            prev_hash: head.hash,
            hash: String::new(),
            request_id: rec.request_id,
        };
        row.hash = audit::row_hash(&row);
        audit_log::Entity::insert(audit_log::ActiveModel::from(row.clone()))
            .exec_without_returning(&self.tx)
            .await
            .map_err(db_error)?;
        audit_head::Entity::update_many()
            .col_expr(audit_head::Column::Seq, Expr::value(row.seq))
            .col_expr(audit_head::Column::Hash, Expr::value(row.hash.clone()))
            .filter(audit_head::Column::Id.eq(1))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        rows::audit(row)
    }

    /// Appends the event of a change to the feed of each party in `audience`, in the same
    /// transaction as the change and its audit row: no event for a change that rolled back,
    /// none lost for one that committed.
    async fn event_append(&self, audit: &AuditEntry, audience: &[Party]) -> Result<()> {
        if audience.is_empty() {
            return Ok(());
        }
        event::Entity::insert(event::ActiveModel {
            seq: Set(audit.seq),
            id: Set(Uuid::now_v7()),
            at: Set(audit.at),
            tenant_id: Set(audit.tenant_id.map(TenantId::uuid)),
            activity: Set(audit.activity.clone()),
            actor: Set(audit.actor.clone()),
            actor_party: Set(audit.party.clone()),
            target_kind: Set(audit.target_kind.as_str().to_string()),
            target_id: Set(audit.target_id.clone()),
            outcome: Set(audit.outcome.as_str().to_string()),
            for_customer: Set(audience.contains(&Party::Customer)),
            for_partner: Set(audience.contains(&Party::Partner)),
            for_provider: Set(audience.contains(&Party::Provider)),
            request_id: Set(audit.request_id.map(|r| r.0)),
        })
        .exec_without_returning(&self.tx)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

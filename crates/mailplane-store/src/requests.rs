//! Requests and proposals of the R/A workflow, with their consultations: their reads and
//! their writes.
//!
//! A request leaves `pending` by one conditional update, so of two answers at once exactly
//! one wins. On PostgreSQL every answer locks the request first, so that answers,
//! cancellations and expiry take their locks in one order and never deadlock.

use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, Set,
};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::resources::{Request, RequestKind, RequestState};
use mailplane_types::{Error, Party, RequestId, Result, TenantId};

use crate::entity::request;
use crate::{
    DataStore, Page, PageRequest, Scope, WriteTx, db_error, in_scope, now, paginate, rows,
};

/// The fields of a new request.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// The tenant it concerns.
    pub tenant_id: TenantId,
    /// The activity asked for.
    pub activity: String,
    /// The profile and version it is filed under.
    pub profile: String,
    /// The profile version.
    pub profile_version: u32,
    /// What is asked.
    pub payload: serde_json::Value,
    /// The requester's note.
    pub note: String,
    /// The requester's subject, party and organisation.
    pub requester: (String, Party, String),
    /// The requester's roles (an approved proposal runs with them).
    pub requester_roles: Vec<String>,
    /// The parties holding R.
    pub responsible: Vec<Party>,
    /// A request or a proposal.
    pub kind: RequestKind,
    /// The parties whose answer it waits for.
    pub addressed_to: Vec<Party>,
    /// The operation it carries, if any.
    pub operation: Option<String>,
    /// When it expires while pending.
    pub expires_at: Option<OffsetDateTime>,
}

/// How a pending request leaves `pending`.
#[derive(Debug, Clone)]
pub struct RequestDecision<'a> {
    /// The state it moves to.
    pub to: RequestState,
    /// Who decided (a subject).
    pub by: &'a str,
    /// The decider's reason or note.
    pub reason: Option<String>,
    /// What the operation produced, if one ran.
    pub result: Option<serde_json::Value>,
}

impl DataStore {
    /// A request within scope (a partner: of its customers' tenants under `partner_profiles`).
    pub async fn request_view(
        &self,
        scope: Scope,
        partner_profiles: &[String],
        id: RequestId,
    ) -> Result<Option<Request>> {
        request_get_on(self.reader(), scope, partner_profiles, id).await
    }

    /// Requests within scope, optionally in one state, in id order.
    pub async fn request_list(
        &self,
        scope: Scope,
        partner_profiles: &[String],
        state: Option<RequestState>,
        page: PageRequest,
    ) -> Result<Page<Request>> {
        let mut q = scoped_requests(scope, partner_profiles);
        if let Some(state) = state {
            q = q.filter(request::Column::State.eq(state.as_str()));
        }
        let rows = self.keyset(q, request::Column::Id, page).await?;
        paginate(rows, page.limit, |r| r.id, rows::request)
    }
}

impl WriteTx {
    /// Files a request.
    pub async fn request_insert(&self, r: NewRequest) -> Result<Request> {
        let t = now();
        let row = request::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(r.tenant_id.uuid()),
            activity: Set(r.activity),
            profile: Set(r.profile),
            profile_version: Set(r.profile_version as i32),
            payload: Set(r.payload.to_string()),
            note: Set(r.note),
            state: Set(RequestState::Pending.as_str().to_string()),
            requester: Set(r.requester.0),
            requester_party: Set(r.requester.1.to_string()),
            requester_org: Set(r.requester.2),
            responsible: Set(parties(&r.responsible)),
            decided_by: Set(None),
            reason: Set(None),
            created_at: Set(t),
            updated_at: Set(t),
            kind: Set(r.kind.as_str().to_string()),
            operation: Set(r.operation),
            addressed_to: Set(parties(&r.addressed_to)),
            requester_roles: Set(r.requester_roles.join(",")),
            expires_at: Set(r.expires_at),
            result: Set(None),
            answers: Set("[]".to_string()),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        rows::request(row)
    }

    /// A request within scope, inside the transaction.
    pub async fn request_view(
        &self,
        scope: Scope,
        partner_profiles: &[String],
        id: RequestId,
    ) -> Result<Option<Request>> {
        // Every answer locks the request before anything else (on PostgreSQL; SQLite has
        // one writer), so answers, cancellations and expiry take their locks in one order:
        // the request, then the tenant's data, then the audit head. Two different answers
        // racing wait for each other instead of deadlocking.
        if self.backend == DbBackend::Postgres {
            request::Entity::find_by_id(id.uuid())
                .lock(LockType::Update)
                .one(&self.tx)
                .await
                .map_err(db_error)?;
        }
        request_get_on(&self.tx, scope, partner_profiles, id).await
    }

    /// Moves a pending request to `to`. Only one transition out of `pending` can ever win:
    /// the update is conditional on the state, so of two operators clicking at once one
    /// succeeds and the other learns the request is no longer pending.
    pub async fn request_decide(&self, id: RequestId, d: RequestDecision<'_>) -> Result<bool> {
        let res = request::Entity::update_many()
            .col_expr(request::Column::State, Expr::value(d.to.as_str()))
            .col_expr(request::Column::DecidedBy, Expr::value(d.by.to_string()))
            .col_expr(request::Column::Reason, Expr::value(d.reason))
            .col_expr(
                request::Column::Result,
                Expr::value(d.result.map(|r| r.to_string())),
            )
            .col_expr(request::Column::UpdatedAt, Expr::value(now()))
            .filter(request::Column::Id.eq(id.uuid()))
            .filter(request::Column::State.eq(RequestState::Pending.as_str()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(res.rows_affected == 1)
    }

    /// Records a consulted party's answer on a pending consultation, and, when `escalate`
    /// names the accountable party, hands the decision to it with a new deadline. The
    /// caller holds the request's lock (see `request_view`), so answers never overwrite each
    /// other.
    pub async fn consultation_answer(
        &self,
        id: RequestId,
        answers: &[mailplane_types::resources::ConsultationAnswer],
        escalate: Option<(Party, OffsetDateTime)>,
    ) -> Result<bool> {
        let mut update = request::Entity::update_many()
            .col_expr(
                request::Column::Answers,
                Expr::value(serde_json::to_string(answers).map_err(Error::internal)?),
            )
            .col_expr(request::Column::UpdatedAt, Expr::value(now()));
        if let Some((party, until)) = escalate {
            update = update
                .col_expr(request::Column::AddressedTo, Expr::value(party.as_str()))
                .col_expr(request::Column::ExpiresAt, Expr::value(until));
        }
        let res = update
            .filter(request::Column::Id.eq(id.uuid()))
            .filter(request::Column::State.eq(RequestState::Pending.as_str()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(res.rows_affected == 1)
    }

    /// Pending requests whose deadline has passed at `now`, oldest first, at most `limit`.
    pub async fn requests_due(&self, now: OffsetDateTime, limit: u64) -> Result<Vec<Request>> {
        let mut q = request::Entity::find();
        if self.backend == DbBackend::Postgres {
            q = q.lock(LockType::Update);
        }
        q.filter(request::Column::State.eq(RequestState::Pending.as_str()))
            .filter(request::Column::ExpiresAt.lte(now))
            .order_by_asc(request::Column::ExpiresAt)
            .order_by_asc(request::Column::Id)
            .limit(limit)
            .all(&self.tx)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(rows::request)
            .collect()
    }
}

fn scoped_requests(scope: Scope, partner_profiles: &[String]) -> Select<request::Entity> {
    in_scope(
        request::Entity::find(),
        request::Column::TenantId,
        scope,
        partner_profiles,
    )
}

pub(crate) async fn request_get_on<C: ConnectionTrait>(
    db: &C,
    scope: Scope,
    partner_profiles: &[String],
    id: RequestId,
) -> Result<Option<Request>> {
    scoped_requests(scope, partner_profiles)
        .filter(request::Column::Id.eq(id.uuid()))
        .one(db)
        .await
        .map_err(db_error)?
        .map(rows::request)
        .transpose()
}

/// Parties as stored: comma-separated.
fn parties(list: &[Party]) -> String {
    list.iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

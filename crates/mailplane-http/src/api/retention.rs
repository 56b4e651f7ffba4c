//! `/v1/tenants/{tenant}/retention` and `/holds`: retention policies (`retention.manage`),
//! what the retention sweep deleted, and legal holds (`legal-hold.manage`), which outrank
//! every delete path.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::input::{HoldPlace, HoldRelease, RetentionSet};
use mailplane::types::retention::{LegalHold, RetentionPolicy, RetentionRun};
use mailplane::types::{HoldId, TenantId};

use crate::AppState;
use crate::api::requests::respond;
use crate::extract::{ApiJson, Authenticated, IdPath};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("retention_view", mailplane::activity::RETENTION),
    ("retention_set", mailplane::activity::RETENTION),
    ("retention_run_list", mailplane::activity::RETENTION),
    ("hold_list", mailplane::activity::HOLDS),
    ("hold_place", mailplane::activity::HOLDS),
    ("hold_release", mailplane::activity::HOLDS),
];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(retention_view, retention_set))
        .routes(routes!(retention_run_list))
        .routes(routes!(hold_list, hold_place))
        .routes(routes!(hold_release))
}

/// A tenant's retention policy, if it has one.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RetentionState {
    /// The policy; absent when the tenant keeps mail with no retention rule.
    pub policy: Option<RetentionPolicy>,
}

/// The retention sweep's results.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RetentionRunList {
    /// One per mailbox and sweep that deleted something or was stopped by a hold.
    pub items: Vec<RetentionRun>,
}

/// A tenant's legal holds.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HoldList {
    /// Active and released holds, oldest first.
    pub items: Vec<LegalHold>,
}

/// Shows the tenant's retention policy.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/retention", operation_id = "retention_view", tag = "retention",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy, if any.", body = RetentionState),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `retention.manage`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn retention_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
) -> Result<Json<RetentionState>, ApiError> {
    let policy = s.control_plane.retention_view(&actor, tenant).await?;
    Ok(Json(RetentionState { policy }))
}

/// Sets the tenant's retention policy (`retention.manage`). A locked policy is never
/// shortened, removed or unlocked; both values absent removes an unlocked policy.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/retention", operation_id = "retention_set", tag = "retention",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = RetentionSet, security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy as set.", body = RetentionState, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid, or the change would shorten, remove or unlock a locked policy.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `retention.manage`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn retention_set(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(input): ApiJson<RetentionSet>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .retention_set(&actor, tenant, input)
        .await?
        .map(|policy| RetentionState { policy });
    Ok(respond(outcome, StatusCode::OK))
}

/// What the retention sweep deleted from the tenant's mailboxes, and what holds stopped.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/retention/runs", operation_id = "retention_run_list", tag = "retention",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The runs.", body = RetentionRunList),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `retention.manage`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn retention_run_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
) -> Result<Json<RetentionRunList>, ApiError> {
    let items = s.control_plane.retention_run_list(&actor, tenant).await?;
    Ok(Json(RetentionRunList { items }))
}

/// Lists the tenant's legal holds, active and released.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/holds", operation_id = "hold_list", tag = "retention",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The holds.", body = HoldList),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `legal-hold.manage`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn hold_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
) -> Result<Json<HoldList>, ApiError> {
    let items = s.control_plane.hold_list(&actor, tenant).await?;
    Ok(Json(HoldList { items }))
}

/// Places a legal hold on a mailbox or the whole tenant (`legal-hold.manage`): from then on
/// the retention sweep, mailbox deletion and tenant deletion leave what it covers.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/holds", operation_id = "hold_place", tag = "retention",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = HoldPlace, security(("bearer" = [])),
    responses(
        (status = 201, description = "The hold.", body = LegalHold, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `legal-hold.manage`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn hold_place(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(input): ApiJson<HoldPlace>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.hold_place(&actor, tenant, input).await?;
    Ok(respond(outcome, StatusCode::CREATED))
}

/// Releases a legal hold (`legal-hold.manage`), with a reason.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/holds/{hold}/release", operation_id = "hold_release", tag = "retention",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("hold" = String, Path, format = Uuid, description = "The hold's id."),
    ),
    request_body = HoldRelease, security(("bearer" = [])),
    responses(
        (status = 200, description = "The released hold.", body = LegalHold, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `legal-hold.manage`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or hold, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The hold was released already.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn hold_release(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, hold)): IdPath<(TenantId, HoldId)>,
    ApiJson(input): ApiJson<HoldRelease>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .hold_release(&actor, tenant, hold, input)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

//! `/v1/tenants/{tenant}/suspensions`: suspensions of a tenant or of one of its mailboxes,
//! each with a reason (`service.suspend`). Reasons overlap: the tenant (or the mailbox) stays
//! suspended until every one of its suspensions is lifted; nobody signs in meanwhile, mail is
//! still delivered, and the customer reads and exports but changes nothing in its directory.
//! Also `/v1/tenants/{tenant}/termination/for-cause`: ending the contract for cause
//! (`contract.end`), where the dunning ladder of a suspension for non-payment leads.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::input::{ContractEnd, SuspensionLift, SuspensionPlace};
use mailplane::types::lifecycle::Termination;
use mailplane::types::suspensions::Suspension;
use mailplane::types::{SuspensionId, TenantId};

use crate::AppState;
use crate::api::requests::respond;
use crate::extract::{ApiJson, Authenticated, IdPath};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("suspension_list", mailplane::activity::SUSPEND),
    ("suspension_place", mailplane::activity::SUSPEND),
    ("suspension_lift", mailplane::activity::SUSPEND),
    ("contract_end", mailplane::activity::CONTRACT_END),
];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(suspension_list, suspension_place))
        .routes(routes!(suspension_lift))
        .routes(routes!(contract_end))
}

/// A tenant's suspensions.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SuspensionList {
    /// Active and lifted suspensions of the tenant and of its mailboxes, oldest first.
    pub items: Vec<Suspension>,
}

/// Lists the tenant's suspensions and its mailboxes', active and lifted.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/suspensions", operation_id = "suspension_list", tag = "suspensions",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The suspensions.", body = SuspensionList),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `service.suspend`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn suspension_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
) -> Result<Json<SuspensionList>, ApiError> {
    let items = s.control_plane.suspension_list(&actor, tenant).await?;
    Ok(Json(SuspensionList { items }))
}

/// Suspends the tenant, or one of its mailboxes, for a reason (`service.suspend`). A
/// suspension of the whole tenant sets its status to `suspended`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/suspensions", operation_id = "suspension_place", tag = "suspensions",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = SuspensionPlace, security(("bearer" = [])),
    responses(
        (status = 201, description = "The suspension.", body = Suspension, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid (a note is required for `other`).", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `service.suspend`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The same reason is already active on the subject, or the tenant is at end of service.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn suspension_place(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(input): ApiJson<SuspensionPlace>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .suspension_place(&actor, tenant, input)
        .await?;
    Ok(respond(outcome, StatusCode::CREATED))
}

/// Lifts a suspension (`service.suspend`); its subject stays suspended while another of its
/// suspensions is active.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/suspensions/{suspension}/lift", operation_id = "suspension_lift", tag = "suspensions",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("suspension" = String, Path, format = Uuid, description = "The suspension's id."),
    ),
    request_body = SuspensionLift, security(("bearer" = [])),
    responses(
        (status = 200, description = "The lifted suspension.", body = Suspension, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `service.suspend`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or suspension, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The suspension was lifted already.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn suspension_lift(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, suspension)): IdPath<(TenantId, SuspensionId)>,
    ApiJson(input): ApiJson<SuspensionLift>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .suspension_lift(&actor, tenant, suspension, input)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// Ends the tenant's contract for cause (`contract.end`): a termination with its reason,
/// which opens the profile's export window and then walks the end of service. The dunning
/// ladder makes the same call as provider automation once a suspension for non-payment
/// outlives its grace.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/termination/for-cause", operation_id = "contract_end", tag = "suspensions",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = ContractEnd, security(("bearer" = [])),
    responses(
        (status = 201, description = "The termination.", body = Termination, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid (a note is required for `other`; `customer_request` is the customer's own termination).", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `contract.end`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The contract was already terminated.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn contract_end(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(input): ApiJson<ContractEnd>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.contract_end(&actor, tenant, input).await?;
    Ok(respond(outcome, StatusCode::CREATED))
}

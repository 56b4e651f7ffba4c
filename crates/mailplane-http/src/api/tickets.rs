//! `/v1/tenants/{tenant}/tickets`: incidents reported on a tenant (`incident.report`:
//! customer RA, provider I in hosted-exchange) and handled by the provider
//! (`incident.handle`: provider RA, customer I), so the customer hears of every step.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::input::{TicketComment, TicketCreate, TicketHandle};
use mailplane::types::resources::Ticket;
use mailplane::types::{TenantId, TicketId};

use crate::AppState;
use crate::api::page_of;
use crate::api::requests::respond;
use crate::extract::{ApiJson, ApiQuery, Authenticated, IdPath};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("ticket_list", mailplane::activity::INCIDENT_REPORT),
    ("ticket_open", mailplane::activity::INCIDENT_REPORT),
    ("ticket_view", mailplane::activity::INCIDENT_REPORT),
    ("ticket_comment", mailplane::activity::INCIDENT_REPORT),
    ("ticket_handle", mailplane::activity::INCIDENT_HANDLE),
];

page_of!(TicketPage, Ticket);

/// The query of `ticket_list`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// Only tickets in this state: `open`, `qualified`, `in_progress`, `resolved`, `closed`.
    pub state: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 1000 (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ticket_list, ticket_open))
        .routes(routes!(ticket_view))
        .routes(routes!(ticket_comment))
        .routes(routes!(ticket_handle))
}

const FILED: &str = "Filed: a proposal to the accountable party (a partner reporting for its customer, for example); the body is the request.";

/// Lists a tenant's tickets, each with its history.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/tickets", operation_id = "ticket_list", tag = "tickets",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."), TicketQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of tickets.", body = TicketPage),
        (status = 400, description = "The id or a query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `incident.report`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn ticket_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiQuery(q): ApiQuery<TicketQuery>,
) -> Result<Json<TicketPage>, ApiError> {
    let limit = crate::extract::parse_limit(q.limit.as_deref())?;
    Ok(Json(
        s.control_plane
            .ticket_list(
                &actor,
                tenant,
                q.state.as_deref(),
                q.cursor.as_deref(),
                limit,
            )
            .await?
            .into(),
    ))
}

/// Reports an incident.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/tickets", operation_id = "ticket_open", tag = "tickets",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = TicketCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "The ticket was opened.", body = Ticket),
        (status = 202, description = FILED, body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid; `errors` names each field.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `incident.report`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn ticket_open(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(input): ApiJson<TicketCreate>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.ticket_open(&actor, tenant, input).await?;
    Ok(respond(outcome, StatusCode::CREATED))
}

/// Shows a ticket with its history.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/tickets/{ticket}", operation_id = "ticket_view", tag = "tickets",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
           ("ticket" = String, Path, format = Uuid, description = "The ticket's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ticket.", body = Ticket),
        (status = 400, description = "An id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `incident.report`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or ticket, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn ticket_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, id)): IdPath<(TenantId, TicketId)>,
) -> Result<Json<Ticket>, ApiError> {
    Ok(Json(s.control_plane.ticket_view(&actor, tenant, id).await?))
}

/// Adds information to a ticket, as its reporting side (`incident.report`).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/tickets/{ticket}/comments", operation_id = "ticket_comment", tag = "tickets",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
           ("ticket" = String, Path, format = Uuid, description = "The ticket's id.")),
    request_body = TicketComment, security(("bearer" = [])),
    responses(
        (status = 200, description = "The ticket with the comment.", body = Ticket),
        (status = 202, description = FILED, body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `incident.report`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or ticket, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The ticket is closed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn ticket_comment(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, id)): IdPath<(TenantId, TicketId)>,
    ApiJson(input): ApiJson<TicketComment>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .ticket_comment(&actor, tenant, id, input)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// Handles a ticket (`incident.handle`): qualify it, report progress, resolve or close it.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/tickets/{ticket}/steps", operation_id = "ticket_handle", tag = "tickets",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
           ("ticket" = String, Path, format = Uuid, description = "The ticket's id.")),
    request_body = TicketHandle, security(("bearer" = [])),
    responses(
        (status = 200, description = "The ticket after the step.", body = Ticket),
        (status = 202, description = FILED, body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `incident.handle`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or ticket, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The ticket is closed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn ticket_handle(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, id)): IdPath<(TenantId, TicketId)>,
    ApiJson(input): ApiJson<TicketHandle>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .ticket_handle(&actor, tenant, id, input)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

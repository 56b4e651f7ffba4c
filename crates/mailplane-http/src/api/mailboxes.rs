//! `/v1/tenants/{tenant}/mailboxes`: a tenant's mailboxes, one at a time or in a batch
//! (`directory.administer`; customer RA and provider IR in hosted-exchange). Named like the
//! library's and the store's `mailboxes` modules.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use axum::response::IntoResponse;
use mailplane::certificate::receipt::Receipt;
use mailplane::input::{MailboxCreate, MailboxUpdate};
use mailplane::types::resources::{Mailbox, MailboxStatus};
use mailplane::types::{MailboxId, TenantId};
use mailplane::{MailboxBatch, MailboxBatchCreate};

use crate::AppState;
use crate::api::page_of;
use crate::api::requests::respond;
use crate::extract::{ApiJson, ApiQuery, Authenticated, IdPath};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("mailbox_list", mailplane::activity::DIRECTORY),
    ("mailbox_create", mailplane::activity::DIRECTORY),
    ("mailbox_batch_create", mailplane::activity::DIRECTORY),
    ("mailbox_view", mailplane::activity::DIRECTORY),
    ("mailbox_update", mailplane::activity::DIRECTORY),
    ("mailbox_delete", mailplane::activity::DIRECTORY),
    ("mailbox_restore", mailplane::activity::DIRECTORY),
    ("mailbox_receipt_view", mailplane::activity::DIRECTORY),
];

page_of!(MailboxPage, Mailbox);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mailbox_list, mailbox_create))
        .routes(routes!(mailbox_view, mailbox_update, mailbox_delete))
        .routes(routes!(mailbox_restore))
        .routes(routes!(mailbox_receipt_view))
}

/// The query of the mailbox list: a page, and the status to list.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MailboxListQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 1000 (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Only mailboxes of this status (`enabled`, `disabled`, `deleted`, `inactive`);
    /// absent: every mailbox that is not deleted (neither `deleted` nor `inactive`).
    #[param(value_type = Option<MailboxStatus>)]
    pub status: Option<String>,
}

/// Lists a tenant's mailboxes.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/mailboxes", operation_id = "mailbox_list", tag = "mailboxes",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."), MailboxListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of mailboxes: those not deleted, or those of the status asked for.", body = MailboxPage),
        (status = 400, description = "The id or a query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiQuery(q): ApiQuery<MailboxListQuery>,
) -> Result<Json<MailboxPage>, ApiError> {
    let limit = crate::extract::parse_limit(q.limit.as_deref())?;
    let status = q
        .status
        .as_deref()
        .map(|v| {
            MailboxStatus::parse(v).ok_or_else(|| {
                ApiError(mailplane::types::Error::invalid(
                    "status",
                    "must be one of `enabled`, `disabled`, `deleted`, `inactive`",
                ))
            })
        })
        .transpose()?;
    Ok(Json(
        s.control_plane
            .mailbox_list(&actor, tenant, q.cursor.as_deref(), limit, status)
            .await?
            .into(),
    ))
}

/// Creates a mailbox on a domain of the same tenant.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/mailboxes", operation_id = "mailbox_create", tag = "mailboxes",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = MailboxCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "The mailbox was created.", body = Mailbox, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: the caller's party holds only A (a request to the responsible party) or only R (a proposal to the accountable party); the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid; `errors` names each field.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The address is in use by a mailbox, an alias or a group, or no seat is free for an enabled mailbox.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_create(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(input): ApiJson<MailboxCreate>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .mailbox_create(&actor, tenant, input)
        .await?;
    Ok(respond(outcome, StatusCode::CREATED))
}

/// Shows a mailbox.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}", operation_id = "mailbox_view", tag = "mailboxes",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
           ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The mailbox.", body = Mailbox),
        (status = 400, description = "An id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
) -> Result<Json<Mailbox>, ApiError> {
    Ok(Json(
        s.control_plane
            .mailbox_view(&actor, tenant, mailbox)
            .await?,
    ))
}

/// Changes a mailbox's display name, quota or status.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}", operation_id = "mailbox_update", tag = "mailboxes",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
           ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id.")),
    request_body = MailboxUpdate, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed mailbox.", body = Mailbox, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: the caller's party holds only A (a request to the responsible party) or only R (a proposal to the accountable party); the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Enabling needs a licence and no seat is free.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_update(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
    ApiJson(input): ApiJson<MailboxUpdate>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .mailbox_update(&actor, tenant, mailbox, input)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// Deletes a mailbox.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}", operation_id = "mailbox_delete", tag = "mailboxes",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
           ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The mailbox was deleted: it is `deleted` for the profile's undelete window (or `inactive` while a legal hold covers it), restorable, then its data is destroyed and a receipt issued.", headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: the caller's party holds only A (a request to the responsible party) or only R (a proposal to the accountable party); the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The mailbox is deleted already, or the tenant is at end of service (its configuration is destroyed or being destroyed).", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_delete(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .mailbox_delete(&actor, tenant, mailbox)
        .await?;
    Ok(respond(outcome, StatusCode::NO_CONTENT))
}

/// Restores a deleted or inactive mailbox inside its undelete window, with its address,
/// data, aliases, group memberships and seats.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/restore", operation_id = "mailbox_restore", tag = "mailboxes",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
           ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The restored mailbox, with the status it had before its deletion.", body = Mailbox, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: the caller's party holds only A (a request to the responsible party) or only R (a proposal to the accountable party); the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The mailbox is not deleted; its window closed (the message names its receipt); or no seat is free for it.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_restore(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .mailbox_restore(&actor, tenant, mailbox)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// The signed destruction receipt of a mailbox whose undelete window closed; it verifies
/// offline with `mailplane certificate verify`, like a destruction certificate.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/receipt", operation_id = "mailbox_receipt_view", tag = "mailboxes",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
           ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed receipt.", body = Receipt),
        (status = 400, description = "An id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or receipt (the mailbox's window has not closed), or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_receipt_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
) -> Result<Json<Receipt>, ApiError> {
    Ok(Json(
        s.control_plane
            .mailbox_receipt(&actor, tenant, mailbox)
            .await?,
    ))
}

/// Creates up to 10,000 mailboxes in one call, all or nothing (`directory.administer`; the
/// caller's party must hold R and A: a batch is never filed as a request). Every problem
/// names its row and field (`mailboxes[41].local_part`). With an `Idempotency-Key`, a
/// retried call with the same body gets the first call's answer for 24 hours
/// (`Idempotency-Replayed: true`); the same key with another body is a 422.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/mailboxes/batch", operation_id = "mailbox_batch_create", tag = "mailboxes",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters naming this batch; a retry with the same key and body replays the answer."),
    ),
    request_body = MailboxBatchCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "Every mailbox was created (or, with `Idempotency-Replayed: true`, had been by an earlier call with the same key).", body = MailboxBatch,
            headers(("Idempotency-Replayed" = String, description = "`true` when the answer is the stored one of an earlier call."))),
        (status = 400, description = "The id, the key or the body is invalid; `errors` names every row and field. Nothing was created.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party does not hold R and A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too few free seats for the enabled mailboxes, or a call with the same key is running. Nothing was created.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The key was used with another body in the last 24 hours.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_batch_create(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    headers: axum::http::HeaderMap,
    ApiJson(input): ApiJson<MailboxBatchCreate>,
) -> Result<Response, ApiError> {
    let key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError(mailplane::types::Error::invalid(
                    "Idempotency-Key",
                    "must be 1 to 255 visible ASCII characters",
                ))
            })
        })
        .transpose()?;
    let answer = s
        .control_plane
        .mailbox_batch_create(&actor, tenant, input, key)
        .await?;
    let mut response = (StatusCode::CREATED, Json(answer.batch)).into_response();
    if answer.replayed {
        response.headers_mut().insert(
            "idempotency-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// The batch route, whose body limit fits 10,000 rows (see [`crate::bodies`]).
pub fn batch_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(mailbox_batch_create))
}

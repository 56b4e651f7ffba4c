//! `/v1/webhooks`: an organisation's receivers of its event feed, and their delivery log.
//! Deliveries are signed; see the `Mailplane-Signature` header in the book.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::input::WebhookCreate;
use mailplane::types::WebhookId;
use mailplane::types::resources::{Delivery, Webhook, WebhookCreated};

use crate::AppState;
use crate::api::page_of;
use crate::extract::{ApiJson, ApiQuery, Authenticated, IdPath, ListQuery};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("webhook_list", crate::activities::NONE),
    ("webhook_create", crate::activities::NONE),
    ("webhook_view", crate::activities::NONE),
    ("webhook_delete", crate::activities::NONE),
    ("webhook_delivery_list", crate::activities::NONE),
];

page_of!(WebhookPage, Webhook);
page_of!(DeliveryPage, Delivery);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(webhook_list, webhook_create))
        .routes(routes!(webhook_view, webhook_delete))
        .routes(routes!(webhook_delivery_list))
}

/// Lists the caller's organisation's webhooks.
#[utoipa::path(get, path = "/v1/webhooks", operation_id = "webhook_list", tag = "webhooks",
    params(ListQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of webhooks.", body = WebhookPage),
        (status = 400, description = "A query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn webhook_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<WebhookPage>, ApiError> {
    let limit = q.limit()?;
    Ok(Json(
        s.control_plane
            .webhook_list(&actor, q.cursor.as_deref(), limit)
            .await?
            .into(),
    ))
}

/// Registers a webhook for the caller's organisation (administrators only). It receives
/// every event of the organisation's feed written from now on, signed with the secret in
/// the answer, which is not shown again.
#[utoipa::path(post, path = "/v1/webhooks", operation_id = "webhook_create", tag = "webhooks",
    request_body = WebhookCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "The webhook, with its signing secret.", body = WebhookCreated),
        (status = 400, description = "The body is invalid; `errors` names each field.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's roles do not administer the organisation.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn webhook_create(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(input): ApiJson<WebhookCreate>,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.control_plane.webhook_create(&actor, input).await?),
    ))
}

/// Shows a webhook (never its secret).
#[utoipa::path(get, path = "/v1/webhooks/{webhook}", operation_id = "webhook_view", tag = "webhooks",
    params(("webhook" = String, Path, format = Uuid, description = "The webhook's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The webhook.", body = Webhook),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook in the caller's organisation.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn webhook_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<WebhookId>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(s.control_plane.webhook_view(&actor, id).await?))
}

/// Removes a webhook with its delivery log (administrators only).
#[utoipa::path(delete, path = "/v1/webhooks/{webhook}", operation_id = "webhook_delete", tag = "webhooks",
    params(("webhook" = String, Path, format = Uuid, description = "The webhook's id.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The webhook was removed."),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's roles do not administer the organisation.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook in the caller's organisation.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn webhook_delete(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<WebhookId>,
) -> Result<StatusCode, ApiError> {
    s.control_plane.webhook_delete(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The delivery log of a webhook: each event with its state and every attempt.
#[utoipa::path(get, path = "/v1/webhooks/{webhook}/deliveries", operation_id = "webhook_delivery_list", tag = "webhooks",
    params(("webhook" = String, Path, format = Uuid, description = "The webhook's id."), ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deliveries.", body = DeliveryPage),
        (status = 400, description = "The id or a query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook in the caller's organisation.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn webhook_delivery_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<WebhookId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let limit = q.limit()?;
    Ok(Json(
        s.control_plane
            .webhook_delivery_list(&actor, id, q.cursor.as_deref(), limit)
            .await?
            .into(),
    ))
}

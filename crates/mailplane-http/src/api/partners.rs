//! `/v1/partners`: reseller organisations, managed by the provider (`partner.manage`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::input::{PartnerCreate, PartnerUpdate};
use mailplane::types::PartnerId;
use mailplane::types::resources::Partner;

use crate::AppState;
use crate::api::page_of;
use crate::extract::{ApiJson, ApiQuery, Authenticated, IdPath, ListQuery};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("partner_list", mailplane::activity::PARTNER_MANAGE),
    ("partner_create", mailplane::activity::PARTNER_MANAGE),
    ("partner_view", mailplane::activity::PARTNER_MANAGE),
    ("partner_update", mailplane::activity::PARTNER_MANAGE),
    ("partner_delete", mailplane::activity::PARTNER_MANAGE),
];

page_of!(PartnerPage, Partner);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(partner_list, partner_create))
        .routes(routes!(partner_view, partner_update, partner_delete))
}

/// Lists the partners the caller may see: all for the provider, itself for a partner.
#[utoipa::path(get, path = "/v1/partners", operation_id = "partner_list", tag = "partners",
    params(ListQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of partners.", body = PartnerPage),
        (status = 400, description = "A query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `partner.manage`.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn partner_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PartnerPage>, ApiError> {
    let limit = q.limit()?;
    Ok(Json(
        s.control_plane
            .partner_list(&actor, q.cursor.as_deref(), limit)
            .await?
            .into(),
    ))
}

/// Creates a partner (provider RA on `partner.manage`).
#[utoipa::path(post, path = "/v1/partners", operation_id = "partner_create", tag = "partners",
    request_body = PartnerCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "The partner was created.", body = Partner),
        (status = 400, description = "The body is invalid; `errors` names each field.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party may not manage partners.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A partner with this name exists.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn partner_create(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(input): ApiJson<PartnerCreate>,
) -> Result<(StatusCode, Json<Partner>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.control_plane.partner_create(&actor, input).await?),
    ))
}

/// Shows a partner.
#[utoipa::path(get, path = "/v1/partners/{partner}", operation_id = "partner_view", tag = "partners",
    params(("partner" = String, Path, format = Uuid, description = "The partner's id.")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The partner.", body = Partner),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `partner.manage`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partner, or not visible to the caller.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn partner_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<PartnerId>,
) -> Result<Json<Partner>, ApiError> {
    Ok(Json(s.control_plane.partner_view(&actor, id).await?))
}

/// Renames a partner.
#[utoipa::path(patch, path = "/v1/partners/{partner}", operation_id = "partner_update", tag = "partners",
    params(("partner" = String, Path, format = Uuid, description = "The partner's id.")),
    request_body = PartnerUpdate, security(("bearer" = [])),
    responses(
        (status = 200, description = "The renamed partner.", body = Partner),
        (status = 400, description = "The id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party may not manage partners.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partner, or not visible to the caller.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A partner with this name exists.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn partner_update(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<PartnerId>,
    ApiJson(input): ApiJson<PartnerUpdate>,
) -> Result<Json<Partner>, ApiError> {
    Ok(Json(
        s.control_plane.partner_update(&actor, id, input).await?,
    ))
}

/// Deletes a partner that has no tenants.
#[utoipa::path(delete, path = "/v1/partners/{partner}", operation_id = "partner_delete", tag = "partners",
    params(("partner" = String, Path, format = Uuid, description = "The partner's id.")), security(("bearer" = [])),
    responses(
        (status = 204, description = "The partner was deleted."),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party may not manage partners.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such partner, or not visible to the caller.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The partner still has tenants.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn partner_delete(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<PartnerId>,
) -> Result<StatusCode, ApiError> {
    s.control_plane.partner_delete(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

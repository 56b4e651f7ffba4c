//! `/v1/tenants`: customer organisations. Creating, viewing and changing a tenant is
//! `service.deliver`; deleting it is `configuration.destroy`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::input::{TenantCreate, TenantRebind, TenantUpdate};
use mailplane::types::TenantId;
use mailplane::types::resources::Tenant;

use crate::AppState;
use crate::api::page_of;
use crate::api::requests::respond;
use crate::extract::{ApiJson, ApiQuery, Authenticated, IdPath, ListQuery};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("tenant_list", mailplane::activity::TENANT_DELIVER),
    ("tenant_create", mailplane::activity::TENANT_DELIVER),
    ("tenant_view", mailplane::activity::TENANT_DELIVER),
    ("tenant_update", mailplane::activity::TENANT_DELIVER),
    ("tenant_delete", mailplane::activity::TENANT_DESTROY),
    ("tenant_rebind", mailplane::activity::PROFILE_CHANGE),
];

page_of!(TenantPage, Tenant);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tenant_list, tenant_create))
        .routes(routes!(tenant_view, tenant_update, tenant_delete))
        .routes(routes!(tenant_rebind))
}

/// Lists the tenants in the caller's scope whose profile lets its party see them.
#[utoipa::path(get, path = "/v1/tenants", operation_id = "tenant_list", tag = "tenants",
    params(ListQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of tenants. A page may be shorter than `limit` and still have a `next_cursor`.", body = TenantPage),
        (status = 400, description = "A query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn tenant_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<TenantPage>, ApiError> {
    let limit = q.limit()?;
    Ok(Json(
        s.control_plane
            .tenant_list(&actor, q.cursor.as_deref(), limit)
            .await?
            .into(),
    ))
}

/// Creates a tenant bound to a RACI profile; the profile's `service.deliver` letters decide
/// who may (the provider in `hosted-exchange`, the partner in `master-hoster`).
#[utoipa::path(post, path = "/v1/tenants", operation_id = "tenant_create", tag = "tenants",
    request_body = TenantCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "The tenant was created.", body = Tenant),
        (status = 400, description = "The body is invalid; `errors` names each field.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party may not deliver the service under this profile.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant conflicts with existing state.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn tenant_create(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(input): ApiJson<TenantCreate>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.control_plane.tenant_create(&actor, input).await?),
    ))
}

/// Shows a tenant.
#[utoipa::path(get, path = "/v1/tenants/{tenant}", operation_id = "tenant_view", tag = "tenants",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant.", body = Tenant),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `service.deliver`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn tenant_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<TenantId>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(s.control_plane.tenant_view(&actor, id).await?))
}

/// Renames a tenant or changes its status.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}", operation_id = "tenant_update", tag = "tenants",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = TenantUpdate, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed tenant.", body = Tenant, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: the caller's party holds only A (a request to the responsible party) or only R (a proposal to the accountable party); the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party may not carry out `service.deliver`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn tenant_update(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<TenantId>,
    ApiJson(input): ApiJson<TenantUpdate>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.tenant_update(&actor, id, input).await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// Deletes a tenant that holds no domain (`configuration.destroy`).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}", operation_id = "tenant_delete", tag = "tenants",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")), security(("bearer" = [])),
    responses(
        (status = 204, description = "The tenant was deleted.", headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: the caller's party holds only A (a request to the responsible party) or only R (a proposal to the accountable party); the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party may not carry out `configuration.destroy`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant still has domains, or pending requests or proposals.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn tenant_delete(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<TenantId>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.tenant_delete(&actor, id).await?;
    Ok(respond(outcome, StatusCode::NO_CONTENT))
}

/// Binds a tenant to another profile (`profile.change`). In the shipped profiles the
/// customer is accountable and the provider responsible: the provider's call is a proposal
/// the customer approves, the customer's a request the provider fulfils. Requests filed
/// before keep the profile version they were filed under.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/profile", operation_id = "tenant_rebind", tag = "tenants",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = TenantRebind, security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant, bound to the new profile.", body = Tenant, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid: no such tenant profile, the current one, or one without partners for a resold tenant.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `profile.change`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn tenant_rebind(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<TenantId>,
    ApiJson(input): ApiJson<TenantRebind>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.tenant_rebind(&actor, id, input).await?;
    Ok(respond(outcome, StatusCode::OK))
}

//! `/v1/tenants/{tenant}/credentials`: customer-managed API credentials
//! (`access.control-plane`: customer A, provider R; automated in the shipped profiles, so a
//! customer's registration answers 201 with the `Mailplane-Request` header).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::input::CredentialCreate;
use mailplane::types::resources::Credential;
use mailplane::types::{CredentialId, TenantId};

use crate::AppState;
use crate::api::page_of;
use crate::api::requests::respond;
use crate::extract::{ApiJson, ApiQuery, Authenticated, IdPath, ListQuery};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("credential_list", mailplane::activity::CONTROL_PLANE_ACCESS),
    (
        "credential_register",
        mailplane::activity::CONTROL_PLANE_ACCESS,
    ),
    ("credential_view", mailplane::activity::CONTROL_PLANE_ACCESS),
    (
        "credential_revoke",
        mailplane::activity::CONTROL_PLANE_ACCESS,
    ),
];

page_of!(CredentialPage, Credential);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(credential_list, credential_register))
        .routes(routes!(credential_view))
        .routes(routes!(credential_revoke))
}

/// Lists a tenant's API credentials, revoked and expired ones included.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/credentials", operation_id = "credential_list", tag = "credentials",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."), ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of credentials.", body = CredentialPage),
        (status = 400, description = "The id or a query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `access.control-plane`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn credential_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<CredentialPage>, ApiError> {
    let limit = q.limit()?;
    Ok(Json(
        s.control_plane
            .credential_list(&actor, tenant, q.cursor.as_deref(), limit)
            .await?
            .into(),
    ))
}

/// Registers the public half of an Ed25519 key pair the customer keeps. Tokens signed with
/// the private half (`kid` and `iss` = `credential:<id>`, `party` = `customer`, `org` = the
/// tenant) act for the tenant with the credential's roles at most.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/credentials", operation_id = "credential_register", tag = "credentials",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = CredentialCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "The credential was registered (by provider automation when the caller's party only holds A).", body = Credential, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to register it, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid; `errors` names each field.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `access.control-plane`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn credential_register(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(input): ApiJson<CredentialCreate>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .credential_register(&actor, tenant, input)
        .await?;
    Ok(respond(outcome, StatusCode::CREATED))
}

/// Shows a credential.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/credentials/{credential}", operation_id = "credential_view", tag = "credentials",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
           ("credential" = String, Path, format = Uuid, description = "The credential's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The credential.", body = Credential),
        (status = 400, description = "An id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `access.control-plane`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or credential, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn credential_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, id)): IdPath<(TenantId, CredentialId)>,
) -> Result<Json<Credential>, ApiError> {
    Ok(Json(
        s.control_plane.credential_view(&actor, tenant, id).await?,
    ))
}

/// Revokes a credential: tokens signed with it are refused from now on. Revoking a revoked
/// credential changes nothing and answers 409.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/credentials/{credential}/revoke", operation_id = "credential_revoke", tag = "credentials",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
           ("credential" = String, Path, format = Uuid, description = "The credential's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The revoked credential.", body = Credential, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to revoke it, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `access.control-plane`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or credential, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The credential was revoked already.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn credential_revoke(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, id)): IdPath<(TenantId, CredentialId)>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .credential_revoke(&actor, tenant, id)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

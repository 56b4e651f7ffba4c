//! `/v1/tenants/{tenant}/domains`: a tenant's domains, the DNS records to publish for them
//! and their verification (`directory.administer`; customer RA and provider IR in
//! hosted-exchange). Named like the library's and the store's `domains` modules.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::input::DomainCreate;
use mailplane::types::resources::Domain;
use mailplane::types::{DomainId, TenantId};
use mailplane::{DomainRecords, DomainVerification};

use crate::AppState;
use crate::api::page_of;
use crate::api::requests::respond;
use crate::extract::{ApiJson, ApiQuery, Authenticated, IdPath, ListQuery};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("domain_list", mailplane::activity::DIRECTORY),
    ("domain_create", mailplane::activity::DIRECTORY),
    ("domain_view", mailplane::activity::DIRECTORY),
    ("domain_delete", mailplane::activity::DIRECTORY),
    ("domain_records_view", mailplane::activity::DIRECTORY),
    ("domain_verify", mailplane::activity::DIRECTORY),
];

page_of!(DomainPage, Domain);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(domain_list, domain_create))
        .routes(routes!(domain_view, domain_delete))
        .routes(routes!(domain_records_view))
        .routes(routes!(domain_verify))
}

/// Lists a tenant's domains.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/domains", operation_id = "domain_list", tag = "domains",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."), ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of domains.", body = DomainPage),
        (status = 400, description = "The id or a query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn domain_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<DomainPage>, ApiError> {
    let limit = q.limit()?;
    Ok(Json(
        s.control_plane
            .domain_list(&actor, tenant, q.cursor.as_deref(), limit)
            .await?
            .into(),
    ))
}

/// Adds a domain to a tenant; the name is stored in lower-case A-label form and must be
/// unique across the platform.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/domains", operation_id = "domain_create", tag = "domains",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = DomainCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "The domain was added.", body = Domain, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: the caller's party holds only A (a request to the responsible party) or only R (a proposal to the accountable party); the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid; `errors` names each field.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The domain is registered already.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn domain_create(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(input): ApiJson<DomainCreate>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.domain_create(&actor, tenant, input).await?;
    Ok(respond(outcome, StatusCode::CREATED))
}

/// Shows a domain.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/domains/{domain}", operation_id = "domain_view", tag = "domains",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
           ("domain" = String, Path, format = Uuid, description = "The domain's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The domain.", body = Domain),
        (status = 400, description = "An id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or domain, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn domain_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, domain)): IdPath<(TenantId, DomainId)>,
) -> Result<Json<Domain>, ApiError> {
    Ok(Json(
        s.control_plane.domain_view(&actor, tenant, domain).await?,
    ))
}

/// Removes a domain that no mailbox uses.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/domains/{domain}", operation_id = "domain_delete", tag = "domains",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
           ("domain" = String, Path, format = Uuid, description = "The domain's id.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The domain was removed.", headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: the caller's party holds only A (a request to the responsible party) or only R (a proposal to the accountable party); the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or domain, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Mailboxes, aliases or groups still use the domain, or it is the tenant's default domain.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn domain_delete(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, domain)): IdPath<(TenantId, DomainId)>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .domain_delete(&actor, tenant, domain)
        .await?;
    Ok(respond(outcome, StatusCode::NO_CONTENT))
}

/// The DNS records the customer publishes at its own DNS host for a custom domain: the
/// verification TXT record, MX, SPF and the autodiscover CNAME. Empty for the default domain.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/domains/{domain}/records", operation_id = "domain_records_view", tag = "domains",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("domain" = String, Path, format = Uuid, description = "The domain's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The domain and the records to publish.", body = DomainRecords),
        (status = 400, description = "An id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or domain, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn domain_records_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, domain)): IdPath<(TenantId, DomainId)>,
) -> Result<Json<DomainRecords>, ApiError> {
    Ok(Json(
        s.control_plane
            .domain_records_view(&actor, tenant, domain)
            .await?,
    ))
}

/// Checks a custom domain's records with a real DNS resolver against the configured name
/// servers, and reports each as found, missing or wrong. The domain becomes verified when
/// its verification TXT record is found; it stays verified. The caller's party must hold R
/// on `directory.administer`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/domains/{domain}/verify", operation_id = "domain_verify", tag = "domains",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("domain" = String, Path, format = Uuid, description = "The domain's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The check, record by record, and the domain after it.", body = DomainVerification),
        (status = 400, description = "An id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no R for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or domain, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The domain is the tenant's default domain, which needs no verification.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No DNS resolver is available.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn domain_verify(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, domain)): IdPath<(TenantId, DomainId)>,
) -> Result<Json<DomainVerification>, ApiError> {
    Ok(Json(
        s.control_plane
            .domain_verify(&actor, tenant, domain)
            .await?,
    ))
}

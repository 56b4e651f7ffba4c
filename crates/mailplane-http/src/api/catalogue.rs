//! `/v1/catalogue` and what a tenant takes from it: its offer (`service.sizing.choose`), its
//! region (`service.location.choose`), its licence subscriptions (`licenses.provide`, seats
//! under `service.customize`) and the licences its mailboxes hold (`directory.administer`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::input::{
    LicenceAssign, OfferChoose, SeatsChange, SubscriptionCreate, TenantRelocate,
};
use mailplane::types::catalogue::Catalogue;
use mailplane::types::lifecycle::Relocation;
use mailplane::types::resources::{Subscription, Tenant};
use mailplane::types::{MailboxId, SubscriptionId, TenantId};

use crate::AppState;
use crate::api::requests::respond;
use crate::extract::{ApiJson, Authenticated, IdPath};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("tenant_relocate", mailplane::activity::LOCATION),
    ("tenant_relocation_view", mailplane::activity::LOCATION),
    ("tenant_offer_choose", mailplane::activity::SIZING),
    ("subscription_list", mailplane::activity::LICENCES),
    ("subscription_create", mailplane::activity::LICENCES),
    ("subscription_seats_set", mailplane::activity::CUSTOMIZE),
    ("licence_list", mailplane::activity::DIRECTORY),
    ("licence_assign", mailplane::activity::DIRECTORY),
    ("licence_unassign", mailplane::activity::DIRECTORY),
    ("catalogue_view", crate::activities::NONE),
];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(catalogue_view))
        .routes(routes!(tenant_offer_choose))
        .routes(routes!(tenant_relocate))
        .routes(routes!(tenant_relocation_view))
        .routes(routes!(subscription_list, subscription_create))
        .routes(routes!(subscription_seats_set))
        .routes(routes!(licence_list, licence_assign))
        .routes(routes!(licence_unassign))
}

/// The licences a mailbox holds.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MailboxLicences {
    /// The SKUs, in order.
    pub skus: Vec<String>,
}

/// A tenant's subscriptions.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SubscriptionList {
    /// The subscriptions, in the order they were taken.
    pub items: Vec<Subscription>,
}

/// Shows the provider's catalogue: regions, offers, SKUs and the DNS records customers
/// publish. Every authenticated principal may read it.
#[utoipa::path(get, path = "/v1/catalogue", operation_id = "catalogue_view", tag = "catalogue",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The catalogue.", body = Catalogue),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn catalogue_view(
    State(s): State<AppState>,
    Authenticated(_actor): Authenticated,
) -> Json<Catalogue> {
    Json(s.control_plane.catalogue_view().clone())
}

/// Moves a tenant to a larger offer (`service.sizing.choose`, customer RA in the reference
/// matrix). An offer is upgraded, never downgraded: a smaller offer is refused.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/offer", operation_id = "tenant_offer_choose", tag = "catalogue",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = OfferChoose, security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant on its new offer.", body = Tenant, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid: an unknown or closed offer, the current one, or a downgrade.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `service.sizing.choose`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn tenant_offer_choose(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<TenantId>,
    ApiJson(input): ApiJson<OfferChoose>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .tenant_offer_choose(&actor, id, input)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// Moves the tenant to another region (`service.location.choose`, provider RA and customer
/// I in the reference matrix): the only way a tenant's region changes. When the new region
/// keeps mail on another store (its own Dovecot back end), the move is a job: every mailbox
/// is copied there, then the region (and with it the mail routing) changes, mail that
/// arrived meanwhile is copied too, and the old copy is destroyed once the new one is
/// verified complete; the answer is the tenant as it is until the switch, and
/// `tenant_relocation_view` shows the move. Otherwise the region changes at once.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/region", operation_id = "tenant_relocate", tag = "catalogue",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = TenantRelocate, security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant in its new region.", body = Tenant, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid: an unknown or closed region, or the current one.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `service.location.choose`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service, or its mail is moving to another region already.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn tenant_relocate(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<TenantId>,
    ApiJson(input): ApiJson<TenantRelocate>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.tenant_relocate(&actor, id, input).await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// Shows the tenant's move to another region (`service.location.choose`, any letter): where
/// it is (`copying`, `switching`, `catching_up`, `erasing`, `done`), what was copied, what the
/// new region still lacks, and the last step's error while it is retried.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/relocation", operation_id = "tenant_relocation_view", tag = "catalogue",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The relocation.", body = Relocation),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `service.location.choose`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or its mail never moved between stores.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn tenant_relocation_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
) -> Result<Json<Relocation>, ApiError> {
    Ok(Json(
        s.control_plane
            .tenant_relocation_view(&actor, tenant)
            .await?,
    ))
}

/// Lists a tenant's licence subscriptions with their seats (`licenses.provide`).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/subscriptions", operation_id = "subscription_list", tag = "catalogue",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscriptions.", body = SubscriptionList),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `licenses.provide`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn subscription_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<TenantId>,
) -> Result<Json<SubscriptionList>, ApiError> {
    let items = s.control_plane.subscription_list(&actor, id).await?;
    Ok(Json(SubscriptionList { items }))
}

/// Takes a licence subscription for a tenant (`licenses.provide`, provider RA in the
/// reference matrix), with at least the SKU's minimum of seats.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/subscriptions", operation_id = "subscription_create", tag = "catalogue",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = SubscriptionCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "The subscription.", body = Subscription, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid: an unknown or closed SKU, or seats below its minimum.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `licenses.provide`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant holds a subscription to the SKU already.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn subscription_create(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<TenantId>,
    ApiJson(input): ApiJson<SubscriptionCreate>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .subscription_create(&actor, id, input)
        .await?;
    Ok(respond(outcome, StatusCode::CREATED))
}

/// Adds or removes seats, one or many at a time (`service.customize`, customer RA in the
/// reference matrix). Never below the minimum; never below the seats assigned, and the
/// refusal says how many licences to unassign.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/subscriptions/{subscription}", operation_id = "subscription_seats_set", tag = "catalogue",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("subscription" = String, Path, format = Uuid, description = "The subscription's id."),
    ),
    request_body = SeatsChange, security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription with its new seats.", body = Subscription, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id or the body is invalid, or the seats would fall below the minimum.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `service.customize`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or subscription, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "More seats are assigned than the new count; the message says how many to unassign.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn subscription_seats_set(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, subscription)): IdPath<(TenantId, SubscriptionId)>,
    ApiJson(input): ApiJson<SeatsChange>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .subscription_seats_set(&actor, tenant, subscription, input)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// Lists the licences a mailbox holds.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/licences", operation_id = "licence_list", tag = "catalogue",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The SKUs of the licences held.", body = MailboxLicences),
        (status = 400, description = "An id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn licence_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
) -> Result<Json<MailboxLicences>, ApiError> {
    let skus = s
        .control_plane
        .licence_list(&actor, tenant, mailbox)
        .await?;
    Ok(Json(MailboxLicences { skus }))
}

/// Assigns a licence of the tenant's subscription to a mailbox (`directory.administer`).
/// The database refuses an assignment beyond the seats: concurrent calls never oversell.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/licences", operation_id = "licence_assign", tag = "catalogue",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id."),
    ),
    request_body = LicenceAssign, security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription after the assignment.", body = Subscription, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No free seat, no subscription to the SKU, or the mailbox holds the licence already.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn licence_assign(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
    ApiJson(input): ApiJson<LicenceAssign>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .licence_assign(&actor, tenant, mailbox, input)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// Takes a licence back from a mailbox (`directory.administer`). An enabled mailbox keeps
/// the licence its offer requires: disable it first.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/licences/{sku}", operation_id = "licence_unassign", tag = "catalogue",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id."),
        ("sku" = String, Path, description = "The SKU of the licence."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription after the seat was freed.", body = Subscription, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The mailbox holds no such licence, or is enabled and its offer requires it.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn licence_unassign(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox, sku)): IdPath<(TenantId, MailboxId, String)>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .licence_unassign(&actor, tenant, mailbox, sku)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

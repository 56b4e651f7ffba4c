//! The tenant's `/v1/tenants/{tenant}/password-policy` (`service.customize`) and a mailbox's
//! `/password` (`access.data-plane`). Named like the library's `passwords` module.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::input::PasswordSet;
use mailplane::types::passwords::{PasswordPolicy, PasswordStatus, SignIn};
use mailplane::types::{MailboxId, TenantId};

use crate::AppState;
use crate::api::requests::respond;
use crate::extract::{ApiJson, Authenticated, IdPath};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("password_policy_view", mailplane::activity::CUSTOMIZE),
    ("password_policy_set", mailplane::activity::CUSTOMIZE),
    (
        "mailbox_password_status",
        mailplane::activity::DATA_PLANE_ACCESS,
    ),
    (
        "mailbox_password_set",
        mailplane::activity::DATA_PLANE_ACCESS,
    ),
    (
        "mailbox_sign_in_view",
        mailplane::activity::DATA_PLANE_ACCESS,
    ),
];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(password_policy_view, password_policy_set))
        .routes(routes!(mailbox_password_set, mailbox_password_status))
        .routes(routes!(mailbox_sign_in_view))
}

/// Shows the tenant's password policy (the default until the customer sets its own).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/password-policy", operation_id = "password_policy_view", tag = "directory",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy.", body = PasswordPolicy),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `service.customize`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn password_policy_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
) -> Result<Json<PasswordPolicy>, ApiError> {
    Ok(Json(
        s.control_plane.password_policy_view(&actor, tenant).await?,
    ))
}

/// Sets the tenant's password policy (`service.customize`, customer RA in the reference
/// matrix). Fields left out take their defaults.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/password-policy", operation_id = "password_policy_set", tag = "directory",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = PasswordPolicy, security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy as set.", body = PasswordPolicy, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the policy is invalid; `errors` names each field.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `service.customize`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn password_policy_set(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(policy): ApiJson<PasswordPolicy>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .password_policy_set(&actor, tenant, policy)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// Sets a mailbox's password (`access.data-plane`, customer RA and provider I in the
/// reference matrix). The password is checked against the tenant's policy and history,
/// stored only as an Argon2id hash, and never returned, logged, audited or sent in an event.
/// The answer says when rotation is due.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/password", operation_id = "mailbox_password_set", tag = "directory",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id."),
    ),
    request_body = PasswordSet, security(("bearer" = [])),
    responses(
        (status = 200, description = "The password was set; when it was set and when rotation is due.", body = PasswordStatus),
        (status = 400, description = "An id is invalid, or the password breaks the policy (each rule under `password`) or repeats a recent one.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party does not hold R and A for `access.data-plane`: passwords are never filed in requests.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The mailbox is shared and has no password of its own.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_password_set(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
    ApiJson(input): ApiJson<PasswordSet>,
) -> Result<Json<PasswordStatus>, ApiError> {
    Ok(Json(
        s.control_plane
            .mailbox_password_set(&actor, tenant, mailbox, input)
            .await?,
    ))
}

/// When a mailbox's password was set and when rotation is due.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/password", operation_id = "mailbox_password_status", tag = "directory",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The password's age and rotation.", body = PasswordStatus),
        (status = 400, description = "An id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `access.data-plane`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, no password set, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_password_status(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
) -> Result<Json<PasswordStatus>, ApiError> {
    Ok(Json(
        s.control_plane
            .mailbox_password_status(&actor, tenant, mailbox)
            .await?,
    ))
}

/// Whether the mailbox signs in to the mail servers (IMAP, SMTP submission) now, and if not,
/// why: the same rule Dovecot's password lookup answers with.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/sign-in", operation_id = "mailbox_sign_in_view", tag = "directory",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Whether the mailbox signs in, and why not.", body = SignIn),
        (status = 400, description = "An id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `access.data-plane`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_sign_in_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
) -> Result<Json<SignIn>, ApiError> {
    Ok(Json(
        s.control_plane
            .mailbox_sign_in_view(&actor, tenant, mailbox)
            .await?,
    ))
}

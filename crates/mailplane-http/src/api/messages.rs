//! `/v1/tenants/{tenant}/mailboxes/{mailbox}/messages` and `/usage`: filling a mailbox with
//! RFC 5322 messages (a migration tool's import, `access.data-plane`) and reading what it
//! holds. Messages are stored by the configured data plane, encrypted at rest.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::data_plane::{StoredMessage, Usage};
use mailplane::types::{Error, MailboxId, TenantId};

use crate::AppState;
use crate::extract::{Authenticated, IdPath};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("message_import", mailplane::activity::DATA_PLANE_ACCESS),
    ("mailbox_usage_view", mailplane::activity::DIRECTORY),
];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(message_import))
        .routes(routes!(mailbox_usage_view))
}

/// Imports one RFC 5322 message (`Content-Type: message/rfc822`) into a mailbox, as a
/// migration tool does (`access.data-plane`). It is encrypted at rest.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/messages", operation_id = "message_import", tag = "messages",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id."),
    ),
    request_body(content = String, content_type = "message/rfc822", description = "The message, headers and body, as received."),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The message was stored.", body = StoredMessage),
        (status = 400, description = "An id or the content type is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party does not hold R and A for `access.data-plane`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message does not fit in the mailbox's quota.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The message is larger than the data plane takes.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The message is not an RFC 5322 message (a header section with From and Date).", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No data plane is configured.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn message_import(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<StoredMessage>), ApiError> {
    let is_message = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("message/rfc822")
        });
    if !is_message {
        return Err(ApiError(Error::invalid(
            "Content-Type",
            "must be message/rfc822",
        )));
    }
    // The body is bounded by the data plane's limit before it reaches here
    // ([`crate::bodies`]); a body past it fails to read and is answered 413 there.
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|_| ApiError(Error::invalid("message", "could not be read")))?;
    let stored = s
        .control_plane
        .message_import(&actor, tenant, mailbox, &bytes)
        .await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// How many messages and bytes a mailbox holds.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/usage", operation_id = "mailbox_usage_view", tag = "messages",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The mailbox's usage.", body = Usage),
        (status = 400, description = "An id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No data plane is configured.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_usage_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
) -> Result<Json<Usage>, ApiError> {
    Ok(Json(
        s.control_plane
            .mailbox_usage_view(&actor, tenant, mailbox)
            .await?,
    ))
}

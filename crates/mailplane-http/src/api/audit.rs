//! `/v1/audit` and `/v1/events`: what was recorded of each change. The hash-chained audit
//! log, scoped like everything else (`audit.review`), and each organisation's feed of the
//! changes its party is owed news of. Named like the library's `audit` module, which writes
//! both with one call.

use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::types::resources::{AuditEntry, Event};

use crate::AppState;
use crate::api::page_of;
use crate::extract::{ApiQuery, Authenticated, ListQuery};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("audit_list", mailplane::activity::AUDIT_REVIEW),
    ("event_list", crate::activities::NONE),
];

page_of!(AuditPage, AuditEntry);
page_of!(EventPage, Event);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_list))
        .routes(routes!(event_list))
}

/// Lists audit rows in chain order: all for the provider, those of a partner's customers for
/// a partner, those of its own tenant for a customer.
#[utoipa::path(get, path = "/v1/audit", operation_id = "audit_list", tag = "audit",
    params(ListQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of audit rows.", body = AuditPage),
        (status = 400, description = "A query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `audit.review`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The caller's tenant no longer exists.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn audit_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = q.limit()?;
    Ok(Json(
        s.control_plane
            .audit_list(&actor, q.cursor.as_deref(), limit)
            .await?
            .into(),
    ))
}

/// Lists the caller's organisation's events in order: a change appears in the feed of every
/// party that holds I for its activity, and of the accountable party when another party
/// acted. A customer sees its tenant's events, a partner those of its customers, the
/// provider all addressed to the provider.
#[utoipa::path(get, path = "/v1/events", operation_id = "event_list", tag = "events",
    params(ListQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events.", body = EventPage),
        (status = 400, description = "A query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The caller's tenant no longer exists.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn event_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = q.limit()?;
    Ok(Json(
        s.control_plane
            .event_list(&actor, q.cursor.as_deref(), limit)
            .await?
            .into(),
    ))
}

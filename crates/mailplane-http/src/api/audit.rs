//! `/v1/audit`: the hash-chained audit log, scoped like everything else (`audit.review`).

use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::types::resources::AuditEntry;

use crate::AppState;
use crate::api::page_of;
use crate::extract::{ApiQuery, Authenticated, ListQuery};
use crate::problem::{ApiError, Problem};

page_of!(AuditPage, AuditEntry);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_list))
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

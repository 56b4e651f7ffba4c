//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("health_live", crate::activities::NONE),
    ("health_ready", crate::activities::NONE),
];

/// The state of a probe.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when healthy.
    pub status: String,
    /// The database backend in use (`sqlite`, `postgres`), on readiness only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health_live))
        .routes(routes!(health_ready))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "health_live", tag = "health",
    responses((status = 200, description = "The process is up.", body = Health)))]
async fn health_live() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        database: None,
    })
}

/// The process can serve requests: the database answers.
#[utoipa::path(get, path = "/readyz", operation_id = "health_ready", tag = "health",
    responses(
        (status = 200, description = "Ready to serve.", body = Health),
        (status = 503, description = "The database is not reachable.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn health_ready(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<Health>), ApiError> {
    let backend = state.control_plane.ready().await?;
    Ok((
        StatusCode::OK,
        Json(Health {
            status: "ok".into(),
            database: Some(backend.into()),
        }),
    ))
}

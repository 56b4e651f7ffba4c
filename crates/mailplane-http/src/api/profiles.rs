//! `/v1/profiles`: the RACI matrices the deployment holds, readable by every principal.

use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::profiles::{ProfileMatrix, ProfileSummary};

use crate::AppState;
use crate::extract::{ApiPath, Authenticated};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("profile_list", crate::activities::NONE),
    ("profile_view", crate::activities::NONE),
];

/// The list of profiles.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ProfileList {
    /// Every loaded profile, in id order.
    pub items: Vec<ProfileSummary>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(profile_list))
        .routes(routes!(profile_view))
}

/// Lists the RACI profiles (one per offer or contract) this deployment holds.
#[utoipa::path(get, path = "/v1/profiles", operation_id = "profile_list", tag = "profiles",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every profile.", body = ProfileList),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn profile_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
) -> Json<ProfileList> {
    Json(ProfileList {
        items: s.control_plane.profile_list(&actor),
    })
}

/// Shows a profile's matrix (each activity with each party's letters) and its roles.
#[utoipa::path(get, path = "/v1/profiles/{profile}", operation_id = "profile_view", tag = "profiles",
    params(("profile" = String, Path, description = "The profile id, such as `hosted-exchange`.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile.", body = ProfileMatrix),
        (status = 400, description = "The path is not valid UTF-8.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such profile.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn profile_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiPath(profile): ApiPath<String>,
) -> Result<Json<ProfileMatrix>, ApiError> {
    Ok(Json(s.control_plane.profile_get(&actor, &profile)?))
}

//! Mailplane's HTTP API.
//!
//! This is the only crate that knows axum, status codes and utoipa paths. Handlers are thin:
//! they authenticate the bearer token into an [`mailplane::Actor`], parse the request, call
//! the [`mailplane::ControlPlane`] (which authorizes), and map the result. Errors become RFC
//! 9457 problem documents in one place ([`problem`]). The router is the specification: each
//! handler carries its `#[utoipa::path]`, and [`openapi`] collects them.

mod api;
pub mod extract;
pub mod problem;

use std::sync::Arc;

use axum::Router;
use mailplane::ControlPlane;
use mailplane::auth::Keyring;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

/// What every handler needs: the control plane and the trusted keys.
#[derive(Clone)]
pub struct AppState {
    /// The control plane all operations go through.
    pub control_plane: ControlPlane,
    /// The keys bearer tokens are verified with.
    pub keyring: Arc<Keyring>,
}

fn api_router() -> OpenApiRouter<AppState> {
    let mut doc = OpenApi::builder()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Mailplane")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A RACI-aware control plane for hosted mail. Every operation is an activity of the tenant's RACI profile; a refusal names the activity and each party's letters.",
                ))
                .license(Some(utoipa::openapi::License::new("Apache-2.0")))
                .build(),
        )
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    OpenApiRouter::with_openapi(doc).merge(api::routes())
}

/// The OpenAPI document of the API, as checked in under `openapi/`.
pub fn openapi() -> OpenApi {
    api_router().split_for_parts().1
}

/// The OpenAPI document as pretty JSON with a trailing newline: the checked-in form.
pub fn openapi_json() -> String {
    let mut s = openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    s.push('\n');
    s
}

/// The complete application: the API, `/openapi.json` and Swagger UI at `/docs`.
/// Testable without a socket (`tower::ServiceExt::oneshot`) and mountable under a prefix.
pub fn app(state: AppState) -> Router {
    let (router, doc) = api_router().split_for_parts();
    router
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .fallback(problem::not_found_fallback)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .with_state(state)
}

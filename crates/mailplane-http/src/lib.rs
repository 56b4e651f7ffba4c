//! Mailplane's HTTP API.
//!
//! This is the only crate that knows axum, status codes and utoipa paths. Handlers are thin:
//! they authenticate the bearer token into an [`mailplane::Actor`], parse the request, call
//! the [`mailplane::ControlPlane`] (which authorizes), and map the result. Errors become RFC
//! 9457 problem documents in one place ([`problem`]). The router is the specification: each
//! handler carries its `#[utoipa::path]`, and [`openapi`] collects them.

pub mod activities;
mod api;
pub mod bodies;
pub mod conditional;
mod document;
pub mod extract;
pub mod headers;
pub mod idempotency;
pub mod limits;
pub mod metrics;
pub mod problem;
mod strict_json;

use std::sync::Arc;

use axum::Router;
use mailplane::ControlPlane;
use mailplane::auth::Keyring;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

/// What every handler needs: the control plane, the trusted keys and the rate limits.
#[derive(Clone)]
pub struct AppState {
    /// The control plane all operations go through; shared, since every middleware and
    /// handler of a request takes a copy of the state.
    pub control_plane: Arc<ControlPlane>,
    /// The keys bearer tokens are verified with.
    pub keyring: Arc<Keyring>,
    /// Per-principal rate limits; none: unlimited.
    pub limiter: Option<Arc<limits::RateLimiter>>,
}

impl AppState {
    /// The state of an application without rate limits.
    pub fn new(control_plane: ControlPlane, keyring: Arc<Keyring>) -> AppState {
        AppState {
            control_plane: Arc::new(control_plane),
            keyring,
            limiter: None,
        }
    }

    /// Limits every authenticated principal to `limit`.
    pub fn with_rate_limit(mut self, limit: limits::RateLimit) -> AppState {
        self.limiter = Some(Arc::new(limits::RateLimiter::new(limit)));
        self
    }
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
pub fn openapi() -> serde_json::Value {
    document::with_plumbing(api_router().split_for_parts().1)
}

/// The OpenAPI document as pretty JSON with a trailing newline: the checked-in form.
pub fn openapi_json() -> String {
    let mut s = serde_json::to_string_pretty(&openapi()).expect("the OpenAPI document serialises");
    s.push('\n');
    s
}

/// The complete application: the API, `/openapi.json`, Swagger UI at `/docs` and
/// `/metrics`, with the plumbing every route shares: request ids, bounded headers and
/// bodies, conditional requests, idempotency keys and request metrics. Testable without a socket
/// (`tower::ServiceExt::oneshot`) and mountable under a prefix.
pub fn app(state: AppState) -> Router {
    let (router, doc) = api_router().split_for_parts();
    let doc = document::with_plumbing(doc);
    let metrics = Arc::new(metrics::Metrics::new(&doc));
    let routed = router
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", doc))
        // Inside out: the idempotency key, then the body limit before it, then the timing.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotency,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            bodies::bound,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            metrics::measure,
        ))
        // `bodies::bound` is the one body limit; axum's own would be a second one.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .fallback(problem::not_found_fallback)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .with_state(state.clone());
    // The application as it answers reads, for the `If-Match` checks.
    let reads = routed.clone();
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    routed
        .route(
            "/metrics",
            axum::routing::get(metrics::scrape).with_state((state.clone(), metrics)),
        )
        .layer(axum::middleware::from_fn(move |request, next| {
            conditional::conditional(reads.clone(), request, next)
        }))
        // Before anything reads a header (a token, say), on every path.
        .layer(axum::middleware::from_fn(headers::bound_headers))
        .layer(
            tower::ServiceBuilder::new()
                .layer(tower_http::request_id::SetRequestIdLayer::new(
                    request_id.clone(),
                    tower_http::request_id::MakeRequestUuid,
                ))
                .layer(
                    tower_http::trace::TraceLayer::new_for_http()
                        // One line per answer (status, latency), inside the request's span,
                        // so it carries the request id.
                        .on_response(
                            tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                        )
                        .make_span_with(|request: &axum::extract::Request| {
                            let id = request
                                .headers()
                                .get("x-request-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-");
                            tracing::info_span!(
                                "request",
                                request_id = %id,
                                method = %request.method(),
                                path = %request.uri().path(),
                            )
                        }),
                )
                .layer(tower_http::request_id::PropagateRequestIdLayer::new(
                    request_id,
                )),
        )
}

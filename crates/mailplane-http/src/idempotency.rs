//! `Idempotency-Key` on every `POST`: a retried call never changes anything twice.
//!
//! A caller that did not get an answer (a timeout, a dropped connection) retries with the
//! same key and gets the first call's answer, status and body, for 24 hours, marked
//! `Idempotency-Replayed: true`. The same key with another request (method, path, query or
//! body) is a 422.
//!
//! Keys belong to the principal that sent them: its party, organisation, subject and roles
//! (see `ControlPlane::idempotency_lookup`). The stored answer is replayed here without
//! deciding anything again, so only the principal whose call was authorized and answered
//! may meet it: another principal (a reader replaying an administrator's key, or the same
//! subject with a token of other roles) has a key space of its own, and its call with the
//! same key runs afresh and is authorized like any other. Answers that carry a secret (a
//! webhook's) thus never reach anyone but their first caller.
//!
//! The key is claimed inside the change's own transaction (see [`mailplane::guard`]):
//! if the change rolls back, so does the claim, and a retry runs afresh; if it commits,
//! the key is taken, and a concurrent call with the same key meets it and answers 409
//! instead of changing anything. The answer is recorded right after the commit. If the
//! process dies in between, the key stays claimed without an answer: a retry gets a 409
//! saying so, rather than a second change.
//!
//! A call that changes nothing (refused, invalid, or a request filed nowhere) stores no
//! answer: retrying it simply runs it again, with the same outcome.
//!
//! It runs once the request is routed, inside [`crate::bodies::bound`], so that the body it
//! buffers to hash is never larger than the route takes.
//!
//! The batch route keeps its own key handling (the answer is written in the batch's
//! transaction), and this middleware leaves it alone.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use mailplane::guard::WriteGuard;
use mailplane::types::Error;

use crate::AppState;
use crate::problem::ApiError;

/// The request header naming a call.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The answer header set on a replayed answer.
pub const IDEMPOTENCY_REPLAYED: &str = "idempotency-replayed";

/// The middleware.
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The batch route keys its calls itself; it is known by its route, as its body limit is.
    let batch = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|route| route.as_str().ends_with(crate::bodies::BATCH_ROUTE));
    if request.method() != Method::POST || batch {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(request).await;
    };
    let Ok(key) = key.to_str().map(str::to_string) else {
        return ApiError(Error::invalid(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ))
        .into_response();
    };
    // An unauthenticated call is answered 401 by the handler, and stores nothing.
    let token = bearer(&request);
    let Some(actor) = authenticate(&state, token).await else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    // The body is already bounded by the route's own limit ([`crate::bodies`]), which runs
    // first: a body past it fails here, and that middleware answers 413 for it.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return ApiError(Error::invalid("body", "could not be read")).into_response(),
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b"\n");
    hasher.update(
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
    );
    hasher.update(b"\n");
    hasher.update(&bytes);
    let request_hash = hex::encode(hasher.finalize());

    match state.control_plane.idempotency_lookup(&actor, &key).await {
        Err(e) => return ApiError(e).into_response(),
        Ok(Some(stored)) if stored.request_hash != request_hash => {
            return ApiError(Error::Unprocessable {
                field: "Idempotency-Key".into(),
                message: "was used in the last 24 hours for another request (method, path or body); use a new key for a new call".into(),
            })
            .into_response();
        }
        Ok(Some(stored)) if stored.status == 0 => {
            return in_progress();
        }
        Ok(Some(stored)) => return replay(stored.status, stored.response),
        Ok(None) => {}
    }

    let claim = state
        .control_plane
        .idempotency_claim(&actor, &key, request_hash);
    let guard = WriteGuard::new().claim(claim.clone());
    let request = Request::from_parts(parts, Body::from(bytes));
    let response = guard.clone().scope(next.run(request)).await;
    if !guard.applied() {
        return response;
    }
    // The answer is recorded on this call's own claim only: a call that lost the key to a
    // concurrent one (its 409) or whose change rolled back finds no claim to record on.
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError(Error::internal("a response body could not be read")).into_response();
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if let Err(e) = state
        .control_plane
        .idempotency_record(&claim, parts.status.as_u16(), text)
        .await
    {
        // The change is committed; only its replay is lost. Say so in the log, and still
        // give this caller its answer.
        tracing::warn!(error = %e, key = %claim.key, "an idempotent call's answer was not recorded");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn bearer(request: &Request) -> Option<String> {
    Some(
        request
            .headers()
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?
            .trim()
            .to_string(),
    )
}

async fn authenticate(state: &AppState, token: Option<String>) -> Option<mailplane::Actor> {
    state
        .control_plane
        .authenticate(&state.keyring, &token?)
        .await
        .ok()
}

fn in_progress() -> Response {
    let mut response = ApiError(Error::conflict(
        Some("Idempotency-Key"),
        "a call with this key changed something and its answer is not recorded yet (it is still running, or its server stopped before answering); retry in a moment, and if this persists, read the resource instead of calling again",
    ))
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    let mut response = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    response
        .headers_mut()
        .insert(IDEMPOTENCY_REPLAYED, HeaderValue::from_static("true"));
    response
}

//! Request bodies are bounded before anything buffers them.
//!
//! Every route has one body limit, named here and nowhere else: a message import takes up
//! to the data plane's largest message, a mailbox batch up to 16 MiB (10,000 rows), every
//! other route up to 2 MiB. [`bound`] runs first on every routed request, before the
//! idempotency middleware and the handler's extractors read the body:
//!
//! - a `Content-Length` above the route's limit is answered 413 at once, whatever the other
//!   headers say (with or without `Idempotency-Key`, a token or a content type), and no
//!   byte of the body is read;
//! - otherwise the body is handed on behind a counter, so that whoever reads it (the
//!   idempotency middleware hashing it, `ApiJson`, a handler streaming a message) gets an
//!   error at the first byte past the limit; the answer is then 413, whatever the reader
//!   made of its error, and the bytes past the limit are never read.
//!
//! axum's own `DefaultBodyLimit` is switched off in [`crate::app`], so that this is the
//! only limit: a route cannot have one limit for the middleware and another for its
//! extractors. Since the connection's remaining bytes are not read, the server closes a
//! connection whose body was refused part-way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use mailplane::types::Error;

use crate::AppState;
use crate::problem::ApiError;

/// The largest body of a route without a limit of its own: 2 MiB, ample for any JSON input.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The largest body of a mailbox batch: 10,000 rows.
pub const BATCH_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The route template of message imports, whose limit is the data plane's.
pub(crate) const MESSAGE_ROUTE: &str = "/v1/tenants/{tenant}/mailboxes/{mailbox}/messages";

/// The route template of mailbox batches.
pub(crate) const BATCH_ROUTE: &str = "/v1/tenants/{tenant}/mailboxes/batch";

/// A route's body limit, and the name its 413 gives the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit {
    /// What the problem document calls the body.
    pub field: &'static str,
    /// The most bytes the body may have.
    pub bytes: usize,
}

impl BodyLimit {
    /// The limit of the route `route` (a route template, as `MatchedPath` gives it; an
    /// application mounted under a prefix has it in front, hence the comparison of ends).
    pub fn of(state: &AppState, route: &str) -> BodyLimit {
        if route.ends_with(MESSAGE_ROUTE) {
            BodyLimit {
                field: "message",
                bytes: state.control_plane.max_message_bytes(),
            }
        } else if route.ends_with(BATCH_ROUTE) {
            BodyLimit {
                field: "body",
                bytes: BATCH_BODY_LIMIT,
            }
        } else {
            BodyLimit {
                field: "body",
                bytes: DEFAULT_BODY_LIMIT,
            }
        }
    }

    fn refusal(self) -> Response {
        ApiError(Error::TooLarge {
            field: self.field.into(),
            limit: self.bytes as u64,
        })
        .into_response()
    }
}

/// The middleware; see the module documentation.
pub async fn bound(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let limit = BodyLimit::of(&state, &route);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.bytes as u64) {
        return limit.refusal();
    }
    let exceeded = Arc::new(AtomicBool::new(false));
    let seen = exceeded.clone();
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, limit.bytes).map_err(move |e| {
        if e.is::<LengthLimitError>() {
            seen.store(true, Ordering::SeqCst);
        }
        e
    });
    let response = next.run(Request::from_parts(parts, Body::new(body))).await;
    if exceeded.load(Ordering::SeqCst) {
        return limit.refusal();
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The routes named here exist: a renamed route would otherwise fall back to the
    /// default limit without a word.
    #[test]
    fn the_routes_with_limits_of_their_own_are_in_the_document() {
        let doc = crate::openapi();
        for route in [MESSAGE_ROUTE, BATCH_ROUTE] {
            assert!(
                doc["paths"][route]["post"].is_object(),
                "{route} is not an operation of the document"
            );
        }
    }
}

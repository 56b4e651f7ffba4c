//! Conditional requests: `ETag` on reads, `If-None-Match` and `If-Match`.
//!
//! The entity tag of a JSON answer is a digest of its bytes, so it changes exactly when the
//! representation does, with no version column to keep. A read answers 304 when the
//! caller's `If-None-Match` still matches.
//!
//! A change (`PATCH`, `PUT`, `DELETE`) with `If-Match` runs only while the resource's
//! current representation still has one of the given tags. The comparison is not made
//! before the change but inside its transaction, through [`mailplane::guard`]: while the
//! transaction holds the resource's lock (PostgreSQL) or the one writer connection
//! (SQLite), just before it commits, the resource is read as the caller would read it (a
//! `GET` of the same path with the same credentials) and its tag compared. No other change
//! of the resource can commit between the comparison and this change, so two callers
//! holding the same tag cannot both succeed: the second gets 412 and nothing is changed.
//! Every change of a path takes the same lock, with or without `If-Match`.
//!
//! The comparison comes after the library has found the resource in the caller's scope and
//! authorized the change, because it runs at the commit: a resource the caller may not see
//! answers 404, exactly as a random id does, and a change the caller may not make answers
//! 403, whatever `If-Match` says. Only a change that would otherwise succeed meets 412.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use mailplane::guard::WriteGuard;
use mailplane::types::Error;

use crate::problem::ApiError;

/// The strong entity tag of a representation: a digest of its bytes.
pub fn entity_tag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..18])
    )
}

/// Whether a list header (`If-Match`, `If-None-Match`) matches a tag. `*` matches any
/// existing representation; weak tags (`W/"..."`) never match strongly, so `If-Match`
/// ignores them and `If-None-Match` compares them weakly, as RFC 9110 says.
fn list_matches(list: &str, tag: &str, weak_ok: bool) -> bool {
    list.split(',').map(str::trim).any(|candidate| {
        candidate == "*"
            || candidate == tag
            || (weak_ok && candidate.strip_prefix("W/") == Some(tag))
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The middleware; `checks` is the application itself, which serves the internal reads.
pub async fn conditional(checks: axum::Router, request: Request, next: Next) -> Response {
    match *request.method() {
        Method::GET => {
            let if_none_match = request
                .headers()
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let response = next.run(request).await;
            tag_response(response, if_none_match.as_deref()).await
        }
        Method::PATCH | Method::PUT | Method::DELETE => {
            let path = request.uri().path().to_string();
            let mut guard = WriteGuard::new().lock(format!("http:{path}"));
            if let Some(if_match) = request.headers().get(header::IF_MATCH) {
                let Ok(expected) = if_match.to_str().map(str::to_string) else {
                    return ApiError(Error::invalid(
                        "If-Match",
                        "must be a list of entity tags in visible ASCII",
                    ))
                    .into_response();
                };
                let uri = request.uri().clone();
                let authorization = request.headers().get(header::AUTHORIZATION).cloned();
                guard = guard.precondition(Arc::new(move || {
                    let checks = checks.clone();
                    let uri = uri.clone();
                    let authorization = authorization.clone();
                    let expected = expected.clone();
                    Box::pin(async move {
                        let mut read = Request::builder().method(Method::GET).uri(uri);
                        if let Some(value) = authorization {
                            read = read.header(header::AUTHORIZATION, value);
                        }
                        let read = read
                            .body(Body::empty())
                            .map_err(|e| Error::internal(format!("a read request: {e}")))?;
                        let current = checks
                            .oneshot(read)
                            .await
                            .map_err(|e| Error::internal(format!("an internal read: {e}")))?;
                        compare(current, &expected).await
                    })
                }));
            }
            guard.scope(next.run(request)).await
        }
        _ => next.run(request).await,
    }
}

/// Judges the current representation against `If-Match`.
async fn compare(current: Response, expected: &str) -> Result<(), Error> {
    let status = current.status();
    if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
        return Err(Error::PreconditionFailed(
            "`If-Match` names a representation, but the resource does not exist".into(),
        ));
    }
    if status != StatusCode::OK || !is_json(current.headers()) {
        return Err(Error::PreconditionFailed(format!(
            "`If-Match` cannot be checked here: this path has no readable representation to compare with (a read answers {status})"
        )));
    }
    let body = axum::body::to_bytes(current.into_body(), usize::MAX)
        .await
        .map_err(|e| Error::internal(format!("an internal read's body: {e}")))?;
    let tag = entity_tag(&body);
    if list_matches(expected, &tag, false) {
        Ok(())
    } else {
        Err(Error::PreconditionFailed(format!(
            "the resource changed since it was read: `If-Match` is {expected} but the current entity tag is {tag}; read it again and retry"
        )))
    }
}

/// Adds the tag to a successful JSON read, or answers 304 when `If-None-Match` holds.
async fn tag_response(response: Response, if_none_match: Option<&str>) -> Response {
    if response.status() != StatusCode::OK || !is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError(Error::internal("a response body could not be read")).into_response();
    };
    let tag = entity_tag(&bytes);
    let value = HeaderValue::from_str(&tag).expect("a tag is visible ASCII");
    if if_none_match.is_some_and(|list| list_matches(list, &tag, true)) {
        let mut not_modified = StatusCode::NOT_MODIFIED.into_response();
        not_modified.headers_mut().insert(header::ETAG, value);
        return not_modified;
    }
    parts.headers.insert(header::ETAG, value);
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_bytes_and_lists_match_as_rfc_9110_says() {
        let a = entity_tag(br#"{"name":"a"}"#);
        let b = entity_tag(br#"{"name":"b"}"#);
        assert_ne!(a, b);
        assert_eq!(a, entity_tag(br#"{"name":"a"}"#));
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert!(list_matches(&format!("{b}, {a}"), &a, false));
        assert!(list_matches("*", &a, false));
        assert!(!list_matches(&b, &a, false));
        // A weak tag never satisfies If-Match, but does If-None-Match.
        assert!(!list_matches(&format!("W/{a}"), &a, false));
        assert!(list_matches(&format!("W/{a}"), &a, true));
    }
}

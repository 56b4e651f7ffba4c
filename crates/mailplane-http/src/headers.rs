//! Oversized request headers answer a problem document, like every other error.
//!
//! A request whose header fields (names and values together) exceed [`HEADER_LIMIT`] is
//! answered 431 `Request Header Fields Too Large` (RFC 6585) with a problem document of
//! type `headers-too-large`, naming the largest field in `errors`, before anything reads a
//! header: a 1 MB bearer token is refused for its size, never verified. 431 rather than
//! 401, because the size is what is wrong, whichever header carries it, and a 401 would
//! tell the caller its credentials were judged when they were not read.
//!
//! The server reads request heads up to a larger, hard buffer (`mailplane serve`: 2 MiB),
//! so that heads between the two limits get this answer; a head beyond the hard buffer
//! cannot be read at all and gets hyper's empty 431.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use mailplane::types::FieldError;

use crate::problem::{BASE, Problem};

/// The most bytes of header fields a request may carry: 64 KiB, counting each field's name
/// and value.
pub const HEADER_LIMIT: usize = 64 * 1024;

/// The middleware; see the module documentation.
pub async fn bound_headers(request: Request, next: Next) -> Response {
    let mut total = 0usize;
    let mut largest: Option<(&str, usize)> = None;
    for (name, value) in request.headers() {
        let size = name.as_str().len() + value.len();
        total += size;
        if largest.is_none_or(|(_, l)| size > l) {
            largest = Some((name.as_str(), size));
        }
    }
    if total <= HEADER_LIMIT {
        return next.run(request).await;
    }
    let (name, size) = largest.unwrap_or(("", 0));
    let field = canonical(name);
    let rule = format!(
        "is {size} bytes; the header fields of a request may total at most {HEADER_LIMIT} bytes"
    );
    let problem = Problem {
        kind: format!("{BASE}headers-too-large"),
        title: "Request header fields too large".into(),
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.as_u16(),
        detail: format!(
            "the request's header fields total {total} bytes, more than the {HEADER_LIMIT} this server takes; the largest is `{field}` ({size} bytes)"
        ),
        errors: vec![FieldError { field, rule }],
        refusal: None,
    };
    (
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        [(header::CONTENT_TYPE, "application/problem+json")],
        serde_json::to_vec(&problem).unwrap_or_default(),
    )
        .into_response()
}

/// A header's name as people write it (`Authorization`, `X-Request-Id`): HTTP/1.1 names
/// arrive lower-cased.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn header_names_are_written_as_people_write_them() {
        assert_eq!(canonical("authorization"), "Authorization");
        assert_eq!(canonical("x-request-id"), "X-Request-Id");
    }
}

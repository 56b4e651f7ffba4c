//! The one place where errors become HTTP answers: RFC 9457 problem documents.
//!
//! Each error kind has a stable `type` URI, so clients can branch on it. Bad input lists
//! every field and the rule it broke; a refusal carries the activity and each party's
//! letters; an internal error logs its cause and sends only a safe message.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use mailplane::types::{Error, FieldError, Refusal};

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A stable URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this case.
    pub detail: String,
    /// Invalid inputs, each with its field and rule (bad input only).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
    /// Why a visible activity was refused (forbidden only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

pub(crate) const BASE: &str = "https://mailplane.dev/problems/";

impl ApiError {
    /// The status and problem document for this error.
    pub fn problem(&self) -> (StatusCode, Problem) {
        let mk = |status: StatusCode, kind: &str, title: &str, detail: String| Problem {
            kind: format!("{BASE}{kind}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            errors: vec![],
            refusal: None,
        };
        match &self.0 {
            Error::Invalid(errors) => {
                let mut p = mk(
                    StatusCode::BAD_REQUEST,
                    "invalid-input",
                    "Invalid input",
                    self.0.to_string(),
                );
                p.errors = errors.clone();
                (StatusCode::BAD_REQUEST, p)
            }
            Error::Unauthenticated(why) => (
                StatusCode::UNAUTHORIZED,
                mk(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "Unauthenticated",
                    why.clone(),
                ),
            ),
            Error::NotFound { .. } => (
                StatusCode::NOT_FOUND,
                mk(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "Not found",
                    self.0.to_string(),
                ),
            ),
            Error::Forbidden(refusal) => {
                let mut p = mk(
                    StatusCode::FORBIDDEN,
                    "forbidden-by-raci",
                    "Forbidden by the RACI profile",
                    refusal.reason.clone(),
                );
                p.refusal = Some((**refusal).clone());
                (StatusCode::FORBIDDEN, p)
            }
            Error::Conflict { message, field } => {
                let mut p = mk(
                    StatusCode::CONFLICT,
                    "conflict",
                    "Conflict",
                    message.clone(),
                );
                if let Some(f) = field {
                    p.errors = vec![FieldError {
                        field: f.clone(),
                        rule: message.clone(),
                    }];
                }
                (StatusCode::CONFLICT, p)
            }
            Error::Unprocessable { field, message } => {
                let mut p = mk(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unprocessable",
                    "Unprocessable input",
                    format!("`{field}` {message}"),
                );
                p.errors = vec![FieldError {
                    field: field.clone(),
                    rule: message.clone(),
                }];
                (StatusCode::UNPROCESSABLE_ENTITY, p)
            }
            Error::TooLarge { field, limit } => {
                let mut p = mk(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    "Payload too large",
                    format!("`{field}` must be at most {limit} bytes"),
                );
                p.errors = vec![FieldError {
                    field: field.clone(),
                    rule: format!("must be at most {limit} bytes"),
                }];
                (StatusCode::PAYLOAD_TOO_LARGE, p)
            }
            Error::Gone(why) => (
                StatusCode::GONE,
                mk(StatusCode::GONE, "gone", "Gone", why.clone()),
            ),
            Error::PreconditionFailed(why) => (
                StatusCode::PRECONDITION_FAILED,
                mk(
                    StatusCode::PRECONDITION_FAILED,
                    "precondition-failed",
                    "Precondition failed",
                    why.clone(),
                ),
            ),
            Error::TooManyRequests { retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                mk(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-requests",
                    "Too many requests",
                    format!(
                        "this principal sent more requests than its rate allows; retry after {retry_after} s"
                    ),
                ),
            ),
            Error::Unavailable(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                mk(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service unavailable",
                    why.clone(),
                ),
            ),
            Error::Internal { message, cause } => {
                tracing::error!(%cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    mk(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "Internal error",
                        message.clone(),
                    ),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, problem) = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if let Error::TooManyRequests { retry_after } = &self.0 {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(*retry_after));
        }
        response
    }
}

/// Answers unknown paths with a problem document rather than an empty 404.
pub async fn not_found_fallback(uri: axum::http::Uri) -> ApiError {
    ApiError(Error::NotFound {
        kind: "path",
        id: uri.path().to_string(),
    })
}

/// Answers a known path called with a method it does not serve.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let problem = Problem {
        kind: format!("{BASE}method-not-allowed"),
        title: "Method not allowed".into(),
        status: 405,
        detail: format!("{} does not accept {method}", uri.path()),
        errors: vec![],
        refusal: None,
    };
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::CONTENT_TYPE, "application/problem+json")],
        serde_json::to_vec(&problem).unwrap_or_default(),
    )
        .into_response()
}

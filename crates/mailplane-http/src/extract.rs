//! Request extractors whose failures are problem documents naming the field.
//!
//! axum's own extractors answer bad input with plain-text bodies; these wrap the same work
//! so that a malformed token, body, id or query parameter gets a documented 400 or 401.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use mailplane::Actor;
use mailplane::types::Error;

use crate::AppState;
use crate::problem::ApiError;

/// The authenticated caller, from `Authorization: Bearer <jwt>`.
pub struct Authenticated(pub Actor);

impl<S> FromRequestParts<S> for Authenticated
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| Error::Unauthenticated("the Authorization header is missing".into()))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(|| {
                Error::Unauthenticated("the Authorization header must be `Bearer <token>`".into())
            })?;
        let actor = state
            .control_plane
            .authenticate(&state.keyring, token.trim())
            .await?;
        if let Some(limiter) = &state.limiter {
            limiter.admit(&actor)?;
        }
        Ok(Authenticated(actor))
    }
}

/// A JSON body, read strictly (see [`crate::strict_json`]); a problem names the field that
/// failed to deserialise.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let mime = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(Error::invalid(
                "body",
                "must be JSON sent with Content-Type: application/json",
            )
            .into());
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| Error::invalid("body", "could not be read"))?;
        // Strictly: one JSON object and nothing after it, read as the schema says.
        let value = crate::strict_json::parse(&bytes)?;
        Ok(ApiJson(crate::strict_json::from_value(&value)?))
    }
}

/// Parses a path segment as a typed id; a bad one is a 400 naming the parameter.
pub fn path_id<T: std::str::FromStr>(name: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse::<T>()
        .map_err(|_| ApiError(Error::invalid(name, "must be a UUID")))
}

/// The query of list operations. Values are read as text and checked here, so that a bad
/// one names its parameter.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 1000 (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

impl ListQuery {
    /// The limit as a number; text that is not a whole number is a 400 naming `limit`.
    pub fn limit(&self) -> Result<Option<u64>, ApiError> {
        parse_limit(self.limit.as_deref())
    }
}

/// Parses a `limit` query value read as text, so that a bad one names its parameter.
pub fn parse_limit(raw: Option<&str>) -> Result<Option<u64>, ApiError> {
    raw.map(|l| {
        l.parse::<u64>().map_err(|_| {
            ApiError(Error::invalid(
                "limit",
                "must be a whole number from 1 to 1000",
            ))
        })
    })
    .transpose()
}

/// Query parameters parsed without axum's plain-text rejection.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|_| {
                ApiError(Error::invalid(
                    "query",
                    format!("`{q}` is not a valid query string"),
                ))
            })
    }
}

/// Path parameters without axum's plain-text rejection: a segment that is not valid
/// percent-encoded UTF-8 is a 400 problem naming the path.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|_| {
                ApiError(Error::invalid(
                    "path",
                    "every path segment must be valid percent-encoded UTF-8",
                ))
            })
    }
}

/// Path parameters parsed into typed ids (`IdPath<TenantId>`, `IdPath<(TenantId, MailboxId)>`),
/// in the order of the route's path. A segment that is not valid percent-encoded UTF-8 is the
/// same 400 as [`ApiPath`]'s; a segment that does not parse is a 400 naming its parameter
/// ("`tenant` must be a UUID"), checked in path order, exactly as [`path_id`] answers.
pub struct IdPath<T>(pub T);

/// Values that [`IdPath`] reads from a route's path parameters, given in path order.
pub trait FromPathParams: Sized {
    /// Parses the parameters, each named as in the route.
    fn from_params(params: &[(&str, &str)]) -> Result<Self, ApiError>;
}

/// One path parameter's value; the parameter is named in the 400 when it does not parse.
fn param<T: std::str::FromStr>(params: &[(&str, &str)], index: usize) -> Result<T, ApiError> {
    let (name, value) = params.get(index).copied().ok_or_else(|| {
        ApiError(Error::internal(format!(
            "the route has no path parameter {index}"
        )))
    })?;
    path_id(name, value)
}

macro_rules! from_path_params {
    ($($t:ident $i:tt),+) => {
        impl<$($t: std::str::FromStr),+> FromPathParams for ($($t,)+) {
            fn from_params(params: &[(&str, &str)]) -> Result<Self, ApiError> {
                Ok(($(param::<$t>(params, $i)?,)+))
            }
        }
    };
}
from_path_params!(A 0);
from_path_params!(A 0, B 1);
from_path_params!(A 0, B 1, C 2);

macro_rules! from_one_path_param {
    ($($t:ty),+) => {
        $(impl FromPathParams for $t {
            fn from_params(params: &[(&str, &str)]) -> Result<Self, ApiError> {
                param(params, 0)
            }
        })+
    };
}
from_one_path_param!(
    mailplane::types::PartnerId,
    mailplane::types::TenantId,
    mailplane::types::DomainId,
    mailplane::types::MailboxId,
    mailplane::types::RequestId,
    mailplane::types::WebhookId,
    String
);

impl<S, T> FromRequestParts<S> for IdPath<T>
where
    T: FromPathParams + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError(Error::invalid(
                    "path",
                    "every path segment must be valid percent-encoded UTF-8",
                ))
            })?;
        let params: Vec<(&str, &str)> = raw.iter().collect();
        T::from_params(&params).map(IdPath)
    }
}

//! `/v1/requests`: requests (the accountable party asks, the responsible party fulfils or
//! declines) and proposals (the responsible party offers, the accountable party approves or
//! rejects), and [`respond`], the one way every routed operation answers: 201/200/204 when
//! it ran, with a `Mailplane-Request` header when automation ran it on a request, and 202
//! with the request when it waits for another party.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::Outcome;
use mailplane::input::{RequestCreate, RequestResolution};
use mailplane::types::resources::{Request, RequestKind, RequestState};
use mailplane::types::{RequestId, TenantId};

use crate::AppState;
use crate::extract::{ApiJson, ApiQuery, Authenticated, IdPath};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("request_create", crate::activities::PER_REQUEST),
    ("request_list", crate::activities::NONE),
    ("request_view", crate::activities::NONE),
    ("request_fulfil", crate::activities::PER_REQUEST),
    ("request_decline", crate::activities::PER_REQUEST),
    ("request_approve", crate::activities::PER_REQUEST),
    ("request_reject", crate::activities::PER_REQUEST),
    ("request_consent", crate::activities::PER_REQUEST),
    ("request_object", crate::activities::PER_REQUEST),
    ("request_cancel", crate::activities::PER_REQUEST),
];

/// Where to act on a request. The answers that apply are present while it is pending.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RequestLinks {
    /// The request itself.
    #[serde(rename = "self")]
    pub self_: String,
    /// POST here to fulfil a request (responsible party).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fulfil: Option<String>,
    /// POST here to decline a request with a reason (responsible party).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline: Option<String>,
    /// POST here to approve a proposal (accountable party).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approve: Option<String>,
    /// POST here to reject a proposal with a reason (accountable party).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject: Option<String>,
    /// POST here to consent to a consultation (a consulted party).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    /// POST here to object to a consultation, with a reason (a consulted party).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// POST here to withdraw it (the party that filed it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel: Option<String>,
}

/// A request with its links.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RequestView {
    /// The request.
    #[serde(flatten)]
    pub request: Request,
    /// Where to act on it.
    pub links: RequestLinks,
}

impl From<Request> for RequestView {
    fn from(request: Request) -> Self {
        let base = format!("/v1/requests/{}", request.id);
        let pending = request.state == RequestState::Pending;
        let kind = request.kind;
        let link =
            |k: RequestKind, verb: &str| (pending && kind == k).then(|| format!("{base}/{verb}"));
        // A consultation waits for its consulted parties until an objection hands it back to
        // the party that asked, which may then approve it.
        let handed_back = request.addressed_to.contains(&request.requester_party);
        let consulting = kind == RequestKind::Consultation && !handed_back;
        RequestView {
            links: RequestLinks {
                fulfil: link(RequestKind::Request, "fulfil"),
                decline: link(RequestKind::Request, "decline"),
                approve: link(RequestKind::Proposal, "approve").or_else(|| {
                    (pending && kind == RequestKind::Consultation && handed_back)
                        .then(|| format!("{base}/approve"))
                }),
                consent: (pending && consulting).then(|| format!("{base}/consent")),
                object: (pending && consulting).then(|| format!("{base}/object")),
                reject: link(RequestKind::Proposal, "reject"),
                cancel: pending.then(|| format!("{base}/cancel")),
                self_: base,
            },
            request,
        }
    }
}

/// The header naming the request a change was carried out under, when provider automation
/// fulfilled it at once.
pub const REQUEST_HEADER: &str = "mailplane-request";

/// Answers a routed operation: `done` (201, 200 or 204) with the value when it ran, plus the
/// `Mailplane-Request` header and a `Link` when automation ran it on a request; 202 with the
/// request and a `Location` when it waits for another party.
pub(crate) fn respond<T: Serialize>(outcome: Outcome<T>, done: StatusCode) -> Response {
    let body = |value: T| {
        if done == StatusCode::NO_CONTENT {
            done.into_response()
        } else {
            (done, Json(value)).into_response()
        }
    };
    match outcome {
        Outcome::Done(value) => body(value),
        Outcome::Automated { value, request } => {
            let mut response = body(value);
            let path = format!("/v1/requests/{}", request.id);
            let headers = response.headers_mut();
            for (name, value) in [
                (
                    header::HeaderName::from_static(REQUEST_HEADER),
                    request.id.to_string(),
                ),
                (header::LINK, format!("<{path}>; rel=\"request\"")),
            ] {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(name, v);
                }
            }
            response
        }
        Outcome::Filed(request) => {
            let location = format!("/v1/requests/{}", request.id);
            (
                StatusCode::ACCEPTED,
                [(header::LOCATION, location)],
                Json(RequestView::from(*request)),
            )
                .into_response()
        }
    }
}

/// A page of requests.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RequestPage {
    /// The requests, oldest first.
    pub items: Vec<RequestView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The query of `request_list`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestQuery {
    /// Only requests in this state: `pending` (the queue), `fulfilled`, `declined`,
    /// `cancelled`, `expired`, `approved`, `rejected`.
    pub state: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 1000 (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_create))
        .routes(routes!(request_list))
        .routes(routes!(request_view))
        .routes(routes!(request_fulfil))
        .routes(routes!(request_decline))
        .routes(routes!(request_approve))
        .routes(routes!(request_reject))
        .routes(routes!(request_consent))
        .routes(routes!(request_object))
        .routes(routes!(request_cancel))
}

/// Files a request or a proposal for work Mailplane does not carry out itself; the payload
/// describes it. A caller whose party is accountable but not responsible files a request
/// (a ticket to the provider, for example `disclaimer.all-users` in `ticketed-suite`); one
/// whose party is responsible but not accountable files a proposal to the accountable
/// party. Answers 202: the other party answers later.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/requests", operation_id = "request_create", tag = "requests",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = RequestCreate, security(("bearer" = [])),
    responses(
        (status = 202, description = "The request or proposal was filed.", body = RequestView),
        (status = 400, description = "The id or the body is invalid, or no request is needed.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's roles exercise neither R nor A on the activity.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not visible to the caller.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_create(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(input): ApiJson<RequestCreate>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let request = s
        .control_plane
        .request_create(&actor, tenant, input)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(request.into())))
}

/// Lists the requests the caller may see: a customer its tenant's, a partner its
/// customers', the provider all. `state=pending` is the queue.
#[utoipa::path(get, path = "/v1/requests", operation_id = "request_list", tag = "requests",
    params(RequestQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of requests.", body = RequestPage),
        (status = 400, description = "A query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<RequestQuery>,
) -> Result<Json<RequestPage>, ApiError> {
    let limit = crate::extract::parse_limit(q.limit.as_deref())?;
    let page = s
        .control_plane
        .request_list(&actor, q.state.as_deref(), q.cursor.as_deref(), limit)
        .await?;
    Ok(Json(RequestPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Shows a request.
#[utoipa::path(get, path = "/v1/requests/{request}", operation_id = "request_view", tag = "requests",
    params(("request" = String, Path, format = Uuid, description = "The request's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The request.", body = RequestView),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not visible to the caller.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<RequestId>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(s.control_plane.request_view(&actor, id).await?.into()))
}

/// Fulfils a pending request (the responsible party). At most once: a second fulfilment,
/// even a simultaneous one, answers 409.
#[utoipa::path(post, path = "/v1/requests/{request}/fulfil", operation_id = "request_fulfil", tag = "requests",
    params(("request" = String, Path, format = Uuid, description = "The request's id.")),
    request_body = RequestResolution, security(("bearer" = [])),
    responses(
        (status = 200, description = "The fulfilled request.", body = RequestView),
        (status = 400, description = "The id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party is not responsible for the activity.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not visible to the caller.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request is no longer pending.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_fulfil(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<RequestId>,
    ApiJson(input): ApiJson<RequestResolution>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        s.control_plane
            .request_fulfil(&actor, id, input)
            .await?
            .into(),
    ))
}

/// Declines a pending request with a reason (the responsible party).
#[utoipa::path(post, path = "/v1/requests/{request}/decline", operation_id = "request_decline", tag = "requests",
    params(("request" = String, Path, format = Uuid, description = "The request's id.")),
    request_body = RequestResolution, security(("bearer" = [])),
    responses(
        (status = 200, description = "The declined request.", body = RequestView),
        (status = 400, description = "The id or the body is invalid; a reason is required.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party is not responsible for the activity.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not visible to the caller.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request is no longer pending.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_decline(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<RequestId>,
    ApiJson(input): ApiJson<RequestResolution>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        s.control_plane
            .request_decline(&actor, id, input)
            .await?
            .into(),
    ))
}

/// Withdraws a pending request or proposal (the party that filed it, exercising the letter
/// it filed with: A for a request, R for a proposal).
#[utoipa::path(post, path = "/v1/requests/{request}/cancel", operation_id = "request_cancel", tag = "requests",
    params(("request" = String, Path, format = Uuid, description = "The request's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled request.", body = RequestView),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party did not file it, or may not answer for it.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not visible to the caller.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request is no longer pending, or it expired.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_cancel(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<RequestId>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        s.control_plane.request_cancel(&actor, id).await?.into(),
    ))
}

/// Approves a pending proposal (the accountable party). Its operation runs now as the
/// proposer; the audit trail records both. At most once, like fulfilment.
#[utoipa::path(post, path = "/v1/requests/{request}/approve", operation_id = "request_approve", tag = "requests",
    params(("request" = String, Path, format = Uuid, description = "The request's id.")),
    request_body = RequestResolution, security(("bearer" = [])),
    responses(
        (status = 200, description = "The approved proposal, with the operation's result.", body = RequestView),
        (status = 400, description = "The id or the body is invalid, or the operation's input no longer fits the tenant.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party is not accountable for the activity.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not visible to the caller.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It is not a pending proposal, it expired, or the operation conflicts with the tenant's data.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_approve(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<RequestId>,
    ApiJson(input): ApiJson<RequestResolution>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        s.control_plane
            .request_approve(&actor, id, input)
            .await?
            .into(),
    ))
}

/// Rejects a pending proposal with a reason (the accountable party).
#[utoipa::path(post, path = "/v1/requests/{request}/reject", operation_id = "request_reject", tag = "requests",
    params(("request" = String, Path, format = Uuid, description = "The request's id.")),
    request_body = RequestResolution, security(("bearer" = [])),
    responses(
        (status = 200, description = "The rejected proposal.", body = RequestView),
        (status = 400, description = "The id or the body is invalid; a reason is required.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party is not accountable for the activity.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not visible to the caller.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It is not a pending proposal, or it expired.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_reject(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<RequestId>,
    ApiJson(input): ApiJson<RequestResolution>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        s.control_plane
            .request_reject(&actor, id, input)
            .await?
            .into(),
    ))
}

/// Consents to a pending consultation (a consulted party, C). When every consulted party has
/// consented, the activity runs at once, as the party that asked.
#[utoipa::path(post, path = "/v1/requests/{request}/consent", operation_id = "request_consent", tag = "requests",
    params(("request" = String, Path, format = Uuid, description = "The request's id.")),
    request_body = RequestResolution, security(("bearer" = [])),
    responses(
        (status = 200, description = "The consultation with the answer; `fulfilled` when it was the last one.", body = RequestView),
        (status = 400, description = "The id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party is not consulted on the activity.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not visible to the caller.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It is not a pending consultation, the caller's party answered already, or its deadline passed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_consent(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<RequestId>,
    ApiJson(input): ApiJson<RequestResolution>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        s.control_plane
            .request_consent(&actor, id, input)
            .await?
            .into(),
    ))
}

/// Objects to a pending consultation, with a reason (a consulted party, C). The activity
/// does not run; the accountable party sees the objection and approves or cancels.
#[utoipa::path(post, path = "/v1/requests/{request}/object", operation_id = "request_object", tag = "requests",
    params(("request" = String, Path, format = Uuid, description = "The request's id.")),
    request_body = RequestResolution, security(("bearer" = [])),
    responses(
        (status = 200, description = "The consultation, now waiting for the accountable party.", body = RequestView),
        (status = 400, description = "The id or the body is invalid; a reason is required.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party is not consulted on the activity.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not visible to the caller.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It is not a pending consultation, the caller's party answered already, or its deadline passed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn request_object(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<RequestId>,
    ApiJson(input): ApiJson<RequestResolution>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        s.control_plane
            .request_object(&actor, id, input)
            .await?
            .into(),
    ))
}

//! The end of a tenant's life over HTTP: exports (`export.pst.deliver`) with their expiring
//! download links and acknowledgement, the termination (`contract.terminate`) and its state
//! machine, and the public key destruction certificates are signed with.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::certificate::PublishedKeys;
use mailplane::input::{ExportCreate, TerminationCreate};
use mailplane::types::lifecycle::{Export, Termination};
use mailplane::types::{ExportId, TenantId};

use crate::AppState;
use crate::api::requests::respond;
use crate::extract::{ApiJson, ApiQuery, Authenticated, IdPath};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("export_list", mailplane::activity::EXPORT),
    ("export_create", mailplane::activity::EXPORT),
    ("export_view", mailplane::activity::EXPORT),
    ("export_acknowledge", mailplane::activity::EXPORT),
    ("export_download", crate::activities::NONE),
    ("termination_view", mailplane::activity::TERMINATE),
    ("termination_create", mailplane::activity::TERMINATE),
    ("termination_cancel", mailplane::activity::TERMINATE),
    ("termination_resume", mailplane::activity::TENANT_DESTROY),
    ("destruction_key_list", crate::activities::NONE),
];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_list, export_create))
        .routes(routes!(export_view))
        .routes(routes!(export_acknowledge))
        .routes(routes!(export_download))
        .routes(routes!(termination_view, termination_create))
        .routes(routes!(termination_cancel))
        .routes(routes!(termination_resume))
        .routes(routes!(destruction_key_list))
}

/// A tenant's exports.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ExportList {
    /// Newest first.
    pub items: Vec<Export>,
}

/// The link's credential.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// The token of the download link, as given in the export's `download_url`.
    pub token: String,
}

/// Lists the tenant's exports. The download link is shown to the parties holding R or A.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/exports", operation_id = "export_list", tag = "lifecycle",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The exports.", body = ExportList),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `export.pst.deliver`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn export_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
) -> Result<Json<ExportList>, ApiError> {
    let items = s.control_plane.export_list(&actor, tenant).await?;
    Ok(Json(ExportList { items }))
}

/// Asks for an export of a mailbox or the whole tenant (`export.pst.deliver`: the customer
/// is accountable, the provider responsible). Where the profile automates the activity,
/// provider automation takes it on at once (201); otherwise the request waits for the
/// provider (202). The archive is prepared by a durable job; poll the export until it is
/// `ready`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/exports", operation_id = "export_create", tag = "lifecycle",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = ExportCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "The export, preparing.", body = Export, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `export.pst.deliver`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Exports are not configured on this deployment.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn export_create(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(input): ApiJson<ExportCreate>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.export_create(&actor, tenant, input).await?;
    Ok(respond(outcome, StatusCode::CREATED))
}

/// Shows an export: its state, its manifest once ready, and its download link while the
/// link works (to the parties holding R or A).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/exports/{export}", operation_id = "export_view", tag = "lifecycle",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("export" = String, Path, format = Uuid, description = "The export's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The export.", body = Export),
        (status = 400, description = "An id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `export.pst.deliver`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or export, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn export_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, export)): IdPath<(TenantId, ExportId)>,
) -> Result<Json<Export>, ApiError> {
    Ok(Json(
        s.control_plane.export_view(&actor, tenant, export).await?,
    ))
}

/// The accountable party (the customer) acknowledges it received the export. Repeating it
/// answers with the same acknowledgement.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/exports/{export}/acknowledge", operation_id = "export_acknowledge", tag = "lifecycle",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("export" = String, Path, format = Uuid, description = "The export's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The export, acknowledged.", body = Export),
        (status = 400, description = "An id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party is not accountable for `export.pst.deliver`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or export, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The export is not ready, or expired.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn export_acknowledge(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, export)): IdPath<(TenantId, ExportId)>,
) -> Result<Json<Export>, ApiError> {
    Ok(Json(
        s.control_plane
            .export_acknowledge(&actor, tenant, export)
            .await?,
    ))
}

/// Downloads an export's archive through its link. The link's token is the credential (no
/// bearer token). Every failure to authorize the download (a wrong token, the token of
/// another export, an export of another tenant or still being prepared, an expired link) is
/// the same 404 as a random id. The archive is stored sealed and streamed out decrypted,
/// chunk by chunk; a damaged archive ends the transfer with an error, never with bad data.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/exports/{export}/download", operation_id = "export_download", tag = "lifecycle",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("export" = String, Path, format = Uuid, description = "The export's id."),
        DownloadQuery,
    ),
    responses(
        (status = 200, description = "The archive: an mbox file or a zip of .eml files with `manifest.json`.", content(
            (Vec<u8> = "application/zip"),
            (Vec<u8> = "application/mbox"),
        )),
        (status = 400, description = "An id is malformed, or the token is missing.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or export, or the link does not work: a wrong token, the token of another export, an export still being prepared, an expired link. Each is the same answer as a random id.", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The link works but its archive was removed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn export_download(
    State(s): State<AppState>,
    IdPath((tenant, export)): IdPath<(TenantId, ExportId)>,
    ApiQuery(query): ApiQuery<DownloadQuery>,
) -> Result<Response, ApiError> {
    let (e, archive) = s
        .control_plane
        .export_download(tenant, export, &query.token)
        .await?;
    let len = archive.length();
    let body = Body::from_stream(decrypted(archive));
    let mut response = (
        [
            (header::CONTENT_TYPE, e.format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"export-{}.{}\"",
                    e.id,
                    e.format.extension()
                ),
            ),
        ],
        body,
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, len.into());
    Ok(response)
}

/// The archive's plaintext as a stream of 64 KiB chunks, each read and opened on a blocking
/// thread only when the client has taken the one before, so a slow or idle client holds no
/// thread. A chunk that does not authenticate ends the stream with an error, so the transfer
/// is cut short instead of carrying bad bytes.
fn decrypted(
    archive: mailplane::archive::SealedArchive,
) -> impl futures_util::stream::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    use std::io::Read;
    futures_util::stream::unfold(Some(archive), |archive| async move {
        let mut archive = archive?;
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let read = archive.read(&mut buf).map(|n| {
                buf.truncate(n);
                buf
            });
            (archive, read)
        })
        .await;
        match read {
            Ok((_, Ok(buf))) if buf.is_empty() => None,
            Ok((archive, Ok(buf))) => Some((Ok(buf), Some(archive))),
            Ok((_, Err(e))) => {
                tracing::error!(error = %e, "an export archive does not open");
                Some((Err(e), None))
            }
            Err(e) => Some((Err(std::io::Error::other(e)), None)),
        }
    })
}

/// Shows the tenant's termination: where it is in the end-of-service state machine
/// (`terminating`, `blocked`, `configuration_destroyed`, `data_destroyed`, `closed`), what
/// blocks it, its dates, and the destruction certificate once issued.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/termination", operation_id = "termination_view", tag = "lifecycle",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The termination.", body = Termination),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `contract.terminate`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or it was never terminated.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn termination_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
) -> Result<Json<Termination>, ApiError> {
    Ok(Json(
        s.control_plane.termination_view(&actor, tenant).await?,
    ))
}

/// Terminates the tenant's contract (`contract.terminate`). The export window opens (the
/// profile's `export_window`, or `export_window_days`); when it closes, provider automation
/// destroys the configuration, then the data, and issues a signed certificate, unless a
/// legal hold or a locked retention policy blocks it.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/termination", operation_id = "termination_create", tag = "lifecycle",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = TerminationCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "The termination.", body = Termination, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `contract.terminate`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The contract is already terminated.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn termination_create(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(input): ApiJson<TerminationCreate>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .termination_create(&actor, tenant, input)
        .await?;
    Ok(respond(outcome, StatusCode::CREATED))
}

/// Cancels the termination during the export window (`contract.terminate`).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/termination/cancel", operation_id = "termination_cancel", tag = "lifecycle",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled termination.", body = Termination, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `contract.terminate`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or no termination under way.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The export window closed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn termination_cancel(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.termination_cancel(&actor, tenant).await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// The party accountable for destroying the configuration (the provider) resumes a
/// termination that a rejected consultation stopped at `blocked`: the consulted parties are
/// asked again.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/termination/resume", operation_id = "termination_resume", tag = "lifecycle",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The termination, terminating again.", body = Termination),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party is not accountable for `configuration.destroy`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or no termination.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The termination is not blocked by a consultation.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn termination_resume(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
) -> Result<Json<Termination>, ApiError> {
    Ok(Json(
        s.control_plane.termination_resume(&actor, tenant).await?,
    ))
}

/// The provider's public keys for destruction certificates, as a JWK set: pin them to
/// verify a certificate offline (`mailplane certificate verify --key`).
#[utoipa::path(get, path = "/.well-known/mailplane/destruction-keys", operation_id = "destruction_key_list", tag = "lifecycle",
    responses(
        (status = 200, description = "The keys.", body = PublishedKeys),
        (status = 503, description = "Destruction certificates are not configured on this deployment.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn destruction_key_list(State(s): State<AppState>) -> Result<Json<PublishedKeys>, ApiError> {
    Ok(Json(s.control_plane.destruction_key_list()?))
}

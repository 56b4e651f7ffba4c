//! `/v1/tenants/{tenant}/inventory`: what a tenant holds of the service (`inventory.provide`,
//! provider RA and customer I in the reference matrix), as JSON or as a CSV download.
//!
//! The format is a query parameter rather than content negotiation so that a link in a
//! browser or a spreadsheet's "import from URL" gets the CSV without setting headers.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::ControlPlane;
use mailplane::types::inventory::Inventory;
use mailplane::types::{Error, TenantId};

use crate::AppState;
use crate::extract::{ApiQuery, Authenticated, IdPath};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] =
    &[("inventory_view", mailplane::activity::INVENTORY)];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(inventory_view))
}

/// How to serve the inventory.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InventoryQuery {
    /// `json` (the default) or `csv`.
    #[param(example = "csv")]
    pub format: Option<String>,
}

/// Shows a tenant's inventory (`inventory.provide`: any letter reads it): its offer and
/// region, its subscriptions with their seats and the licences assigned from them, its
/// domains with their verification state, its mailbox counts and quota totals, and how
/// many aliases and groups it has. With `format=csv` the same as a CSV download: a header
/// row `section,name,state,count,bytes,detail` and one row per item.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/inventory", operation_id = "inventory_view", tag = "inventory",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        InventoryQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The inventory: JSON by default, CSV (RFC 4180, CRLF line ends) with `format=csv`.",
            content((Inventory = "application/json"), (String = "text/csv")),
            headers(("Content-Disposition" = String, description = "With `format=csv`: `attachment; filename=\"inventory-<tenant slug or id>.csv\"`."))),
        (status = 400, description = "The id is invalid, or `format` is neither `json` nor `csv`.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `inventory.provide`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn inventory_view(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(id): IdPath<TenantId>,
    ApiQuery(q): ApiQuery<InventoryQuery>,
) -> Result<Response, ApiError> {
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(Error::invalid("format", "must be json or csv").into()),
    };
    let inv = s.control_plane.inventory_view(&actor, id).await?;
    if !csv {
        return Ok(Json(inv).into_response());
    }
    // The slug is a-z, 0-9 and `-`, and the id a UUID: both are safe in a quoted filename.
    let stem = inv
        .slug
        .clone()
        .unwrap_or_else(|| inv.tenant_id.to_string());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"inventory-{stem}.csv\""),
            ),
        ],
        ControlPlane::inventory_csv(&inv),
    )
        .into_response())
}

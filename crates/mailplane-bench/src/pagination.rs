//! Part 6: a page deep in a long list costs what the first page costs.
//!
//! Mailboxes are listed per tenant (`GET /v1/tenants/{t}/mailboxes`); there is no
//! provider-wide mailbox list. So the honest measurement puts 1,000,000 mailboxes into one
//! tenant of a database of its own and compares, over HTTP with the tenant administrator's
//! token, the first page with the page that starts 90% of the way down the list (its
//! keyset cursor is the id of the mailbox before it). The provider-wide list that does
//! exist, `GET /v1/tenants`, is measured the same way on the main database.
//!
//! Requests go one at a time on one keep-alive connection, first and deep pages
//! interleaved, many times; the figures are medians.

use hyper::StatusCode;
use mailplane::DatabaseLocation;
use mailplane::types::TenantId;

use crate::loadgen::{self, RequestSpec};
use crate::report::{Report, Row, count, duration};
use crate::server::{InProcess, Keys};
use crate::stats::Percentiles;

const PART: &str = "6 pagination";

/// The largest ratio of a deep page's median to the first page's the issue allows.
const TARGET_RATIO: f64 = 1.5;

/// Page sizes measured: the default and the largest.
const LIMITS: [u64; 2] = [mailplane::DEFAULT_PAGE, mailplane::MAX_PAGE];

/// Where the deep page of a list of `len` items starts: 90% of the way down, or earlier
/// when fewer than a full page of `limit` items follows.
fn deep_position(len: usize, limit: u64) -> usize {
    (len * 9 / 10).min(len.saturating_sub(limit as usize))
}

/// The page sizes a list of `len` items is measured at: those of which it holds at least
/// two full pages, so that the deep page is another page than the first.
fn limits_for(report: &mut Report, what: &str, len: usize) -> Vec<u64> {
    let (measured, skipped): (Vec<u64>, Vec<u64>) = LIMITS
        .into_iter()
        .partition(|limit| len as u64 >= 2 * limit);
    for limit in skipped {
        report.push(Row::info(
            PART,
            format!("{what}, {limit} per page"),
            "not measured: the list is shorter than two pages",
        ));
    }
    measured
}

/// Compares the first and a deep page of a list and adds the rows; `deep` holds each page
/// size with the cursor of its deep page.
async fn compare(
    report: &mut Report,
    addr: std::net::SocketAddr,
    what: &str,
    list: &str,
    deep: &[(u64, String)],
    token: std::sync::Arc<str>,
    repeats: usize,
) -> Result<(), String> {
    for (limit, deep_cursor) in deep {
        let limit = *limit;
        let first = RequestSpec::get(format!("{list}?limit={limit}"), Some(token.clone()));
        let deep = RequestSpec::get(
            format!("{list}?limit={limit}&cursor={deep_cursor}"),
            Some(token.clone()),
        );
        // Both pages must be full, or the deep one would be cheaper for holding less.
        let mut conn = loadgen::Connection::open(addr).await?;
        for spec in [&first, &deep] {
            let (_, body) = conn.send(spec).await?;
            let items = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["items"].as_array().map(Vec::len))
                .unwrap_or(0);
            if items as u64 != limit {
                return Err(format!(
                    "{} holds {items} items instead of {limit}",
                    spec.path
                ));
            }
        }
        drop(conn);
        // Warm-up: the first requests fill caches every later one finds full.
        loadgen::sequential(addr, &[first.clone(), deep.clone()], 10, StatusCode::OK).await?;
        let times = loadgen::sequential(addr, &[first, deep], repeats, StatusCode::OK).await?;
        let first = Percentiles::of(times[0].clone());
        let deep = Percentiles::of(times[1].clone());
        let ratio = deep.p50 / first.p50;
        report.push(
            Row::info(
                PART,
                format!("{what}, {limit} per page: first page / deep page"),
                format!(
                    "{} / {} (p50 of {}; p99 {} / {})",
                    duration(first.p50),
                    duration(deep.p50),
                    count(repeats as u64),
                    duration(first.p99),
                    duration(deep.p99)
                ),
            )
            .value(deep.p50 * 1e3, "ms"),
        );
        report.push(
            Row::info(
                PART,
                format!("{what}, {limit} per page: deep page / first page"),
                format!("{ratio:.2}"),
            )
            .value(ratio, "ratio")
            .target("<= 1.5", ratio <= TARGET_RATIO),
        );
    }
    Ok(())
}

/// The mailboxes of the one tenant of `location`, which holds `mailboxes` of them.
pub async fn mailboxes(
    report: &mut Report,
    location: &DatabaseLocation,
    mailboxes: usize,
    keys: &Keys,
    repeats: usize,
) -> Result<(), String> {
    let tenant: TenantId = crate::seed::tenant_at(location, 0).await?.into();
    let what = format!(
        "mailbox list of one tenant holding {} mailboxes (HTTP)",
        count(mailboxes as u64)
    );
    let mut deep = Vec::new();
    for limit in limits_for(report, &what, mailboxes) {
        let position = deep_position(mailboxes, limit);
        let cursor = crate::seed::mailbox_at(location, tenant, position - 1).await?;
        deep.push((limit, cursor.to_string()));
    }
    let cp = crate::server::control_plane(location).await?;
    let server = InProcess::start(cp, keys.keyring.clone()).await?;
    let result = compare(
        report,
        server.addr,
        &what,
        &format!("/v1/tenants/{tenant}/mailboxes"),
        &deep,
        keys.customer_hs256(tenant)?,
        repeats,
    )
    .await;
    server.stop().await?;
    result
}

/// The provider's tenant list of `location`, which holds `tenants` tenants.
pub async fn tenants(
    report: &mut Report,
    location: &DatabaseLocation,
    tenants: usize,
    keys: &Keys,
    repeats: usize,
) -> Result<(), String> {
    let what = format!(
        "provider's tenant list, {} tenants (HTTP)",
        count(tenants as u64)
    );
    let mut deep = Vec::new();
    for limit in limits_for(report, &what, tenants) {
        let position = deep_position(tenants, limit);
        let cursor = crate::seed::tenant_at(location, position - 1).await?;
        deep.push((limit, cursor.to_string()));
    }
    let cp = crate::server::control_plane(location).await?;
    let server = InProcess::start(cp, keys.keyring.clone()).await?;
    let result = compare(
        report,
        server.addr,
        &what,
        "/v1/tenants",
        &deep,
        keys.provider_hs256()?,
        repeats,
    )
    .await;
    server.stop().await?;
    result
}

//! Part 5: writes over HTTP. Mailbox creation from concurrent clients, and a batch of
//! 10,000 mailboxes in one call.
//!
//! Each creation is what the server always does: the scoped tenant read and the decision,
//! the mailbox, its address (by trigger), its licence seat, the hash-chained audit row and
//! the outbox event, in one transaction. The writing tenants are created through the
//! library as the provider would (hosted-exchange, with enough licence seats), so each
//! client writes to a tenant of its own with its administrator's HS256 token, beside the
//! seeded tenants. The batch goes to `POST /v1/tenants/{t}/mailboxes/batch` and is timed
//! from the first byte sent to the last byte of the answer.

use std::sync::Arc;

use hyper::StatusCode;
use mailplane::input::TenantCreate;
use mailplane::types::{DomainId, TenantId};
use mailplane::{Actor, ControlPlane, DatabaseLocation};
use serde_json::json;

use crate::loadgen::{self, Connection, Load, RequestSpec};
use crate::report::{Report, Row, count, duration};
use crate::server::{InProcess, Keys};
use crate::stats::Percentiles;

/// How the writes are run.
#[derive(Debug, Clone)]
pub struct WriteSettings {
    /// Concurrent clients creating mailboxes one at a time.
    pub clients: usize,
    /// Warm-up before measuring.
    pub warmup: std::time::Duration,
    /// How long to measure.
    pub duration: std::time::Duration,
    /// Mailboxes per batch call.
    pub batch_size: usize,
    /// How many batch calls.
    pub batch_repeats: usize,
}

/// Creations per second the issue asks for.
const TARGET_CREATES: f64 = 1000.0;

/// The longest a batch of 10,000 may take, in seconds.
const TARGET_BATCH_SECONDS: f64 = 1.0;

/// Seats of each writing tenant: more than any run creates.
const WRITER_SEATS: u32 = 200_000;

/// Creates a hosted-exchange tenant with `seats` licence seats, as the provider; returns it
/// and its default domain.
async fn tenant_with_seats(
    cp: &ControlPlane,
    name: String,
    seats: u32,
) -> Result<(TenantId, DomainId), String> {
    let provider = Actor::provider("bench", &["provider-admin"]);
    let tenant = cp
        .tenant_create(
            &provider,
            TenantCreate {
                name,
                seats: Some(seats),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("creating a writing tenant: {e}"))?;
    let admin = Actor::customer("bench", tenant.id, &["tenant-admin"]);
    let domain = cp
        .domain_list(&admin, tenant.id, None, None)
        .await
        .map_err(|e| e.to_string())?
        .items
        .into_iter()
        .find(|d| d.default)
        .ok_or("a new tenant has no default domain")?;
    Ok((tenant.id, domain.id))
}

/// Runs the writes on `location` and adds the rows of part 5, labelled with `backend`.
pub async fn run(
    report: &mut Report,
    location: &DatabaseLocation,
    backend: &str,
    keys: &Keys,
    settings: &WriteSettings,
) -> Result<(), String> {
    // The targets are SQLite's; other backends' figures are reported beside them.
    let judged = matches!(location, DatabaseLocation::Sqlite(_));
    let cp = crate::server::control_plane(location).await?;
    let tag = uuid::Uuid::now_v7().simple().to_string()[26..32].to_string();
    let mut writers = Vec::with_capacity(settings.clients);
    for c in 0..settings.clients {
        let (tenant, domain) =
            tenant_with_seats(&cp, format!("Writer {c} {tag}"), WRITER_SEATS).await?;
        writers.push((tenant, domain, keys.customer_hs256(tenant)?));
    }
    let batch_seats = (settings.batch_size * settings.batch_repeats.max(1)).clamp(5, 1_000_000);
    let (batch_tenant, batch_domain) =
        tenant_with_seats(&cp, format!("Batch {tag}"), batch_seats as u32).await?;
    let batch_token = keys.customer_hs256(batch_tenant)?;
    let server = InProcess::start(cp, keys.keyring.clone()).await?;

    // Single creations: client `c` writes `w<n>-<tag>` into its own tenant.
    let writers = Arc::new(writers);
    let source = {
        let writers = writers.clone();
        let tag = tag.clone();
        Arc::new(move |c: usize, n: u64| {
            let (tenant, domain, token) = &writers[c % writers.len()];
            let body = json!({
                "local_part": format!("w{n}-{tag}"),
                "domain_id": domain,
                "display_name": format!("Writer {c} {n}"),
            });
            RequestSpec::post_json(
                format!("/v1/tenants/{tenant}/mailboxes"),
                token.clone(),
                serde_json::to_vec(&body).unwrap_or_default(),
            )
        })
    };
    let load = Load {
        connections: settings.clients,
        warmup: settings.warmup,
        duration: settings.duration,
        expect: StatusCode::CREATED,
    };
    let creates = loadgen::run(server.addr, load, source).await?;
    creates.check("mailbox creation")?;
    let l = creates.latency();
    report.push(
        Row::info(
            "5 writes",
            format!(
                "mailbox creation over HTTP (mailbox, address, seat, audit row, event), {} clients, {backend}",
                settings.clients
            ),
            format!(
                "{} creations/s (p50 {}, p99 {}; {} created; server CPU {} per creation)",
                count(creates.rate().round() as u64),
                duration(l.p50),
                duration(l.p99),
                count(creates.completed),
                duration(creates.server_cpu_per_request())
            ),
        )
        .value(creates.rate(), "creations/s")
        .target_if(judged, ">= 1,000/s", creates.rate() >= TARGET_CREATES),
    );

    // Batches, one after the other on one connection.
    let mut conn = Connection::open(server.addr).await?;
    let mut times = Vec::with_capacity(settings.batch_repeats);
    for r in 0..settings.batch_repeats.max(1) {
        let mailboxes: Vec<serde_json::Value> = (0..settings.batch_size)
            .map(|i| {
                json!({
                    "local_part": format!("b{r}-{i}-{tag}"),
                    "domain_id": batch_domain,
                    "display_name": format!("Batch {r} {i}"),
                })
            })
            .collect();
        let body =
            serde_json::to_vec(&json!({ "mailboxes": mailboxes })).map_err(|e| e.to_string())?;
        let spec = RequestSpec::post_json(
            format!("/v1/tenants/{batch_tenant}/mailboxes/batch"),
            batch_token.clone(),
            body,
        );
        let (status, answer, took) = conn.timed(&spec).await?;
        if status != StatusCode::CREATED {
            return Err(format!(
                "the batch answered {status}: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(500)])
            ));
        }
        let created = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v["created"].as_u64())
            .unwrap_or(0);
        if created != settings.batch_size as u64 {
            return Err(format!(
                "the batch created {created} mailboxes of {}",
                settings.batch_size
            ));
        }
        times.push(took.as_secs_f64());
    }
    drop(conn);
    server.stop().await?;
    let p = Percentiles::of(times.clone());
    let all: Vec<String> = times.iter().map(|t| duration(*t)).collect();
    report.push(
        Row::info(
            "5 writes",
            format!(
                "batch of {} mailboxes in one call (`POST …/mailboxes/batch`), {backend}",
                count(settings.batch_size as u64)
            ),
            format!("median {} ({})", duration(p.p50), all.join(", ")),
        )
        .value(p.p50, "s")
        .target_if(judged, "<= 1 s", p.p50 <= TARGET_BATCH_SECONDS),
    );
    Ok(())
}

//! Part 7: the server's memory while it serves a large database, and how soon it is ready.
//!
//! This part runs the real binary (`target/release/mailplane serve`) on the seeded data
//! directory, so the figures are those of the process an operator runs. Readiness is the
//! time from spawning the process to the first 200 answer of `/readyz`, polled every few
//! milliseconds: once at the first start on the directory (which creates the signing,
//! master and certificate keys) and once at a restart. Then the server is loaded with
//! mailbox reads over many tenants, pages of 1,000 tenants of the provider's list, and a
//! batch of 10,000 mailboxes, while its resident set (`VmRSS`) is sampled; its peak
//! (`VmHWM`) is read at the end.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;

use crate::loadgen::{self, Connection, Load, RequestSource, RequestSpec};
use crate::report::{Report, Row, count, duration};
use crate::server::{HS256_KID, Keys, Spawned, memory_kib};

const PART: &str = "7 memory";

/// The longest the issue allows from start to ready, in seconds.
const TARGET_READY: f64 = 1.0;

/// The most resident memory the issue allows, in KiB (150 MB).
const TARGET_RSS_KIB: u64 = 150 * 1000 * 1000 / 1024;

/// How the server is loaded.
#[derive(Debug, Clone)]
pub struct MemorySettings {
    /// Concurrent connections.
    pub connections: usize,
    /// How long each load phase lasts.
    pub duration: Duration,
    /// Mailboxes of the batch.
    pub batch_size: usize,
}

/// Starts the binary on `data_dir` twice, loads it, and adds the rows of part 7.
pub async fn run(
    report: &mut Report,
    bin: &Path,
    data_dir: &Path,
    keys_dir: &Path,
    what: &str,
    settings: &MemorySettings,
) -> Result<(), String> {
    if !bin.is_file() {
        report.push(Row::info(
            PART,
            "the `mailplane` binary",
            format!(
                "not measured: {} is missing (build it with `cargo build --release -p mailplane-server`)",
                bin.display()
            ),
        ));
        return Ok(());
    }
    let location = crate::seed::sqlite_in(data_dir);
    let sample = crate::seed::sample(&location, 1000, 1).await?;
    // The server's own signing key is created at its first start; the benchmark's tokens
    // are HS256, with a secret handed to it in a file.
    let keys = Keys::new(keys_dir)?;
    let secret_file = data_dir.join("bench-hs256.secret");
    std::fs::write(&secret_file, &keys.secret).map_err(|e| e.to_string())?;
    let first_start = !data_dir.join("signing-key.pem").exists();

    let server = Spawned::start(bin, data_dir, &secret_file).await?;
    let ready_first = server.ready_after;
    let (rss_ready, _) = memory_kib(server.pid()).ok_or("cannot read the server's memory")?;
    let pid = server.pid();
    let sampling = Arc::new(AtomicBool::new(true));
    let peak_sample = Arc::new(AtomicU64::new(rss_ready));
    let sampler = {
        let (sampling, peak) = (sampling.clone(), peak_sample.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some((rss, _)) = memory_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let loaded = load(&server, &keys, &sample, &location, settings).await;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let (rss_end, hwm) = memory_kib(pid).ok_or("cannot read the server's memory")?;
    server.stop().await;
    let loaded = loaded?;
    let restarted = Spawned::start(bin, data_dir, &secret_file).await?;
    let ready_again = restarted.ready_after;
    restarted.stop().await;
    std::fs::remove_file(&secret_file).ok();

    let start_kind = if first_start {
        "first start (keys created)"
    } else {
        "start"
    };
    for (when, took) in [(start_kind, ready_first), ("restart", ready_again)] {
        report.push(
            Row::info(
                PART,
                format!("`mailplane serve` ready (`/readyz` 200) after {when}, {what}"),
                duration(took.as_secs_f64()),
            )
            .value(took.as_secs_f64(), "s")
            .target("<= 1 s", took.as_secs_f64() <= TARGET_READY),
        );
    }
    report.push(
        Row::info(PART, "resident memory when ready (VmRSS)", mb(rss_ready))
            .value(rss_ready as f64 / 1024.0, "MiB"),
    );
    report.push(
        Row::info(
            PART,
            format!("peak resident memory under load (VmHWM): {loaded}"),
            format!(
                "{} (largest sample {}, at the end {})",
                mb(hwm),
                mb(peak_sample.load(Ordering::Relaxed)),
                mb(rss_end)
            ),
        )
        .value(hwm as f64 / 1024.0, "MiB")
        .target("<= 150 MB", hwm <= TARGET_RSS_KIB),
    );
    Ok(())
}

fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

/// The load: reads, tenant pages, a batch. Returns what was done, in words.
async fn load(
    server: &Spawned,
    keys: &Keys,
    sample: &[crate::seed::SeededTenant],
    location: &mailplane::DatabaseLocation,
    settings: &MemorySettings,
) -> Result<String, String> {
    // Reads of one mailbox of each sampled tenant, with its administrator's token.
    let mut reads = Vec::with_capacity(sample.len());
    for t in sample {
        let mailbox = t
            .mailboxes
            .first()
            .ok_or("a seeded tenant has no mailbox")?;
        reads.push(RequestSpec::get(
            format!("/v1/tenants/{}/mailboxes/{mailbox}", t.id),
            Some(keys.customer_hs256(t.id)?),
        ));
    }
    let reads = Arc::new(reads);
    let source: RequestSource = {
        let reads = reads.clone();
        Arc::new(move |c, n| reads[(c * 7919 + n as usize * 31) % reads.len()].clone())
    };
    let load = Load {
        connections: settings.connections,
        warmup: Duration::ZERO,
        duration: settings.duration,
        expect: StatusCode::OK,
    };
    let r = loadgen::run(server.addr, load, source).await?;
    r.check("reads")?;
    let read_count = r.completed;

    // Pages of 1,000 tenants from everywhere in the provider's list.
    let provider = keys.provider_hs256()?;
    let total = crate::seed::tenant_count(location).await?;
    let mut cursors = vec![String::new()];
    for k in 1..(total / 1000).min(100) {
        cursors.push(format!(
            "&cursor={}",
            crate::seed::tenant_at(location, k * 1000 - 1).await?
        ));
    }
    let pages: Vec<RequestSpec> = cursors
        .iter()
        .map(|c| RequestSpec::get(format!("/v1/tenants?limit=1000{c}"), Some(provider.clone())))
        .collect();
    let pages = Arc::new(pages);
    let source: RequestSource = {
        let pages = pages.clone();
        Arc::new(move |c, n| pages[(c * 13 + n as usize) % pages.len()].clone())
    };
    let load = Load {
        connections: settings.connections.min(4),
        warmup: Duration::ZERO,
        duration: settings.duration,
        expect: StatusCode::OK,
    };
    let r = loadgen::run(server.addr, load, source).await?;
    r.check("tenant pages")?;
    let page_count = r.completed;

    // A batch into a new tenant with the seats for it, all over HTTP.
    let mut conn = Connection::open(server.addr).await?;
    let tag = &uuid::Uuid::now_v7().simple().to_string()[26..32];
    let create = RequestSpec::post_json(
        "/v1/tenants",
        provider.clone(),
        serde_json::to_vec(&json!({
            "name": format!("Memory {tag}"),
            "seats": settings.batch_size.max(5),
        }))
        .map_err(|e| e.to_string())?,
    );
    let (status, body) = conn.send(&create).await?;
    let tenant = json_field(status, StatusCode::CREATED, &body, "id")?;
    let tenant: mailplane::types::TenantId = tenant.parse().map_err(|_| "a tenant id")?;
    let admin = keys.customer_hs256(tenant)?;
    let (status, body) = conn
        .send(&RequestSpec::get(
            format!("/v1/tenants/{tenant}/domains"),
            Some(admin.clone()),
        ))
        .await?;
    json_field(status, StatusCode::OK, &body, "items")?;
    let domain = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v["items"]
                .as_array()?
                .iter()
                .find(|d| d["default"] == true)?["id"]
                .as_str()
                .map(str::to_string)
        })
        .ok_or("the new tenant has no default domain")?;
    let mailboxes: Vec<serde_json::Value> = (0..settings.batch_size)
        .map(|i| json!({ "local_part": format!("m{i}"), "domain_id": domain, "display_name": format!("Memory {i}") }))
        .collect();
    let batch = RequestSpec::post_json(
        format!("/v1/tenants/{tenant}/mailboxes/batch"),
        admin,
        serde_json::to_vec(&json!({ "mailboxes": mailboxes })).map_err(|e| e.to_string())?,
    );
    let (status, body) = conn.send(&batch).await?;
    json_field(status, StatusCode::CREATED, &body, "created")?;
    Ok(format!(
        "{} mailbox reads over {} tenants, {} pages of 1,000 tenants, one batch of {} mailboxes (kid `{HS256_KID}`)",
        count(read_count),
        count(sample.len() as u64),
        count(page_count),
        count(settings.batch_size as u64)
    ))
}

/// A field of a JSON answer with the expected status, as text.
fn json_field(
    status: StatusCode,
    expect: StatusCode,
    body: &[u8],
    field: &str,
) -> Result<String, String> {
    if status != expect {
        return Err(format!(
            "answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    match &v[field] {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Null => Err(format!("the answer has no `{field}`")),
        other => Ok(other.to_string()),
    }
}

//! `/metrics` in the Prometheus text format.
//!
//! Requests are counted and timed by OpenAPI operation id (the names SDKs use), so a
//! dashboard reads `mailbox_create` rather than a path with ids in it. The job queue and
//! webhook deliveries are read from the database at scrape time, so every replica reports
//! the state of the work they share; request figures are each replica's own.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::problem::ApiError;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Timings {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// The request figures of one process, by operation id.
pub struct Metrics {
    /// (method, route template) to operation id, from the OpenAPI document.
    operations: HashMap<(Method, String), &'static str>,
    timings: HashMap<&'static str, Timings>,
    counts: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl Metrics {
    /// Figures for every operation of the document.
    pub fn new(doc: &serde_json::Value) -> Metrics {
        let mut operations = HashMap::new();
        let paths = doc["paths"].as_object().into_iter().flatten();
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                let (Ok(method), Some(id)) = (
                    Method::from_bytes(method.to_ascii_uppercase().as_bytes()),
                    op["operationId"].as_str(),
                ) else {
                    continue;
                };
                // Leaked once per operation at start-up: the names live as long as the
                // process and are shared by every request.
                let id: &'static str = Box::leak(id.to_string().into_boxed_str());
                operations.insert((method, path.clone()), id);
            }
        }
        let timings = operations
            .values()
            .map(|id| (*id, Timings::default()))
            .collect();
        Metrics {
            operations,
            timings,
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    fn record(&self, operation: &'static str, status: u16, elapsed: std::time::Duration) {
        if let Some(t) = self.timings.get(operation) {
            let secs = elapsed.as_secs_f64();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    t.buckets[i].fetch_add(1, Ordering::Relaxed);
                }
            }
            t.count.fetch_add(1, Ordering::Relaxed);
            t.sum_nanos.fetch_add(
                u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry((operation, status)).or_default() += 1;
    }

    fn render_requests(&self, out: &mut String) {
        out.push_str("# HELP mailplane_http_requests_total HTTP requests answered, by operation id and status.\n");
        out.push_str("# TYPE mailplane_http_requests_total counter\n");
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for ((operation, status), n) in counts.iter() {
            let _ = writeln!(
                out,
                "mailplane_http_requests_total{{operation=\"{operation}\",status=\"{status}\"}} {n}"
            );
        }
        drop(counts);
        out.push_str(
            "# HELP mailplane_http_request_duration_seconds Time to answer, by operation id.\n",
        );
        out.push_str("# TYPE mailplane_http_request_duration_seconds histogram\n");
        let mut ids: Vec<&&'static str> = self.timings.keys().collect();
        ids.sort();
        for id in ids {
            let t = &self.timings[*id];
            let count = t.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "mailplane_http_request_duration_seconds_bucket{{operation=\"{id}\",le=\"{bound}\"}} {}",
                    t.buckets[i].load(Ordering::Relaxed)
                );
            }
            let _ = writeln!(
                out,
                "mailplane_http_request_duration_seconds_bucket{{operation=\"{id}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "mailplane_http_request_duration_seconds_sum{{operation=\"{id}\"}} {}",
                t.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "mailplane_http_request_duration_seconds_count{{operation=\"{id}\"}} {count}"
            );
        }
    }
}

/// The middleware: times every routed request under its operation id.
pub async fn measure(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let operation = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| {
            metrics
                .operations
                .get(&(request.method().clone(), p.as_str().to_string()))
        })
        .copied();
    let started = Instant::now();
    let response = next.run(request).await;
    if let Some(operation) = operation {
        metrics.record(operation, response.status().as_u16(), started.elapsed());
    }
    response
}

/// `GET /metrics`.
pub async fn scrape(State((state, metrics)): State<(AppState, Arc<Metrics>)>) -> Response {
    let counts = match state.control_plane.operational_counts().await {
        Ok(c) => c,
        Err(e) => return ApiError(e).into_response(),
    };
    let mut out = String::with_capacity(16 * 1024);
    metrics.render_requests(&mut out);
    out.push_str("# HELP mailplane_jobs Durable jobs by state.\n# TYPE mailplane_jobs gauge\n");
    for (state, n) in &counts.jobs_by_state {
        let _ = writeln!(out, "mailplane_jobs{{state=\"{state}\"}} {n}");
    }
    out.push_str("# HELP mailplane_jobs_due Pending jobs whose next step is due and unclaimed: the queue depth.\n# TYPE mailplane_jobs_due gauge\n");
    let _ = writeln!(out, "mailplane_jobs_due {}", counts.jobs_due);
    out.push_str("# HELP mailplane_jobs_leased Pending jobs a worker is running now.\n# TYPE mailplane_jobs_leased gauge\n");
    let _ = writeln!(out, "mailplane_jobs_leased {}", counts.jobs_leased);
    out.push_str("# HELP mailplane_webhook_deliveries Webhook deliveries by state.\n# TYPE mailplane_webhook_deliveries gauge\n");
    for (state, n) in &counts.deliveries_by_state {
        let _ = writeln!(out, "mailplane_webhook_deliveries{{state=\"{state}\"}} {n}");
    }
    out.push_str("# HELP mailplane_webhook_failed_attempts_total Webhook delivery attempts that got no 2xx answer.\n# TYPE mailplane_webhook_failed_attempts_total counter\n");
    let _ = writeln!(
        out,
        "mailplane_webhook_failed_attempts_total {}",
        counts.webhook_attempts_failed
    );
    // Only SQLite deployments have a read cache (see the store's `read_cache`).
    if let Some(cache) = state.control_plane.read_cache_stats() {
        out.push_str("# HELP mailplane_read_cache_lookups_total Tenant and mailbox lookups of the SQLite read cache, by result.\n# TYPE mailplane_read_cache_lookups_total counter\n");
        let _ = writeln!(
            out,
            "mailplane_read_cache_lookups_total{{result=\"hit\"}} {}",
            cache.hits
        );
        let _ = writeln!(
            out,
            "mailplane_read_cache_lookups_total{{result=\"miss\"}} {}",
            cache.misses
        );
        out.push_str("# HELP mailplane_read_cache_entries Tenants and mailboxes the read cache holds.\n# TYPE mailplane_read_cache_entries gauge\n");
        let _ = writeln!(out, "mailplane_read_cache_entries {}", cache.entries);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

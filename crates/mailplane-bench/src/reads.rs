//! Parts 3 and 4: authorized reads over HTTP against the health route, and EdDSA bearer
//! tokens against HS256 ones.
//!
//! One in-process server on the seeded SQLite database answers every case, to the same load
//! generator, in the same run: `GET /healthz` (no token, no database), and `GET
//! /v1/tenants/{t}/mailboxes/{m}` with a tenant administrator's bearer token, HS256 or
//! EdDSA. The reads go to up to 1,000 tenants picked at random from the whole database,
//! each with its own token, so the database pages and the token cache see many tenants, as
//! a server does. Two more servers give references: one with the store's read cache switched
//! off (every mailbox read from SQLite), and one with the token cache switched off (an EdDSA
//! verification on every request). The main server's read cache starts empty, and the share
//! of its lookups answered from memory is reported beside the reads.
//!
//! The cases run in rounds (health, HS256, HS256 without read cache, EdDSA, EdDSA without
//! token cache, then again), so a slow moment of a shared machine does not fall on one case
//! only.

use std::sync::Arc;

use hyper::StatusCode;
use mailplane::DatabaseLocation;

use crate::loadgen::{self, Load, LoadResult, RequestSource, RequestSpec};
use crate::report::{Report, Row, count, duration};
use crate::server::{InProcess, Keys};

/// How the reads are run.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    /// Concurrent connections.
    pub connections: usize,
    /// Warm-up before each measurement.
    pub warmup: std::time::Duration,
    /// Length of each measurement.
    pub duration: std::time::Duration,
    /// How many rounds over the cases.
    pub rounds: usize,
}

/// How many tenants the reads spread over.
const TENANTS: usize = 1000;

/// The ratio of authorized reads to health checks the issue asks for.
const TARGET_READ_RATIO: f64 = 0.5;

/// The ratio of EdDSA reads to HS256 reads the issue asks for.
const TARGET_EDDSA_RATIO: f64 = 0.8;

/// Runs the reads and adds the rows of parts 3 and 4.
pub async fn run(
    report: &mut Report,
    location: &DatabaseLocation,
    keys: &Keys,
    settings: &ReadSettings,
) -> Result<(), String> {
    let sample = crate::seed::sample(location, TENANTS, 1).await?;
    let mut hs256 = Vec::with_capacity(sample.len());
    let mut eddsa = Vec::with_capacity(sample.len());
    for t in &sample {
        let mailbox = t
            .mailboxes
            .first()
            .ok_or("a seeded tenant has no mailbox")?;
        let path = format!("/v1/tenants/{}/mailboxes/{mailbox}", t.id);
        hs256.push(RequestSpec::get(
            path.clone(),
            Some(keys.customer_hs256(t.id)?),
        ));
        eddsa.push(RequestSpec::get(path, Some(keys.customer_eddsa(t.id)?)));
    }
    let cp = crate::server::control_plane(location).await?;
    let no_read_cache = crate::server::without_read_cache(&cp)?;
    let cached = InProcess::start(cp.clone(), keys.keyring.clone()).await?;
    let from_file = InProcess::start(no_read_cache, keys.keyring.clone()).await?;
    let uncached = InProcess::start(cp.clone(), keys.keyring.clone().with_token_cache(0)).await?;

    let cases: [(&str, std::net::SocketAddr, RequestSource); 5] = [
        (
            "health",
            cached.addr,
            constant(RequestSpec::get("/healthz", None)),
        ),
        ("hs256", cached.addr, spread(hs256.clone())),
        ("hs256-no-read-cache", from_file.addr, spread(hs256)),
        ("eddsa", cached.addr, spread(eddsa.clone())),
        ("eddsa-uncached", uncached.addr, spread(eddsa)),
    ];
    let mut results: Vec<LoadResult> = vec![LoadResult::default(); cases.len()];
    for _ in 0..settings.rounds.max(1) {
        for (i, (name, addr, source)) in cases.iter().enumerate() {
            let load = Load {
                connections: settings.connections,
                warmup: settings.warmup,
                duration: settings.duration,
                expect: StatusCode::OK,
            };
            let r = loadgen::run(*addr, load, source.clone()).await?;
            r.check(name)?;
            results[i].merge(r);
        }
    }
    cached.stop().await?;
    from_file.stop().await?;
    uncached.stop().await?;
    // Every mailbox read of the main server (and of the server without token cache, which
    // shares its store) looks its tenant and mailbox up once.
    let memory = cp
        .read_cache_stats()
        .ok_or("the benchmark's SQLite store has no read cache")?;
    let answered = memory.hits as f64 / (memory.hits + memory.misses).max(1) as f64;

    let [health, hs, hs_from_file, ed, ed_uncached] = &results[..] else {
        unreachable!("five cases")
    };
    let figure = |r: &LoadResult| {
        let l = r.latency();
        format!(
            "{} req/s (p50 {}, p99 {}; {} requests; server CPU {} per request)",
            count(r.rate().round() as u64),
            duration(l.p50),
            duration(l.p99),
            count(r.completed),
            duration(r.server_cpu_per_request())
        )
    };
    let c = settings.connections;
    report.push(
        Row::info(
            "3 http read",
            format!("`GET /healthz`, {c} connections (in-process server, SQLite)"),
            figure(health),
        )
        .value(health.rate(), "req/s"),
    );
    report.push(
        Row::info(
            "3 http read",
            format!(
                "`GET /v1/tenants/{{t}}/mailboxes/{{m}}`, HS256 bearer, {c} connections, {} tenants",
                count(sample.len() as u64)
            ),
            figure(hs),
        )
        .value(hs.rate(), "req/s"),
    );
    report.push(
        Row::info(
            "3 http read",
            "read cache: lookups answered from memory (the rest read SQLite)",
            format!(
                "{:.2}% of {} lookups ({} read SQLite)",
                answered * 100.0,
                count(memory.hits + memory.misses),
                count(memory.misses)
            ),
        )
        .value(answered, "share"),
    );
    report.push(
        Row::info(
            "3 http read",
            "the same reads, read cache off (every read from SQLite)",
            figure(hs_from_file),
        )
        .value(hs_from_file.rate(), "req/s")
        .reference(),
    );
    let ratio = hs.rate() / health.rate();
    report.push(
        Row::info(
            "3 http read",
            "authorized read / health route",
            format!("{ratio:.2}"),
        )
        .value(ratio, "ratio")
        .target(">= 0.5", ratio >= TARGET_READ_RATIO),
    );
    report.push(
        Row::info(
            "4 eddsa",
            "`GET` mailbox, EdDSA bearer (verified-token cache)",
            figure(ed),
        )
        .value(ed.rate(), "req/s"),
    );
    report.push(
        Row::info(
            "4 eddsa",
            "`GET` mailbox, EdDSA bearer, cache off (every signature verified)",
            figure(ed_uncached),
        )
        .value(ed_uncached.rate(), "req/s")
        .reference(),
    );
    let ratio = ed.rate() / hs.rate();
    report.push(
        Row::info(
            "4 eddsa",
            "EdDSA reads / HS256 reads",
            format!("{ratio:.2}"),
        )
        .value(ratio, "ratio")
        .target(">= 0.8", ratio >= TARGET_EDDSA_RATIO),
    );
    Ok(())
}

/// The same request every time.
fn constant(spec: RequestSpec) -> RequestSource {
    Arc::new(move |_, _| spec.clone())
}

/// Requests spread over `specs`: connection `c` starts at its own offset and walks on.
fn spread(specs: Vec<RequestSpec>) -> RequestSource {
    let specs = Arc::new(specs);
    Arc::new(move |c, n| {
        let i = (c as u64 * 7919 + n * 31) as usize % specs.len();
        specs[i].clone()
    })
}

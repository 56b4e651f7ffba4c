//! A rerunnable benchmark of end-of-service data destruction.
//!
//! The book promises that a terminated tenant's data is destroyed by cryptographic erase:
//! the tenant's data key is deleted first, which makes every stored message unreadable at
//! once, the destruction certificate is signed, and only then are the files removed. This
//! example measures that promise on a real deployment (SQLite, the file data plane, the
//! system clock) so that the numbers in `book/src/benchmarks.md` can be checked and redone.
//!
//! It creates one tenant with `--mailboxes` mailboxes through the public API, fills the data
//! plane with about `--bytes` of mail in messages of about 100 KB, terminates the contract
//! with an export window of zero days and runs the termination's job steps. The times are
//! read from the timestamps the termination and its certificate record, and from the job
//! ledger; the memory from `/proc/self/status`. Then it checks that the tenant's files are
//! gone and that the certificate verifies against the signer's published key.
//!
//! ```text
//! cargo run --release -p mailplane --example destroy_tenant -- --mailboxes 10000 --bytes 1000000000
//! ```
//!
//! `--dir PATH` keeps the database and the certificate in `PATH`; without it, a fresh
//! temporary folder is used and removed at the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use mailplane::certificate::{self, CertificateSigner};
use mailplane::data_plane::{DataPlane, FileDataPlane};
use mailplane::input::{MailboxCreate, TenantCreate, TerminationCreate};
use mailplane::types::lifecycle::{Termination, TerminationState};
use mailplane::types::{MailboxId, TenantId};
use mailplane::{
    Actor, ControlPlane, ControlPlaneConfig, DEFAULT_LINK_TTL, DatabaseLocation, LifecycleSettings,
    MAX_BATCH, MailboxBatchCreate, PolicySet,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The size the messages aim at.
const MESSAGE_BYTES: u64 = 100_000;
/// How many import tasks run at once: enough to overlap the file syncs of each write.
const FILL_TASKS: usize = 16;

struct Options {
    mailboxes: usize,
    bytes: u64,
    dir: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!("usage: destroy_tenant [--mailboxes N] [--bytes N] [--dir PATH]");
    std::process::exit(2);
}

fn parse_options() -> Options {
    let mut options = Options {
        mailboxes: 10_000,
        bytes: 1_000_000_000,
        dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--mailboxes" => options.mailboxes = value.parse().unwrap_or_else(|_| usage()),
            "--bytes" => options.bytes = value.parse().unwrap_or_else(|_| usage()),
            "--dir" => options.dir = Some(PathBuf::from(value)),
            _ => usage(),
        }
    }
    if options.mailboxes == 0 {
        usage();
    }
    options
}

/// A valid RFC 5322 message of `size` bytes (or the header alone when it is larger).
fn message(n: u64, size: usize, filler: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "From: sender{n}@old-host.example\r\n\
         To: user@bench.example\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <bench-{n}@old-host.example>\r\n\
         Subject: benchmark message {n}\r\n\r\n"
    )
    .into_bytes();
    let body = size.saturating_sub(m.len());
    m.extend_from_slice(&filler[..body.min(filler.len())]);
    m
}

/// Lines of text long enough for the largest message body.
fn filler(size: usize) -> Vec<u8> {
    let line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod te\r\n";
    line.iter().copied().cycle().take(size).collect()
}

/// A field of `/proc/self/status` (`VmHWM`, the peak resident set size, or `VmRSS`).
fn status_field(name: &str) -> Option<String> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|v| v.strip_prefix(':'))
                    .map(|v| v.trim().to_string())
            })
        })
}

/// The peak resident set size of this process.
fn peak_rss() -> String {
    status_field("VmHWM").unwrap_or_else(|| "unknown".into())
}

/// A sample of the resident set size, in kB, and when it was taken.
type RssSample = (time::OffsetDateTime, u64);

/// Samples the resident set size every 5 ms until `stop` is set, to tell which step of the
/// termination uses the memory.
fn sample_rss(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<RssSample>> {
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let kb = status_field("VmRSS")
                .and_then(|v| v.trim_end_matches(" kB").parse().ok())
                .unwrap_or(0);
            samples.push((time::OffsetDateTime::now_utc(), kb));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        samples
    })
}

fn seconds(d: time::Duration) -> String {
    format!("{:.3} s", d.as_seconds_f64())
}

fn table(title: &str, rows: &[(&str, String)]) {
    let width = rows
        .iter()
        .map(|(k, _)| k.len())
        .chain([title.len()])
        .max()
        .unwrap_or(0);
    println!("{title:width$}  value");
    println!("{:-<width$}  {:-<12}", "", "");
    for (k, v) in rows {
        println!("{k:width$}  {v}");
    }
}

/// Fails the run with `problem` unless `ok`, so that the temporary folder is still removed.
fn check(ok: bool, problem: &str) -> Result<(), BoxError> {
    if ok { Ok(()) } else { Err(problem.into()) }
}

fn since(from: time::OffsetDateTime, to: Option<time::OffsetDateTime>) -> String {
    to.map(|t| seconds(t - from))
        .unwrap_or_else(|| "not reached".into())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), BoxError> {
    let options = parse_options();
    let (dir, temporary) = match &options.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("mailplane-bench-{}", uuid::Uuid::now_v7())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir)?;
    let result = run(&options, &dir).await;
    if temporary {
        std::fs::remove_dir_all(&dir)?;
    }
    result
}

async fn run(options: &Options, dir: &Path) -> Result<(), BoxError> {
    let data_plane = Arc::new(FileDataPlane::open(
        &dir.join("mail"),
        &dir.join("master.key"),
    )?);
    let signer = Arc::new(CertificateSigner::generate());
    let max_message = data_plane.max_message_bytes();
    let cp = ControlPlane::open(
        &DatabaseLocation::Sqlite(dir.join("mailplane.db")),
        PolicySet::builtin(),
        ControlPlaneConfig::default(),
    )
    .await?
    .with_data_plane(data_plane.clone(), max_message)
    .with_lifecycle(LifecycleSettings {
        exports_dir: dir.join("exports"),
        signer: signer.clone(),
        issuer: "bench.example".into(),
        link_ttl: DEFAULT_LINK_TTL,
    });

    // The tenant, with a licence seat for every mailbox.
    let started = Instant::now();
    let provider = Actor::provider("bench", &["provider-admin"]);
    let seats = u32::try_from(options.mailboxes.max(5))?;
    let tenant = cp
        .tenant_create(
            &provider,
            TenantCreate {
                name: "Bench Tenant".into(),
                profile: None,
                partner_id: None,
                slug: Some("bench".into()),
                region: None,
                offer: None,
                seats: Some(seats),
            },
        )
        .await?;
    let tenant_id: TenantId = tenant.id;
    let customer = Actor::customer("admin@bench", tenant_id, &["tenant-admin"]);
    let domain = cp
        .domain_list(&customer, tenant_id, None, None)
        .await?
        .items
        .into_iter()
        .find(|d| d.default)
        .ok_or("the tenant has no default domain")?;

    // The mailboxes, in batches of at most MAX_BATCH.
    let mut mailboxes: Vec<MailboxId> = Vec::with_capacity(options.mailboxes);
    let numbers: Vec<usize> = (1..=options.mailboxes).collect();
    for chunk in numbers.chunks(MAX_BATCH) {
        let rows = chunk
            .iter()
            .map(|n| MailboxCreate {
                local_part: format!("user{n:05}"),
                domain_id: domain.id,
                display_name: format!("User {n}"),
                quota_bytes: None,
                status: None,
                kind: None,
            })
            .collect();
        let answer = cp
            .mailbox_batch_create(
                &customer,
                tenant_id,
                MailboxBatchCreate { mailboxes: rows },
                None,
            )
            .await?;
        mailboxes.extend(answer.batch.mailboxes.iter().map(|m| m.id));
    }
    let provisioned = started.elapsed();

    // The mail, straight into the data plane: message i goes to mailbox i modulo the count.
    let messages = (options.bytes.div_ceil(MESSAGE_BYTES)).max(1);
    let size = usize::try_from(options.bytes / messages)?;
    let filler = Arc::new(filler(size));
    let mailboxes = Arc::new(mailboxes);
    let fill_started = Instant::now();
    let mut tasks = Vec::with_capacity(FILL_TASKS);
    for task in 0..FILL_TASKS as u64 {
        let (dp, filler, mailboxes) = (data_plane.clone(), filler.clone(), mailboxes.clone());
        tasks.push(tokio::spawn(async move {
            let mut stored = 0u64;
            let mut n = task;
            while n < messages {
                let mailbox = mailboxes[(n % mailboxes.len() as u64) as usize];
                let m = message(n, size, &filler);
                dp.import(tenant_id, mailbox, &m, time::OffsetDateTime::now_utc())
                    .await?;
                stored += m.len() as u64;
                n += FILL_TASKS as u64;
            }
            Ok::<u64, mailplane::types::Error>(stored)
        }));
    }
    let mut stored = 0u64;
    for t in tasks {
        stored += t.await??;
    }
    let fill = fill_started.elapsed();
    // Flush what the writes left dirty, so that the measurement does not pay for the fill.
    let _ = std::process::Command::new("sync").status();
    let rss_before = peak_rss();

    // The measurement: terminate with no export window, then run the due job steps.
    let tenant_files = dir.join("mail").join(tenant_id.to_string());
    check(
        tenant_files.exists(),
        "the tenant's files are missing before the termination",
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(stop.clone());
    let t0 = Instant::now();
    cp.termination_create(
        &customer,
        tenant_id,
        TerminationCreate {
            export_window_days: Some(0),
        },
    )
    .await?
    .done()
    .ok_or("the termination was filed instead of made")?;
    let jobs_started = Instant::now();
    let mut steps = 0;
    let termination: Termination = loop {
        let report = cp.jobs_run_due().await?;
        steps += report.steps;
        if report.failed > 0 {
            return Err(format!("{} job steps failed: see the log", report.failed).into());
        }
        let t = cp.termination_view(&customer, tenant_id).await?;
        if t.state == TerminationState::Closed {
            break t;
        }
        if report.steps == 0 {
            return Err(format!("the termination stopped at {}", t.state.as_str()).into());
        }
    };
    let jobs = jobs_started.elapsed();
    let wall = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    let rss = sampler.join().map_err(|_| "the RSS sampler panicked")?;

    // The checks: the files are gone and the certificate verifies against the signer's key.
    check(!tenant_files.exists(), "the tenant's files are still there")?;
    let document = serde_json::to_vec(
        termination
            .certificate
            .as_ref()
            .ok_or("no certificate was issued")?,
    )?;
    let verified = certificate::verify(&document, &[signer.published_key()])?;
    check(
        verified.pinned,
        "the certificate is not signed by the bench key",
    )?;
    let body = &verified.body;
    check(
        body.mailboxes.len() == options.mailboxes,
        "the certificate does not name every mailbox",
    )?;
    if options.dir.is_some() {
        std::fs::write(dir.join("certificate.json"), &document)?;
    }

    // Each step's claim and finish, from the job ledger: the stored timestamps of the
    // termination are taken when a step begins, the ledger also says when it ended.
    let ledger = cp.job_ledger("termination", termination.id.uuid()).await?;
    let finished = |step: &str| {
        ledger
            .iter()
            .rev()
            .find(|s| s.step == step)
            .and_then(|s| s.finished_at)
    };

    let at = termination.terminated_at;
    let summary: Vec<(&str, String)> = vec![
        ("mailboxes", options.mailboxes.to_string()),
        ("messages", body.objects.to_string()),
        ("bytes (plaintext, certified)", body.bytes.to_string()),
        (
            "setup: tenant and mailboxes",
            format!("{:.3} s", provisioned.as_secs_f64()),
        ),
        (
            "fill: import into the data plane",
            format!(
                "{:.3} s ({:.0} MB/s, {FILL_TASKS} tasks)",
                fill.as_secs_f64(),
                stored as f64 / 1e6 / fill.as_secs_f64()
            ),
        ),
        (
            "terminated -> configuration destroyed",
            since(at, finished("configuration")),
        ),
        (
            "crypto-erase step (erased_at -> verified_at)",
            seconds(body.verified_at - body.erased_at),
        ),
        (
            "terminated -> data_destroyed_at",
            since(at, termination.data_destroyed_at),
        ),
        (
            "terminated -> certificate committed",
            since(at, finished("certify")),
        ),
        (
            "terminated -> all files gone",
            since(at, termination.files_removed_at),
        ),
        (
            "jobs_run_due, wall clock",
            format!("{:.3} s ({steps} steps)", jobs.as_secs_f64()),
        ),
        (
            "terminate + jobs, wall clock",
            format!("{:.3} s", wall.as_secs_f64()),
        ),
        ("peak RSS before terminating", rss_before),
        ("peak RSS at the end (VmHWM)", peak_rss()),
    ];
    let steps: Vec<(&str, String)> = ledger
        .iter()
        .map(|s| {
            (
                s.step.as_str(),
                match s.finished_at {
                    Some(f) => {
                        let most = rss
                            .iter()
                            .filter(|(at, _)| s.started_at <= *at && *at <= f)
                            .map(|(_, kb)| *kb)
                            .max();
                        match most {
                            Some(kb) => format!("{}, RSS up to {kb} kB", seconds(f - s.started_at)),
                            None => seconds(f - s.started_at),
                        }
                    }
                    None => "unfinished".into(),
                },
            )
        })
        .collect();
    table("measure", &summary);
    println!();
    table("termination step", &steps);
    println!("certificate verified: key {}, pinned", verified.key_id);
    if options.dir.is_some() {
        println!("kept: {}", dir.display());
    }
    Ok(())
}

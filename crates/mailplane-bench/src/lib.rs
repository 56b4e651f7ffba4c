//! Mailplane's scale and speed benchmark (issue 6): seeding, authorization decisions,
//! authorized reads and EdDSA tokens over HTTP, writes, pagination, and the server's memory
//! and readiness, the mail stack's lookups (issue 18), the mail store on Dovecot and a
//! tenant's relocation between two Dovecots (issue 19), measured side by side in one run on
//! one machine and printed as one table of figures, targets and whether each is met.
//!
//! Every part has a module; [`run`] seeds what a part needs and runs it. The numbers belong
//! in the book (`book/src/benchmarks.md`), never in timed tests: the smoke test only checks
//! that every part runs and reports.

pub mod authz;
pub mod loadgen;
pub mod mailstack;
pub mod mailstore;
pub mod memory;
pub mod pagination;
pub mod reads;
pub mod relocation;
pub mod report;
pub mod seed;
pub mod server;
pub mod stats;
pub mod writes;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mailplane::DatabaseLocation;

use report::{Machine, Report, Row, count};
use seed::{SeedReport, SeedSpec};

/// Which part to run; also the command line's subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Part {
    /// 1: seed the main database and report the rate.
    Seed,
    /// 2: authorization decisions at 1, 1,000 and 100,000 tenants, beside casbin-rs.
    Authz,
    /// 3 and 4: authorized reads over HTTP against the health route; EdDSA against HS256.
    Http,
    /// 5: mailbox creation from concurrent clients, and a batch of 10,000.
    Writes,
    /// 6: the first page against a page deep in a list of 1,000,000 mailboxes.
    Pagination,
    /// 7: readiness and memory of the real `mailplane serve`.
    Memory,
    /// 8: the mail stack's lookups (Postfix's socketmap, Dovecot's dict) beside a static
    /// Postfix map of the same data, and logins with Argon2id.
    Mailstack,
    /// 9: the mail store on Dovecot: imports through Mailplane beside LMTP, and the end of a
    /// tenant of many mailboxes.
    Store,
    /// 10: a tenant's relocation between two Dovecot back ends (regions `eu` and `ca`),
    /// timed to the end of its job and checked mailbox by mailbox.
    Relocation,
    /// Every part, side by side, in one run.
    All,
}

/// Sizes and settings of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tenants of the main database.
    pub tenants: usize,
    /// Mailboxes of each tenant of the main database.
    pub mailboxes_per_tenant: usize,
    /// Partners of the main database; one per thousand tenants when absent.
    pub partners: Option<usize>,
    /// Tenant counts the decision is measured at.
    pub authz_sizes: Vec<usize>,
    /// Decisions timed at each size.
    pub authz_iterations: usize,
    /// Concurrent connections of the read loads.
    pub connections: usize,
    /// Warm-up before each load measurement.
    pub warmup: Duration,
    /// Length of each load measurement.
    pub duration: Duration,
    /// Rounds over the read cases.
    pub rounds: usize,
    /// Concurrent clients creating mailboxes.
    pub write_clients: usize,
    /// Mailboxes per batch call.
    pub batch_size: usize,
    /// Batch calls.
    pub batch_repeats: usize,
    /// Mailboxes of the one tenant of the pagination database.
    pub page_mailboxes: usize,
    /// Requests of each page.
    pub page_repeats: usize,
    /// A PostgreSQL database to seed and write to as well (it must be a scratch database:
    /// the benchmark adds tenants to it and removes nothing).
    pub database_url: Option<String>,
    /// Where the benchmark's databases and keys go; removed at the end unless `keep`.
    pub work_dir: PathBuf,
    /// A data directory holding an already seeded main database to use instead of
    /// seeding one (it is seeded there and kept when it holds no database yet).
    pub data_dir: Option<PathBuf>,
    /// Keep the work directory.
    pub keep: bool,
    /// The `mailplane` binary for part 7.
    pub server_bin: PathBuf,
    /// `postmap` processes run at once in part 8.
    pub postmap_processes: usize,
    /// Keys of each lookup kind in part 8.
    pub lookup_keys: usize,
    /// Mailboxes given an Argon2id password in part 8.
    pub password_sample: usize,
    /// Messages imported into Dovecot in part 9 (and as many delivered over LMTP).
    pub store_imports: usize,
    /// Mailboxes of the tenant destroyed in part 9.
    pub store_mailboxes: usize,
    /// Messages in each of them.
    pub store_messages_per_mailbox: usize,
    /// The size of part 9's messages, in bytes.
    pub store_message_bytes: usize,
    /// Mailboxes of the tenant relocated in part 10.
    pub reloc_mailboxes: usize,
    /// Messages delivered to each of them (of `store_message_bytes` each).
    pub reloc_messages_per_mailbox: usize,
}

impl Options {
    /// The sizes of the issue: 100,000 tenants of 10 mailboxes, a tenant of 1,000,000
    /// mailboxes, ten-second loads.
    pub fn full() -> Options {
        Options {
            tenants: 100_000,
            mailboxes_per_tenant: 10,
            partners: None,
            authz_sizes: vec![1, 1_000, 100_000],
            authz_iterations: 2_000_000,
            connections: 16,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(10),
            rounds: 2,
            write_clients: 16,
            batch_size: 10_000,
            batch_repeats: 3,
            page_mailboxes: 1_000_000,
            page_repeats: 500,
            database_url: None,
            work_dir: std::env::temp_dir().join(format!("mailplane-bench-{}", std::process::id())),
            data_dir: None,
            keep: false,
            server_bin: server::default_server_bin(),
            postmap_processes: 4,
            lookup_keys: 100_000,
            password_sample: 1_000,
            store_imports: 2_000,
            store_mailboxes: 1_000,
            store_messages_per_mailbox: 10,
            store_message_bytes: 10_000,
            reloc_mailboxes: 100,
            reloc_messages_per_mailbox: 10,
        }
    }

    /// A development run of about a minute: 1,000 tenants, two-second loads.
    pub fn quick() -> Options {
        Options {
            tenants: 1_000,
            authz_sizes: vec![1, 100, 1_000],
            authz_iterations: 300_000,
            warmup: Duration::from_millis(300),
            duration: Duration::from_secs(2),
            rounds: 1,
            batch_repeats: 1,
            page_mailboxes: 20_000,
            page_repeats: 100,
            lookup_keys: 10_000,
            password_sample: 100,
            store_imports: 200,
            store_mailboxes: 100,
            reloc_mailboxes: 20,
            ..Options::full()
        }
    }

    /// The smallest run that exercises everything, for the smoke test.
    pub fn tiny(work_dir: &Path) -> Options {
        Options {
            tenants: 20,
            mailboxes_per_tenant: 3,
            authz_sizes: vec![1, 20],
            authz_iterations: 2_000,
            connections: 2,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(200),
            rounds: 1,
            write_clients: 2,
            batch_size: 50,
            batch_repeats: 1,
            page_mailboxes: 2_000,
            page_repeats: 5,
            postmap_processes: 2,
            lookup_keys: 200,
            password_sample: 4,
            store_imports: 8,
            store_mailboxes: 3,
            store_messages_per_mailbox: 2,
            store_message_bytes: 2_000,
            reloc_mailboxes: 2,
            reloc_messages_per_mailbox: 2,
            work_dir: work_dir.to_path_buf(),
            ..Options::full()
        }
    }

    fn spec(&self) -> SeedSpec {
        let mut spec = SeedSpec::new(self.tenants, self.mailboxes_per_tenant);
        if let Some(p) = self.partners {
            spec.partners = p.max(1);
        }
        spec
    }
}

/// Runs a part (seeding what it needs) and returns the report.
pub async fn run(part: Part, opts: &Options) -> Result<Report, String> {
    let mut report = Report {
        machine: Machine::detect(),
        rows: Vec::new(),
    };
    std::fs::create_dir_all(&opts.work_dir)
        .map_err(|e| format!("{}: {e}", opts.work_dir.display()))?;
    let result = run_in(part, opts, &mut report).await;
    if !opts.keep {
        std::fs::remove_dir_all(&opts.work_dir).ok();
    }
    result.map(|()| report)
}

async fn run_in(part: Part, opts: &Options, report: &mut Report) -> Result<(), String> {
    let main_dir = opts
        .data_dir
        .clone()
        .unwrap_or_else(|| opts.work_dir.join("main"));
    let main = seed::sqlite_in(&main_dir);
    let tenants = main_database(report, opts, &main_dir).await?;
    let postgres = opts
        .database_url
        .as_deref()
        .map(DatabaseLocation::from_url)
        .transpose()
        .map_err(|e| e.to_string())?;
    if let Some(pg) = &postgres
        && matches!(part, Part::Seed | Part::All)
    {
        let spec = opts.spec();
        let r = seed::seed(pg, &spec).await?;
        seed_row(report, &spec, &r, "PostgreSQL");
    }
    let keys = server::Keys::new(&opts.work_dir.join("keys"))?;
    if matches!(part, Part::Authz | Part::All) {
        let mut sizes = Vec::new();
        for &size in &opts.authz_sizes {
            if size == tenants {
                sizes.push((size, main.clone()));
            } else {
                let dir = opts.work_dir.join(format!("authz-{size}"));
                let location = seed::sqlite_in(&dir);
                seed::seed(&location, &SeedSpec::new(size, opts.mailboxes_per_tenant)).await?;
                sizes.push((size, location));
            }
        }
        authz::run(report, &sizes, opts.authz_iterations).await?;
    }
    if matches!(part, Part::Http | Part::All) {
        let settings = reads::ReadSettings {
            connections: opts.connections,
            warmup: opts.warmup,
            duration: opts.duration,
            rounds: opts.rounds,
        };
        reads::run(report, &main, &keys, &settings).await?;
    }
    if matches!(part, Part::Memory | Part::All) {
        let settings = memory::MemorySettings {
            connections: opts.connections,
            duration: opts.duration,
            batch_size: opts.batch_size,
        };
        let what = format!(
            "{} tenants, {} mailboxes (SQLite)",
            count(tenants as u64),
            count((tenants * opts.mailboxes_per_tenant) as u64)
        );
        let keys_dir = opts.work_dir.join("memory-keys");
        memory::run(
            report,
            &opts.server_bin,
            &main_dir,
            &keys_dir,
            &what,
            &settings,
        )
        .await?;
    }
    if matches!(part, Part::Writes | Part::All) {
        let settings = writes::WriteSettings {
            clients: opts.write_clients,
            warmup: opts.warmup,
            duration: opts.duration,
            batch_size: opts.batch_size,
            batch_repeats: opts.batch_repeats,
        };
        writes::run(report, &main, "SQLite", &keys, &settings).await?;
        if let Some(pg) = &postgres {
            writes::run(report, pg, "PostgreSQL", &keys, &settings).await?;
        }
    }
    if matches!(part, Part::Pagination | Part::All) {
        let pages = seed::sqlite_in(&opts.work_dir.join("pages"));
        let spec = SeedSpec::new(1, opts.page_mailboxes);
        let r = seed::seed(&pages, &spec).await?;
        seed_row(report, &spec, &r, "SQLite");
        pagination::mailboxes(
            report,
            &pages,
            opts.page_mailboxes,
            &keys,
            opts.page_repeats,
        )
        .await?;
        pagination::tenants(report, &main, tenants, &keys, opts.page_repeats).await?;
    }
    // Last: it adds aliases, groups and passwords to the main database.
    if matches!(part, Part::Mailstack | Part::All) {
        let settings = mailstack::MailstackBench {
            clients: opts.connections,
            warmup: opts.warmup,
            duration: opts.duration,
            postmap_processes: opts.postmap_processes.max(1),
            keys: opts.lookup_keys,
            password_sample: opts.password_sample.max(1),
        };
        mailstack::run(report, &main, &opts.work_dir, &settings).await?;
    }
    if matches!(part, Part::Store | Part::All) {
        let settings = mailstore::StoreBench {
            imports: opts.store_imports.max(1),
            clients: opts.connections,
            message_bytes: opts.store_message_bytes.max(200),
            mailboxes: opts.store_mailboxes.max(1),
            messages_per_mailbox: opts.store_messages_per_mailbox.max(1),
        };
        mailstore::run(report, &opts.work_dir, &settings).await?;
    }
    if matches!(part, Part::Relocation | Part::All) {
        let settings = relocation::RelocationBench {
            mailboxes: opts.reloc_mailboxes.max(1),
            messages_per_mailbox: opts.reloc_messages_per_mailbox.max(1),
            message_bytes: opts.store_message_bytes.max(200),
        };
        relocation::run(report, &opts.work_dir, &settings).await?;
    }
    Ok(())
}

/// Seeds the main database, or reuses the one in the data directory; returns its tenant
/// count.
async fn main_database(report: &mut Report, opts: &Options, dir: &Path) -> Result<usize, String> {
    let location = seed::sqlite_in(dir);
    if dir.join("mailplane.db").is_file() {
        let tenants = seed::tenant_count(&location).await?;
        report.push(Row::info(
            "1 seed",
            "main database (reused, not timed)",
            format!("{} tenants in {}", count(tenants as u64), dir.display()),
        ));
        return Ok(tenants);
    }
    let spec = opts.spec();
    let r = seed::seed(&location, &spec).await?;
    seed_row(report, &spec, &r, "SQLite");
    Ok(spec.tenants)
}

fn seed_row(report: &mut Report, spec: &SeedSpec, r: &SeedReport, backend: &str) {
    let size = r
        .bytes_on_disk
        .map(|b| format!("; {:.0} MB on disk", b as f64 / 1e6))
        .unwrap_or_default();
    report.push(
        Row::info(
            "1 seed",
            format!(
                "{} × {}, {}, {backend}",
                report::counted(spec.tenants as u64, "tenant", "tenants"),
                report::counted(spec.mailboxes_per_tenant as u64, "mailbox", "mailboxes"),
                report::counted(spec.partners as u64, "partner", "partners")
            ),
            format!(
                "{} rows in {} ({} rows/s); triggers wrote {} more{size}",
                count(r.rows),
                report::duration(r.elapsed.as_secs_f64()),
                count(r.rows_per_second().round() as u64),
                count(r.trigger_rows)
            ),
        )
        .value(r.rows_per_second(), "rows/s"),
    );
}

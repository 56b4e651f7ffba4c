//! The `mailplane-bench` command: runs one part of the scale and speed benchmark, or all of
//! them, and prints one table (Markdown, or JSON with `--json`).
//!
//! `cargo run --release -p mailplane-bench -- all` runs the sizes;
//! `all --quick` runs 1,000 tenants and short loads for development. Every size can be set
//! with a flag.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use mailplane_bench::{Options, Part};

#[derive(Parser)]
#[command(
    name = "mailplane-bench",
    about = "Mailplane's scale and speed benchmark: one table of figures, targets and ratios"
)]
struct Cli {
    #[command(subcommand)]
    part: Part,
    /// Small sizes and short loads (1,000 tenants, 2 s per load) for development.
    #[arg(long, global = true)]
    quick: bool,
    /// Print the report as JSON instead of a Markdown table.
    #[arg(long, global = true)]
    json: bool,
    /// Tenants of the main database [full: 100000; quick: 1000].
    #[arg(long, global = true)]
    tenants: Option<usize>,
    /// Mailboxes of each tenant of the main database [10].
    #[arg(long, global = true)]
    mailboxes_per_tenant: Option<usize>,
    /// Partners of the main database [one per 1,000 tenants].
    #[arg(long, global = true)]
    partners: Option<usize>,
    /// Tenant counts the decision is measured at, comma-separated [1,1000,100000].
    #[arg(long, global = true, value_delimiter = ',')]
    authz_sizes: Option<Vec<usize>>,
    /// Decisions timed at each size [2000000].
    #[arg(long, global = true)]
    authz_iterations: Option<usize>,
    /// Concurrent connections of the read loads [16].
    #[arg(long, global = true)]
    connections: Option<usize>,
    /// Seconds of each load measurement [10; quick: 2].
    #[arg(long, global = true)]
    duration: Option<f64>,
    /// Seconds of warm-up before each load measurement [1; quick: 0.3].
    #[arg(long, global = true)]
    warmup: Option<f64>,
    /// Rounds over the read cases [2; quick: 1].
    #[arg(long, global = true)]
    rounds: Option<usize>,
    /// Concurrent clients creating mailboxes [16].
    #[arg(long, global = true)]
    write_clients: Option<usize>,
    /// Mailboxes per batch call [10000].
    #[arg(long, global = true)]
    batch_size: Option<usize>,
    /// Batch calls [3; quick: 1].
    #[arg(long, global = true)]
    batch_repeats: Option<usize>,
    /// Mailboxes of the one tenant of the pagination database [1000000; quick: 20000].
    #[arg(long, global = true)]
    page_mailboxes: Option<usize>,
    /// Requests of each page [500; quick: 100].
    #[arg(long, global = true)]
    page_repeats: Option<usize>,
    /// A scratch PostgreSQL database to seed and write to as well.
    #[arg(long, global = true, env = "MAILPLANE_BENCH_POSTGRES_URL")]
    database_url: Option<String>,
    /// Where databases and keys go [a new folder under the system's temporary folder].
    #[arg(long, global = true)]
    work_dir: Option<PathBuf>,
    /// Use (or seed and keep) the main database in this data directory.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Keep the work directory at the end.
    #[arg(long, global = true)]
    keep: bool,
    /// `postmap` processes run at once by the mail stack part's floor [4].
    #[arg(long, global = true)]
    postmap_processes: Option<usize>,
    /// Keys of each lookup kind of the mail stack part [100000; quick: 10000].
    #[arg(long, global = true)]
    lookup_keys: Option<usize>,
    /// Mailboxes given an Argon2id password by the mail stack part [1000; quick: 100].
    #[arg(long, global = true)]
    password_sample: Option<usize>,
    /// Messages imported into Dovecot by the mail store part, and as many delivered over
    /// LMTP [2000; quick: 200].
    #[arg(long, global = true)]
    store_imports: Option<usize>,
    /// Mailboxes of the tenant the mail store part destroys [1000; quick: 100].
    #[arg(long, global = true)]
    store_mailboxes: Option<usize>,
    /// Mailboxes of the tenant the relocation part moves [100; quick: 20].
    #[arg(long, global = true)]
    reloc_mailboxes: Option<usize>,
    /// Messages delivered to each mailbox the relocation part moves [10].
    #[arg(long, global = true)]
    reloc_messages: Option<usize>,
    /// The `mailplane` binary for the memory part [target/release/mailplane].
    #[arg(long, global = true)]
    server_bin: Option<PathBuf>,
}

impl Cli {
    fn options(&self) -> Options {
        let base = if self.quick {
            Options::quick()
        } else {
            Options::full()
        };
        Options {
            tenants: self.tenants.unwrap_or(base.tenants),
            mailboxes_per_tenant: self
                .mailboxes_per_tenant
                .unwrap_or(base.mailboxes_per_tenant),
            partners: self.partners.or(base.partners),
            authz_sizes: self.authz_sizes.clone().unwrap_or(base.authz_sizes),
            authz_iterations: self.authz_iterations.unwrap_or(base.authz_iterations),
            connections: self.connections.unwrap_or(base.connections).max(1),
            warmup: self
                .warmup
                .map(mailplane_bench::stats::seconds)
                .unwrap_or(base.warmup),
            duration: self
                .duration
                .map(mailplane_bench::stats::seconds)
                .unwrap_or(base.duration),
            rounds: self.rounds.unwrap_or(base.rounds),
            write_clients: self.write_clients.unwrap_or(base.write_clients).max(1),
            batch_size: self.batch_size.unwrap_or(base.batch_size).max(1),
            batch_repeats: self.batch_repeats.unwrap_or(base.batch_repeats),
            page_mailboxes: self.page_mailboxes.unwrap_or(base.page_mailboxes).max(1),
            page_repeats: self.page_repeats.unwrap_or(base.page_repeats).max(1),
            database_url: self.database_url.clone(),
            work_dir: self.work_dir.clone().unwrap_or(base.work_dir),
            data_dir: self.data_dir.clone(),
            keep: self.keep,
            server_bin: self.server_bin.clone().unwrap_or(base.server_bin),
            postmap_processes: self.postmap_processes.unwrap_or(base.postmap_processes),
            lookup_keys: self.lookup_keys.unwrap_or(base.lookup_keys),
            password_sample: self.password_sample.unwrap_or(base.password_sample),
            store_imports: self.store_imports.unwrap_or(base.store_imports),
            store_mailboxes: self.store_mailboxes.unwrap_or(base.store_mailboxes),
            reloc_mailboxes: self.reloc_mailboxes.unwrap_or(base.reloc_mailboxes),
            reloc_messages_per_mailbox: self
                .reloc_messages
                .unwrap_or(base.reloc_messages_per_mailbox),
            ..base
        }
    }
}

/// The allocator `mailplane serve` uses, so that the in-process server is the same.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let part = cli.part;
    let opts = cli.options();
    // One worker per core, as `mailplane serve` has: the in-process server runs here, the
    // load generator on a thread of its own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    eprintln!("work directory: {}", opts.work_dir.display());
    match runtime.block_on(mailplane_bench::run(part, &opts)) {
        Ok(report) => {
            if cli.json {
                println!("{}", report.json());
            } else {
                println!("{}", report.markdown());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

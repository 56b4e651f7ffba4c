//! Configuration from flags, `MAILPLANE_*` environment variables and a TOML file.
//!
//! Every setting is a flag with an environment variable. A TOML file (`--config` or
//! `MAILPLANE_CONFIG`) may give any of them under the flag's name (`data_dir` or
//! `data-dir`); a flag beats its environment variable, which beats the file, which beats
//! the built-in default. An unknown key in the file is an error naming it.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Args;
use mailplane::DatabaseLocation;

/// Settings shared by every command.
#[derive(Args, Debug)]
pub struct Config {
    /// A TOML file of settings, keyed by flag name (`listen = "0.0.0.0:8080"`).
    #[arg(long, env = "MAILPLANE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Where the embedded database and the signing key live.
    #[arg(
        long,
        env = "MAILPLANE_DATA_DIR",
        default_value = "data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; default: an SQLite file in the data directory.
    #[arg(long, env = "MAILPLANE_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// The address to listen on.
    #[arg(
        long,
        env = "MAILPLANE_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: String,
    /// A file holding an HS256 secret (at least 32 bytes) to trust under kid `hs256`.
    #[arg(long, env = "MAILPLANE_HS256_SECRET_FILE", global = true)]
    pub hs256_secret_file: Option<PathBuf>,
    /// Trust a public key (Ed25519 for EdDSA, RSA for RS256): `kid=path/to/key.pem`; repeat.
    #[arg(
        long = "trust-key",
        env = "MAILPLANE_TRUST_KEYS",
        value_delimiter = ',',
        global = true
    )]
    pub trust_keys: Vec<String>,
    /// Load RACI profiles from this folder instead of the shipped ones.
    #[arg(long, env = "MAILPLANE_POLICIES", global = true)]
    pub policies: Option<PathBuf>,
    /// Check customers' DNS records against these name servers (`ip:port`, repeat or
    /// separate with commas) instead of the system's resolver configuration.
    #[arg(
        long = "dns-server",
        env = "MAILPLANE_DNS_SERVERS",
        value_delimiter = ',',
        global = true
    )]
    pub dns_servers: Vec<std::net::SocketAddr>,
    /// How long to wait for one DNS answer, in seconds (1 to 60).
    #[arg(
        long = "dns-timeout",
        env = "MAILPLANE_DNS_TIMEOUT",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=60),
        global = true
    )]
    pub dns_timeout: u64,
    /// The 32-byte key file that wraps tenants' data keys; created (mode 0600) at first
    /// start when it does not exist. Default: `master.key` in the data directory.
    #[arg(long, env = "MAILPLANE_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// Serve this service catalogue (TOML) instead of the shipped one.
    #[arg(long, env = "MAILPLANE_CATALOGUE", global = true)]
    pub catalogue: Option<PathBuf>,
    /// The 32-byte Ed25519 seed destruction certificates are signed with; created (mode
    /// 0600) at first start when it does not exist. Default: `certificate.key` in the data
    /// directory.
    #[arg(long, env = "MAILPLANE_CERTIFICATE_KEY_FILE", global = true)]
    pub certificate_key_file: Option<PathBuf>,
    /// How long, in seconds, a worker's claim on a job step lasts without renewal: a step
    /// whose worker died is taken over after it.
    #[arg(
        long = "job-lease",
        env = "MAILPLANE_JOB_LEASE",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        global = true
    )]
    pub job_lease: u64,
    /// A pause, in milliseconds, before each job step, to spread background I/O.
    #[arg(
        long = "job-throttle-ms",
        env = "MAILPLANE_JOB_THROTTLE_MS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u64).range(0..=60_000),
        global = true
    )]
    pub job_throttle_ms: u64,
    /// How long, in seconds, a tenant's relocation waits after switching its region before
    /// it copies the mail the old region accepted meanwhile and destroys the old copy: the
    /// time for deliveries Postfix routed before the switch to land.
    #[arg(
        long = "relocation-grace",
        env = "MAILPLANE_RELOCATION_GRACE",
        default_value_t = 600,
        value_parser = clap::value_parser!(u64).range(0..=86_400),
        global = true
    )]
    pub relocation_grace: u64,
    /// Requests a second each authenticated principal may send (sustained), per replica;
    /// 0 turns rate limiting off (for benchmarks).
    #[arg(
        long = "rate-limit",
        env = "MAILPLANE_RATE_LIMIT",
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(0..=1_000_000),
        global = true
    )]
    pub rate_limit: u32,
    /// Requests a principal may send at once after a quiet spell.
    #[arg(
        long = "rate-limit-burst",
        env = "MAILPLANE_RATE_LIMIT_BURST",
        default_value_t = 200,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000),
        global = true
    )]
    pub rate_limit_burst: u32,
    /// How many tenants, and how many mailboxes, an SQLite deployment remembers for reads
    /// (each); 0 turns the read cache off. A remembered row is served only while the
    /// database file has not changed since it was read. PostgreSQL deployments remember
    /// nothing.
    #[arg(
        long = "read-cache",
        env = "MAILPLANE_READ_CACHE",
        default_value_t = mailplane::DEFAULT_READ_CACHE as u64,
        value_parser = clap::value_parser!(u64).range(0..=10_000_000),
        global = true
    )]
    pub read_cache: u64,
    /// How long, in seconds, a stopping server waits for requests in flight and the job
    /// step it is running before it exits anyway.
    #[arg(
        long = "shutdown-grace",
        env = "MAILPLANE_SHUTDOWN_GRACE",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(0..=3600),
        global = true
    )]
    pub shutdown_grace: u64,
    /// Let webhook receivers be on loopback or private addresses: for single-host setups
    /// and tests. Off by default, so that a customer cannot make the control plane probe
    /// the provider's internal network.
    #[arg(
        long = "webhooks-allow-private",
        env = "MAILPLANE_WEBHOOKS_ALLOW_PRIVATE",
        global = true
    )]
    pub webhooks_allow_private: bool,
    /// Answer Postfix's socketmap lookups here: a loopback `host:port` or `unix:/path`
    /// (see `mailplane mailstack config`). Off unless set.
    #[arg(
        long = "postfix-socketmap",
        env = "MAILPLANE_POSTFIX_SOCKETMAP",
        global = true
    )]
    pub postfix_socketmap: Option<String>,
    /// The regions whose mailboxes live in a Dovecot back end of their own: a TOML file of
    /// `[[regions]]` entries, each naming a catalogue region and its back end (see the
    /// book's "Running a mail stack"). Regions not listed keep their mailboxes in the
    /// embedded file store.
    #[arg(long = "mail-hosts", env = "MAILPLANE_MAIL_HOSTS", global = true)]
    pub mail_hosts: Option<PathBuf>,
    /// Answer Dovecot's dict lookups on this Unix socket. Off unless set.
    #[arg(long = "dovecot-dict", env = "MAILPLANE_DOVECOT_DICT", global = true)]
    pub dovecot_dict: Option<PathBuf>,
    /// The permission bits of those Unix sockets, in octal: give the mail servers' group
    /// access to the socket's folder and keep others out.
    #[arg(
        long = "mailstack-socket-mode",
        env = "MAILPLANE_MAILSTACK_SOCKET_MODE",
        default_value = "660",
        global = true
    )]
    pub mailstack_socket_mode: String,
    /// `text` (default) or `json`: one JSON object per line, with the request id.
    #[arg(
        long = "log-format",
        env = "MAILPLANE_LOG_FORMAT",
        default_value = "text",
        value_parser = ["text", "json"],
        global = true
    )]
    pub log_format: String,
}

impl Config {
    /// The service catalogue to serve.
    pub fn catalogue(&self) -> Result<mailplane::types::catalogue::Catalogue, String> {
        match &self.catalogue {
            Some(path) => mailplane::catalogue::load(path).map_err(|e| e.to_string()),
            None => Ok(mailplane::catalogue::builtin()),
        }
    }

    /// The database to open.
    pub fn database(&self) -> Result<DatabaseLocation, String> {
        match &self.database_url {
            Some(url) => DatabaseLocation::from_url(url).map_err(|e| e.to_string()),
            None => Ok(DatabaseLocation::Sqlite(self.data_dir.join("mailplane.db"))),
        }
    }

    /// The HS256 secret, if configured.
    pub fn hs256_secret(&self) -> Result<Option<Vec<u8>>, String> {
        self.hs256_secret_file
            .as_ref()
            .map(|p| {
                std::fs::read(p)
                    .map(|b| b.trim_ascii().to_vec())
                    .map_err(|e| format!("{}: {e}", p.display()))
            })
            .transpose()
    }

    /// The `kid=path` pairs of trusted public keys.
    pub fn trusted_keys(&self) -> Result<Vec<(String, PathBuf)>, String> {
        self.trust_keys
            .iter()
            .map(|s| {
                s.split_once('=')
                    .map(|(k, p)| (k.to_string(), PathBuf::from(p)))
                    .ok_or_else(|| format!("--trust-key `{s}` must be kid=path"))
            })
            .collect()
    }
}

/// Parses `90s`, `30m`, `12h` or `7d` into seconds.
pub fn parse_ttl(s: &str) -> Result<u64, String> {
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("--ttl `{s}` must be a number followed by s, m, h or d"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("--ttl `{s}` must end in s, m, h or d")),
    };
    n.checked_mul(mult)
        .filter(|secs| *secs <= 10 * 365 * 86400)
        .ok_or_else(|| format!("--ttl `{s}` must be at most ten years"))
}

/// The log filter when `RUST_LOG` is not set: everything at `info`, except the migration
/// runner, which logs two lines per migration at `info` and would bury the first start's
/// address and bootstrap token under a screen of them; its warnings and errors still show.
pub const DEFAULT_LOG_FILTER: &str = "info,sea_orm_migration=warn";

/// Logs to standard error; `RUST_LOG` sets the level (default [`DEFAULT_LOG_FILTER`]),
/// `--log-format json` gives JSON.
pub fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        let _ = builder.json().with_current_span(true).try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// The command line with the settings of the configuration file as defaults. The file is
/// named by `--config FILE`, `--config=FILE` or `MAILPLANE_CONFIG`.
pub fn with_file_defaults(
    command: clap::Command,
    args: &[OsString],
) -> Result<clap::Command, String> {
    let named = args
        .iter()
        .zip(args.iter().skip(1))
        .find(|(flag, _)| *flag == "--config")
        .map(|(_, value)| PathBuf::from(value))
        .or_else(|| {
            args.iter()
                .filter_map(|a| a.to_str())
                .find_map(|a| a.strip_prefix("--config=").map(PathBuf::from))
        })
        .or_else(|| std::env::var_os("MAILPLANE_CONFIG").map(PathBuf::from));
    let Some(path) = named else {
        return Ok(command);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    file_defaults(command, &text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Applies the settings of a TOML text as the defaults of `command`'s global flags.
pub fn file_defaults(mut command: clap::Command, text: &str) -> Result<clap::Command, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.message()))?;
    let settable: Vec<(String, String)> = command
        .get_arguments()
        .filter(|a| a.is_global_set() && a.get_long().is_some_and(|l| l != "config"))
        .map(|a| {
            (
                a.get_id().to_string(),
                a.get_long().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (key, value) in table {
        let Some((id, _)) = settable
            .iter()
            .find(|(id, long)| *id == key || *long == key || id.replace('_', "-") == key)
        else {
            let mut known: Vec<&str> = settable.iter().map(|(_, long)| long.as_str()).collect();
            known.sort();
            return Err(format!(
                "`{key}` is not a setting; the settings are: {}",
                known.join(", ")
            ));
        };
        let values: Vec<String> = match value {
            toml::Value::String(s) => vec![s],
            toml::Value::Integer(n) => vec![n.to_string()],
            toml::Value::Float(f) => vec![f.to_string()],
            toml::Value::Boolean(b) => vec![b.to_string()],
            toml::Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    toml::Value::String(s) => Ok(s),
                    toml::Value::Integer(n) => Ok(n.to_string()),
                    other => Err(format!(
                        "`{key}` lists must hold strings or whole numbers, not {}",
                        other.type_str()
                    )),
                })
                .collect::<Result<_, String>>()?,
            other => {
                return Err(format!(
                    "`{key}` must be a string, number, boolean or list, not {}",
                    other.type_str()
                ));
            }
        };
        let values: Vec<&'static str> = values
            .into_iter()
            // Leaked once at start-up: clap keeps defaults for the life of the process.
            .map(|v| &*Box::leak(v.into_boxed_str()))
            .collect();
        command = command.mut_arg(id.clone(), |arg| arg.default_values(values));
    }
    Ok(command)
}

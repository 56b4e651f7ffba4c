//! Configuration from flags and `MAILPLANE_*` environment variables.

use std::path::PathBuf;

use clap::Args;
use mailplane::DatabaseLocation;

/// Settings shared by every command.
#[derive(Args, Debug)]
pub struct Config {
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

/// Logs to standard error; `RUST_LOG` sets the level, `MAILPLANE_LOG_FORMAT=json` gives JSON.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("MAILPLANE_LOG_FORMAT").as_deref() == Ok("json") {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

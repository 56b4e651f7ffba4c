//! The servers the benchmark talks to: the real application in this process, or the real
//! `mailplane serve` binary in a process of its own.
//!
//! In-process, the router is `mailplane_http::app` with the same trace layer the binary
//! adds, over a `ControlPlane` opened on the seeded database, served by `axum::serve` on a
//! loopback socket: a request takes the path it takes in production, socket included. The
//! binary is used where the process itself is measured (readiness and memory).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailplane::auth::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, Keyring, LOCAL_KID, TokenIssuer};
use mailplane::types::TenantId;
use mailplane::{Actor, ControlPlane, ControlPlaneConfig, DatabaseLocation, PolicySet};
use mailplane_http::AppState;

use crate::loadgen::{Connection, RequestSpec};

/// The keys of a benchmark deployment: an HS256 secret (kid `hs256`, as `serve
/// --hs256-secret-file` names it) and the Ed25519 signing key `serve` keeps in its data
/// directory (kid `local-ed25519`).
#[derive(Clone)]
pub struct Keys {
    /// The HS256 secret.
    pub secret: Vec<u8>,
    /// Mints HS256 tokens.
    pub hs256: TokenIssuer,
    /// Mints EdDSA tokens.
    pub eddsa: TokenIssuer,
    /// Trusts both, with the default token cache.
    pub keyring: Keyring,
}

/// The kid `mailplane serve` trusts the HS256 secret under.
pub const HS256_KID: &str = "hs256";

/// How long the benchmark's tokens live.
const TOKEN_TTL: u64 = 4 * 3600;

impl Keys {
    /// Creates (or reuses) the signing key in `data_dir` and draws a secret.
    pub fn new(data_dir: &Path) -> Result<Keys, String> {
        let signing = mailplane::auth::ensure_signing_key(data_dir).map_err(|e| e.to_string())?;
        // 64 characters from the random bits of two UUIDs: a benchmark's secret.
        let secret = format!(
            "{}{}",
            uuid::Uuid::now_v7().simple(),
            uuid::Uuid::now_v7().simple()
        )
        .into_bytes();
        let mut keyring = Keyring::new(DEFAULT_ISSUER, DEFAULT_AUDIENCE);
        keyring
            .add_public_pem(LOCAL_KID, signing.public_pem.as_bytes())
            .map_err(|e| e.to_string())?;
        keyring
            .add_hs256(HS256_KID, &secret)
            .map_err(|e| e.to_string())?;
        Ok(Keys {
            hs256: TokenIssuer::hs256(HS256_KID, &secret).map_err(|e| e.to_string())?,
            eddsa: TokenIssuer::ed25519(LOCAL_KID, signing.private_pem.as_bytes())
                .map_err(|e| e.to_string())?,
            secret,
            keyring,
        })
    }

    /// An HS256 token of a tenant's administrator.
    pub fn customer_hs256(&self, tenant: TenantId) -> Result<Arc<str>, String> {
        issue(
            &self.hs256,
            &Actor::customer("bench", tenant, &["tenant-admin"]),
        )
    }

    /// An EdDSA token of a tenant's administrator.
    pub fn customer_eddsa(&self, tenant: TenantId) -> Result<Arc<str>, String> {
        issue(
            &self.eddsa,
            &Actor::customer("bench", tenant, &["tenant-admin"]),
        )
    }

    /// An HS256 token of a provider administrator.
    pub fn provider_hs256(&self) -> Result<Arc<str>, String> {
        issue(&self.hs256, &Actor::provider("bench", &["provider-admin"]))
    }
}

fn issue(issuer: &TokenIssuer, actor: &Actor) -> Result<Arc<str>, String> {
    issuer
        .issue(actor, TOKEN_TTL)
        .map(Arc::from)
        .map_err(|e| e.to_string())
}

/// Opens a control plane on `location` with the shipped profiles and catalogue, as `serve`
/// does.
pub async fn control_plane(location: &DatabaseLocation) -> Result<ControlPlane, String> {
    ControlPlane::open(
        location,
        PolicySet::builtin(),
        ControlPlaneConfig::default(),
    )
    .await
    .map_err(|e| format!("opening the control plane: {e}"))
}

/// The same control plane with its store's read cache off, so that every row comes from
/// SQLite: the reference the read cache is measured against.
pub fn without_read_cache(control_plane: &ControlPlane) -> Result<ControlPlane, String> {
    control_plane
        .clone()
        .with_read_cache(0)
        .map_err(|e| format!("opening the control plane without read cache: {e}"))
}

/// The application served in this process.
pub struct InProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl InProcess {
    /// Serves `mailplane_http::app` on a free loopback port.
    pub async fn start(control_plane: ControlPlane, keyring: Keyring) -> Result<InProcess, String> {
        // No rate limits: the benchmark is the only client, and it measures the server.
        let app = mailplane_http::app(AppState::new(control_plane, Arc::new(keyring)))
            .layer(tower_http::trace::TraceLayer::new_for_http());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .map_err(|e| e.to_string())
        });
        Ok(InProcess {
            addr,
            shutdown,
            task,
        })
    }

    /// Stops serving and waits for open connections to finish.
    pub async fn stop(self) -> Result<(), String> {
        let _ = self.shutdown.send(());
        match tokio::time::timeout(Duration::from_secs(10), self.task).await {
            Ok(joined) => joined.map_err(|e| e.to_string())?,
            Err(_) => Ok(()),
        }
    }
}

/// The `mailplane serve` binary, started by the benchmark.
pub struct Spawned {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// From the spawn to the first 200 answer of `/readyz`.
    pub ready_after: Duration,
}

impl Spawned {
    /// Starts `bin serve` on `data_dir` and waits until `/readyz` answers 200.
    pub async fn start(bin: &Path, data_dir: &Path, secret_file: &Path) -> Result<Spawned, String> {
        let addr = free_port()?;
        let log =
            std::fs::File::create(data_dir.join("bench-serve.log")).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let child = Command::new(bin)
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--hs256-secret-file")
            .arg(secret_file)
            .env("RUST_LOG", "warn")
            // The benchmark is the one client and sends as fast as it can: rate limits off
            // (`--rate-limit 0`), as the server documents for benchmarks.
            .env("MAILPLANE_RATE_LIMIT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let mut spawned = Spawned {
            child,
            addr,
            ready_after: Duration::ZERO,
        };
        let ready = RequestSpec::get("/readyz", None);
        loop {
            if let Some(status) = spawned.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!(
                    "{} exited with {status} before it was ready; see {}",
                    bin.display(),
                    data_dir.join("bench-serve.log").display()
                ));
            }
            if let Ok(mut conn) = Connection::open(addr).await
                && let Ok((status, _)) = conn.send(&ready).await
                && status == hyper::StatusCode::OK
            {
                spawned.ready_after = started.elapsed();
                return Ok(spawned);
            }
            if started.elapsed() > Duration::from_secs(120) {
                spawned.stop().await;
                return Err("the server was not ready after 120 s".into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server as Ctrl-C does (SIGINT, a graceful shutdown), or kills it when it
    /// has not stopped after ten seconds.
    pub async fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address with a port that was free a moment ago.
fn free_port() -> Result<SocketAddr, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map_err(|e| e.to_string())
}

/// The resident set size and its peak, in KiB, from `/proc/<pid>/status`.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Where the `mailplane` binary is expected: `target/release/mailplane` of this workspace.
pub fn default_server_bin() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    target.join("release").join("mailplane")
}

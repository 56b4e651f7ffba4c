//! Durable jobs across real `mailplane serve` processes: a server killed in the middle of a
//! termination leaves a claim that a restarted server takes over once its lease runs out,
//! with the tenant's mail in the embedded file store or in a real Dovecot whose lookups the
//! servers answer, and two servers on one PostgreSQL database share the job steps without ever running one
//! twice.
//!
//! The servers are the real binary, spoken to over HTTP/1.1 on loopback; the job ledger is
//! read straight from the database the servers write.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use mailplane::auth::TokenIssuer;
use mailplane::types::TenantId;
use mailplane::{Actor, DatabaseLocation};
use mailplane_store::{DataStore, JobStepRow};
use mailplane_tests::Plane;
use mailplane_tests::mailstack::MailStack;

mod support;

/// The HS256 secret every server of these tests trusts under kid `hs256`.
const SECRET: &str = "mailplane-jobs-test-secret-of-at-least-32-bytes";

/// The steps of a termination, in order.
const TERMINATION_STEPS: [&str; 8] = [
    "window",
    "check",
    "consult",
    "configuration",
    "erase",
    "verify",
    "certify",
    "purge",
];

// ---------------------------------------------------------------------------------------
// A temporary folder, kept when the test fails so that its logs can be read.

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let d =
            std::env::temp_dir().join(format!("mailplane-jobs-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

// ---------------------------------------------------------------------------------------
// A `mailplane serve` child process, killed when dropped.

struct Server {
    name: String,
    child: Child,
    addr: SocketAddr,
    stderr: PathBuf,
}

/// Where a server keeps its state.
struct Deployment<'a> {
    /// The folder for the servers' logs and the secret file.
    dir: &'a Path,
    /// The shared data directory.
    data: &'a Path,
    /// `postgres://…`, or the SQLite file in the data directory.
    database_url: Option<&'a str>,
}

impl<'a> Deployment<'a> {
    /// A deployment on the SQLite file of its data directory.
    fn sqlite(dir: &'a Path, data: &'a Path) -> Deployment<'a> {
        Deployment {
            dir,
            data,
            database_url: None,
        }
    }

    fn secret_file(&self) -> PathBuf {
        let path = self.dir.join("hs256.secret");
        if !path.exists() {
            std::fs::write(&path, SECRET).unwrap();
        }
        path
    }

    /// Starts `mailplane serve` on an ephemeral loopback port and waits until it answers.
    fn start(&self, name: &str, extra: &[&str]) -> Server {
        let stdout = self.dir.join(format!("{name}.stdout"));
        let stderr = self.dir.join(format!("{name}.stderr"));
        let mut cmd = support::serve_command();
        cmd.arg("--data-dir")
            .arg(self.data)
            // Port 0: the server binds an ephemeral port and prints it, so no other process
            // can take the port between our choosing it and the server binding it.
            .args(["--listen", "127.0.0.1:0"])
            .arg("--hs256-secret-file")
            .arg(self.secret_file());
        if let Some(url) = self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        let mut child = cmd
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("MAILPLANE_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .expect("the binary starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = support::serving_address(&mut child, &stdout, name, deadline);
        let server = Server {
            name: name.to_string(),
            child,
            addr,
            stderr,
        };
        loop {
            match try_http(server.addr, "GET", "/healthz", None, None, b"") {
                Ok(r) if r.status == 200 => break,
                _ => {}
            }
            assert!(Instant::now() < deadline, "{name} does not answer /healthz");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The prefix of this process's job worker's name (`worker-<pid>-<uuid>`).
    fn worker_prefix(&self) -> String {
        format!("worker-{}-", self.pid())
    }

    /// SIGKILL on unix: no shutdown, no cleanup, no commit of the step in progress.
    fn kill(&mut self) {
        self.child.kill().expect("kill the server");
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "{} was killed", self.name);
    }

    /// SIGTERM: the graceful stop an orchestrator asks for. Returns the exit status.
    fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(sent.success(), "SIGTERM sent to {}", self.name);
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not stop within {within:?} of SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn client(&self, token: &str) -> Api {
        Api {
            addr: self.addr,
            token: Some(token.to_string()),
        }
    }

    fn anonymous(&self) -> Api {
        Api {
            addr: self.addr,
            token: None,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read(&self.stderr).unwrap_or_default();
            let tail = &log[log.len().saturating_sub(12_000)..];
            eprintln!(
                "----- {} (pid {}) stderr, last {} bytes -----\n{}\n----- end of {} -----",
                self.name,
                self.child.id(),
                tail.len(),
                String::from_utf8_lossy(tail),
                self.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client: one request per connection, `Connection: close`.

struct Reply {
    status: u16,
    body: Value,
    bytes: Vec<u8>,
}

impl Reply {
    #[track_caller]
    fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        self.body
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = find(data, b"\r\n") {
        let size = std::str::from_utf8(&data[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .expect("a chunk size");
        data = &data[end + 2..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
    out
}

fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = find(&raw, b"\r\n\r\n").ok_or_else(|| {
        std::io::Error::other(format!(
            "no complete response head: {}",
            String::from_utf8_lossy(&raw)
        ))
    })?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let rest = &raw[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let bytes = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(rest)
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        rest[..len.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        body,
        bytes,
    })
}

/// A caller of one server.
struct Api {
    addr: SocketAddr,
    token: Option<String>,
}

impl Api {
    fn send(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Reply {
        try_http(
            self.addr,
            method,
            path,
            self.token.as_deref(),
            content_type,
            body,
        )
        .unwrap_or_else(|e| panic!("{method} {path} on {}: {e}", self.addr))
    }

    fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, b"")
    }

    fn post(&self, path: &str, body: Value) -> Reply {
        self.send(
            "POST",
            path,
            Some("application/json"),
            &serde_json::to_vec(&body).unwrap(),
        )
    }

    fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> Reply {
        self.send("POST", path, Some(content_type), body)
    }
}

// ---------------------------------------------------------------------------------------
// Tokens and fixtures.

fn issuer() -> TokenIssuer {
    TokenIssuer::hs256("hs256", SECRET.as_bytes()).unwrap()
}

fn provider_token() -> String {
    issuer()
        .issue(&Actor::provider("ops@provider", &["provider-admin"]), 3600)
        .unwrap()
}

fn customer_token(tenant: TenantId) -> String {
    issuer()
        .issue(
            &Actor::customer(format!("admin@{tenant}"), tenant, &["tenant-admin"]),
            3600,
        )
        .unwrap()
}

fn message(mailbox: usize, n: usize) -> Vec<u8> {
    format!(
        "From: sender{n}@old-host.example\r\nTo: box{mailbox}@customer.example\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: note {mailbox}-{n}\r\n\r\nBody {n} of mailbox {mailbox}, long enough to be worth encrypting.\r\n"
    )
    .into_bytes()
}

/// A tenant created as the provider on `server`, with `mailboxes` mailboxes of `messages`
/// messages each, made as its administrator; returns its id.
fn tenant_with_mail(server: &Server, name: &str, mailboxes: usize, messages: usize) -> TenantId {
    let provider = server.client(&provider_token());
    let t = provider
        .post("/v1/tenants", json!({ "name": name }))
        .expect(201);
    let tenant: TenantId = t["id"].as_str().unwrap().parse().unwrap();
    let domains = provider
        .get(&format!("/v1/tenants/{tenant}/domains"))
        .expect(200);
    let domain = domains["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["default"] == true)
        .expect("a default domain")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let customer = server.client(&customer_token(tenant));
    for b in 0..mailboxes {
        let local = format!("user{b}");
        let m = customer
            .post(
                &format!("/v1/tenants/{tenant}/mailboxes"),
                json!({ "local_part": local, "domain_id": domain, "display_name": local }),
            )
            .expect(201);
        let m = m["id"].as_str().unwrap();
        for n in 0..messages {
            customer
                .post_raw(
                    &format!("/v1/tenants/{tenant}/mailboxes/{m}/messages"),
                    "message/rfc822",
                    &message(b, n),
                )
                .expect(201);
        }
    }
    tenant
}

/// Polls `f` every 100 ms until it gives a value; panics naming `what` after `timeout`.
#[track_caller]
fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// The ledger of the job of `kind` for `subject`, oldest claim first (empty when the job
/// does not exist yet).
fn ledger(
    rt: &tokio::runtime::Runtime,
    store: &DataStore,
    kind: &str,
    subject: uuid::Uuid,
) -> Vec<JobStepRow> {
    rt.block_on(async {
        match store.job_get(kind, subject).await.unwrap() {
            Some(job) => store.job_steps(job.id).await.unwrap(),
            None => vec![],
        }
    })
}

fn describe(rows: &[JobStepRow]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{} #{} by {}: {} (finished: {})",
                r.step,
                r.attempt,
                r.owner,
                r.outcome.as_deref().unwrap_or("-"),
                r.finished_at.is_some()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One text value of a raw query.
fn scalar(rt: &tokio::runtime::Runtime, store: &DataStore, sql: &str) -> String {
    rt.block_on(store.query_strings_for_tests(sql))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// Checks a closed termination's certificate against the keys `server` publishes, and
/// returns the keys document.
fn verify_certificate(server: &Server, closed: &Value, tenant: TenantId) -> Value {
    let keys = server
        .anonymous()
        .get("/.well-known/mailplane/destruction-keys")
        .expect(200);
    let cert = &closed["certificate"];
    assert_eq!(cert["certificate"]["tenant"]["id"], tenant.to_string());
    let trusted =
        mailplane::certificate::trusted_keys(&serde_json::to_vec(&keys).unwrap()).unwrap();
    let verified = mailplane::certificate::verify(&serde_json::to_vec(cert).unwrap(), &trusted)
        .unwrap_or_else(|e| panic!("the certificate does not verify: {e}\n{cert:#}"));
    assert!(verified.pinned, "checked against the published key");
    keys
}

/// A webhook receiver on loopback that answers 200 to every POST and records the
/// `Mailplane-Event` header of each delivery it gets, duplicates included.
struct Receiver {
    url: String,
    events: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = events.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut data = Vec::new();
                let mut buf = [0u8; 8192];
                // Read the head, then as much body as Content-Length says.
                let (head_end, length) = loop {
                    let Ok(n) = stream.read(&mut buf) else {
                        break (0, 0);
                    };
                    if n == 0 {
                        break (0, 0);
                    }
                    data.extend_from_slice(&buf[..n]);
                    if let Some(end) = find(&data, b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                if head_end == 0 {
                    continue;
                }
                while data.len() < head_end + length {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&data[..head_end]).to_string();
                if let Some(event) = head.lines().find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("mailplane-event:")
                        .map(|v| v.trim().to_string())
                }) {
                    seen.lock().unwrap().push(event);
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Receiver { url, events }
    }

    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------

#[test]
fn a_stopped_server_releases_its_lease_and_another_takes_the_step_over_at_once() {
    let dir = TempDir::new();
    let data = dir.path().join("data");
    let deployment = Deployment::sqlite(dir.path(), &data);
    // A lease far longer than the test: only a released lease lets the second server take
    // the step over soon. Each step waits 5 s before it runs, and the server is given 1 s
    // to stop, so the stop cuts a step short.
    let mut first = deployment.start(
        "first",
        &[
            "--job-lease",
            "600",
            "--job-throttle-ms",
            "5000",
            "--shutdown-grace",
            "1",
        ],
    );
    let tenant = tenant_with_mail(&first, "Stopping", 2, 1);
    let term = first
        .client(&customer_token(tenant))
        .post(
            &format!("/v1/tenants/{tenant}/termination"),
            json!({ "export_window_days": 0 }),
        )
        .expect(201);
    let termination: uuid::Uuid = term["id"].as_str().unwrap().parse().unwrap();
    let rt = runtime();
    let store = rt
        .block_on(DataStore::connect(&DatabaseLocation::Sqlite(
            data.join("mailplane.db"),
        )))
        .unwrap();
    wait_for(
        Duration::from_secs(30),
        "the first server to claim a step",
        || {
            ledger(&rt, &store, "termination", termination)
                .iter()
                .any(|r| r.finished_at.is_none())
                .then_some(())
        },
    );
    let status = first.terminate(Duration::from_secs(15));
    assert!(status.success(), "a graceful stop exits 0: {status}");
    let log = std::fs::read_to_string(&first.stderr).unwrap();
    assert!(log.contains("released job leases"), "{log}");
    assert_eq!(
        scalar(
            &rt,
            &store,
            "SELECT COALESCE(lease_owner, 'none') FROM jobs WHERE kind = 'termination'"
        ),
        "none",
        "the stopped server holds no lease"
    );

    // The second server takes the step over at once (not after 600 s) and finishes.
    let second = deployment.start("second", &[]);
    let customer = second.client(&customer_token(tenant));
    let closed = wait_for(
        Duration::from_secs(60),
        "the termination to close on the second server",
        || {
            let r = customer
                .get(&format!("/v1/tenants/{tenant}/termination"))
                .expect(200);
            (r["state"] == "closed").then_some(r)
        },
    );
    verify_certificate(&second, &closed, tenant);
}

#[test]
fn json_logs_carry_the_request_id_of_every_answer() {
    let dir = TempDir::new();
    let data = dir.path().join("data");
    let deployment = Deployment::sqlite(dir.path(), &data);
    let mut server = deployment.start("json-logs", &["--log-format", "json"]);
    let provider = server.client(&provider_token());
    provider.get("/v1/tenants").expect(200);
    server.anonymous().get("/v1/no-such-path").expect(404);
    assert!(server.terminate(Duration::from_secs(15)).success());
    let log = std::fs::read_to_string(&server.stderr).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let answered = |path: &str, status: u64| {
        lines
            .iter()
            .find(|l| l["span"]["path"] == path && l["fields"]["status"] == status)
    };
    for (path, status) in [("/v1/tenants", 200), ("/v1/no-such-path", 404)] {
        let line = answered(path, status)
            .unwrap_or_else(|| panic!("no answer line for {path} ({status}) in:\n{log}"));
        let id = line["span"]["request_id"].as_str().unwrap_or_default();
        assert_eq!(id.len(), 36, "a UUID request id: {line}");
    }
    assert_ne!(
        answered("/v1/tenants", 200).unwrap()["span"]["request_id"],
        answered("/v1/no-such-path", 404).unwrap()["span"]["request_id"],
        "each request has its own id"
    );
    assert!(lines.iter().any(|l| l["fields"]["message"] == "stopped"));
}

#[test]
fn a_killed_server_resumes_a_termination_and_finishes_it() {
    a_killed_server_resumes_a_termination(Plane::Files);
}

#[test]
fn a_killed_server_resumes_a_termination_on_dovecot_and_finishes_it() {
    a_killed_server_resumes_a_termination(Plane::Dovecot);
}

fn a_killed_server_resumes_a_termination(plane: Plane) {
    let dir = TempDir::new();
    let data = dir.path().join("data");
    let deployment = Deployment::sqlite(dir.path(), &data);
    let rt = runtime();
    // On Dovecot, the default region's mail lives in a real Postfix and Dovecot, whose
    // lookups (the mailboxes' storage passwords among them) the servers answer.
    let stack = match plane {
        Plane::Files => None,
        Plane::Dovecot => match rt.block_on(MailStack::start_unanswered()) {
            Some(stack) => Some(stack),
            None => return,
        },
    };
    let mail_args = stack
        .as_ref()
        .map(|s| s.serve_args("eu", &dir.path().join("mail-hosts.toml")))
        .unwrap_or_default();
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        args.extend(mail_args.iter().cloned());
        args
    };
    let start = |name: &str, extra: &[&'static str]| {
        let args = args(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        deployment.start(name, &args)
    };
    // A short lease, and a pause before each step long enough to kill the server while it
    // holds a claim.
    let mut first = start("first", &["--job-lease", "2", "--job-throttle-ms", "1500"]);
    let (mailboxes, per_mailbox) = (5, 3);
    let tenant = tenant_with_mail(&first, "Acme", mailboxes, per_mailbox);
    let key_file = data.join("mail").join(tenant.to_string()).join("data.key");
    let tenant_files = match &stack {
        None => data.join("mail"),
        Some(stack) => stack.config.mail_root(),
    }
    .join(tenant.to_string());
    assert!(tenant_files.is_dir(), "the tenant's mail is on disk");

    let path = format!("/v1/tenants/{tenant}/termination");
    let term = first
        .client(&customer_token(tenant))
        .post(&path, json!({ "export_window_days": 0 }))
        .expect(201);
    assert_eq!(term["state"], "terminating");
    let termination: uuid::Uuid = term["id"].as_str().unwrap().parse().unwrap();

    // Wait until the first server holds the claim of the erase step, then kill it before
    // the step commits: the destruction is interrupted halfway.
    let store = rt
        .block_on(DataStore::connect(&DatabaseLocation::Sqlite(
            data.join("mailplane.db"),
        )))
        .unwrap();
    let first_worker = first.worker_prefix();
    wait_for(
        Duration::from_secs(40),
        "the first server to claim the erase step",
        || {
            let rows = ledger(&rt, &store, "termination", termination);
            rows.iter()
                .any(|r| r.step == "erase" && r.finished_at.is_none())
                .then_some(())
        },
    );
    first.kill();
    let at_kill = ledger(&rt, &store, "termination", termination);
    let interrupted: Vec<&JobStepRow> =
        at_kill.iter().filter(|r| r.finished_at.is_none()).collect();
    assert_eq!(
        interrupted.len(),
        1,
        "one claim was open when the server died:\n{}",
        describe(&at_kill)
    );
    let interrupted = interrupted[0].clone();
    assert!(interrupted.owner.starts_with(&first_worker));
    assert_eq!(interrupted.outcome, None);
    assert!(
        key_file.is_file(),
        "the server died before the erase removed the tenant's key"
    );

    // A new server on the same data takes the step over once the lease runs out.
    let second = start("second", &["--job-lease", "2"]);
    let second_worker = second.worker_prefix();
    let customer = second.client(&customer_token(tenant));
    let closed = wait_for(Duration::from_secs(60), "the termination to close", || {
        let t = customer.get(&path).expect(200);
        (t["state"] == "closed").then_some(t)
    });
    for field in [
        "configuration_destroyed_at",
        "data_destroyed_at",
        "files_removed_at",
        "closed_at",
    ] {
        assert!(closed[field].is_string(), "{field}: {closed:#}");
    }
    assert!(!tenant_files.exists(), "the tenant's files are gone");

    // The certificate counts everything the tenant had, and verifies against the key the
    // provider publishes.
    let keys = verify_certificate(&second, &closed, tenant);
    let body = &closed["certificate"]["certificate"];
    assert_eq!(
        body["objects"],
        (mailboxes * per_mailbox) as u64,
        "{body:#}"
    );
    assert_eq!(body["mailboxes"].as_array().unwrap().len(), mailboxes);
    assert_eq!(body["key_ids"].as_array().unwrap().len(), 1);
    // It names the store that held the mail.
    let store_name = body["store"]["name"].as_str().unwrap_or_default();
    assert!(
        store_name.starts_with(match plane {
            Plane::Files => "Mailplane embedded file store",
            Plane::Dovecot => "Dovecot with mail_crypt at http://127.0.0.1:",
        }),
        "{body:#}"
    );

    // The ledger: the dead worker's claim stays open, its step was claimed again by the new
    // worker, and every step finished exactly once.
    let rows = ledger(&rt, &store, "termination", termination);
    let report = describe(&rows);
    eprintln!("termination ledger:\n{report}");
    let open: Vec<&JobStepRow> = rows.iter().filter(|r| r.finished_at.is_none()).collect();
    assert_eq!(
        open.len(),
        1,
        "only the interrupted claim is open:\n{report}"
    );
    assert_eq!(open[0], &interrupted, "{report}");
    for step in TERMINATION_STEPS {
        let done: Vec<&JobStepRow> = rows
            .iter()
            .filter(|r| r.step == step && r.outcome.as_deref() == Some("done"))
            .collect();
        assert_eq!(done.len(), 1, "step {step} finished once:\n{report}");
        assert!(done[0].finished_at.is_some());
    }
    let done_total = rows
        .iter()
        .filter(|r| r.outcome.as_deref() == Some("done"))
        .count();
    assert_eq!(done_total, TERMINATION_STEPS.len(), "{report}");
    assert!(
        rows.iter().all(|r| r.outcome.as_deref() != Some("failed")),
        "no step failed:\n{report}"
    );
    // Before the crash, the first worker; from the interrupted step on, the second.
    let position = |step: &str| TERMINATION_STEPS.iter().position(|s| *s == step).unwrap();
    let cut = position(&interrupted.step);
    for r in rows.iter().filter(|r| r.outcome.as_deref() == Some("done")) {
        let expected = if position(&r.step) < cut {
            &first_worker
        } else {
            &second_worker
        };
        assert!(
            r.owner.starts_with(expected.as_str()),
            "step {} finished by {}:\n{report}",
            r.step,
            r.owner
        );
    }
    let retaken = rows
        .iter()
        .find(|r| r.step == interrupted.step && r.owner.starts_with(&second_worker))
        .unwrap_or_else(|| panic!("the interrupted step was claimed again:\n{report}"));
    assert_eq!(retaken.attempt, interrupted.attempt + 1, "{report}");
    assert!(retaken.started_at >= interrupted.started_at + time::Duration::seconds(1));
    let job = rt
        .block_on(store.job_get("termination", termination))
        .unwrap()
        .unwrap();
    assert_eq!(job.state, "done");

    // The operator's offline check agrees, and notices a tampered document.
    let cert_file = dir.path().join("certificate.json");
    let keys_file = dir.path().join("destruction-keys.json");
    std::fs::write(
        &cert_file,
        serde_json::to_vec_pretty(&closed["certificate"]).unwrap(),
    )
    .unwrap();
    std::fs::write(&keys_file, serde_json::to_vec(&keys).unwrap()).unwrap();
    let verify = |file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_mailplane"))
            .arg("--data-dir")
            .arg(dir.path().join("cli"))
            .args(["certificate", "verify"])
            .arg(file)
            .arg("--key")
            .arg(&keys_file)
            .env_remove("MAILPLANE_DATABASE_URL")
            .output()
            .expect("the binary runs")
    };
    let ok = verify(&cert_file);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(stdout.contains("VALID"), "{stdout}");
    let mut forged = closed["certificate"].clone();
    forged["certificate"]["objects"] = json!(body["objects"].as_u64().unwrap() - 1);
    let forged_file = dir.path().join("forged.json");
    std::fs::write(&forged_file, serde_json::to_vec_pretty(&forged).unwrap()).unwrap();
    let bad = verify(&forged_file);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("INVALID"));
    drop(second);
}

#[test]
fn two_servers_on_one_postgres_never_run_a_step_twice_nor_send_a_webhook_twice() {
    let Some(server_url) = std::env::var("MAILPLANE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI is set but MAILPLANE_TEST_DATABASE_URL is not: the PostgreSQL run would be skipped"
            );
        }
        eprintln!("MAILPLANE_TEST_DATABASE_URL is not set: PostgreSQL run skipped");
        return;
    };
    let rt = runtime();
    // A fresh database on the test server.
    let name = format!("mp_jobs_{}", uuid::Uuid::now_v7().simple());
    let admin = rt
        .block_on(DataStore::connect(&DatabaseLocation::Postgres(
            server_url.clone(),
        )))
        .expect("connect to the PostgreSQL test server");
    rt.block_on(admin.execute_unprepared_for_tests(&format!("CREATE DATABASE {name}")))
        .expect("create the test database");
    let db_url = match server_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("MAILPLANE_TEST_DATABASE_URL must end in /<database>"),
    };

    let dir = TempDir::new();
    let data = dir.path().join("data");
    let deployment = Deployment {
        dir: dir.path(),
        data: &data,
        database_url: Some(&db_url),
    };
    // The first creates the keys in the shared data directory; the second reads them.
    let a = deployment.start(
        "server-a",
        &["--job-throttle-ms", "200", "--webhooks-allow-private"],
    );
    let b = deployment.start(
        "server-b",
        &["--job-throttle-ms", "200", "--webhooks-allow-private"],
    );
    let servers = [&a, &b];
    // One receiver of every provider event: both servers' webhook pumps deliver to it.
    let receiver = Receiver::start();
    a.client(&provider_token())
        .post("/v1/webhooks", json!({ "url": receiver.url }))
        .expect(201);
    let (mailboxes, per_mailbox) = (3, 2);
    let tenants: Vec<TenantId> = (0..6)
        .map(|i| tenant_with_mail(&a, &format!("Tenant {i}"), mailboxes, per_mailbox))
        .collect();

    // One export of the whole tenant each, asked alternately of either server, and
    // downloaded through the other one: the archives and the link key are shared.
    let exports: Vec<uuid::Uuid> = tenants
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let e = servers[i % 2]
                .client(&customer_token(*t))
                .post(
                    &format!("/v1/tenants/{t}/exports"),
                    json!({ "format": "eml-zip" }),
                )
                .expect(201);
            e["id"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    for (i, (t, e)) in tenants.iter().zip(&exports).enumerate() {
        let customer = servers[(i + 1) % 2].client(&customer_token(*t));
        let ready = wait_for(
            Duration::from_secs(60),
            &format!("export {e} to be ready"),
            || {
                let r = customer
                    .get(&format!("/v1/tenants/{t}/exports/{e}"))
                    .expect(200);
                (r["state"] == "ready").then_some(r)
            },
        );
        assert_eq!(
            ready["manifest"]["messages"],
            (mailboxes * per_mailbox) as u64
        );
        let archive = servers[i % 2]
            .anonymous()
            .get(ready["download_url"].as_str().unwrap());
        assert_eq!(archive.status, 200);
        assert!(archive.bytes.starts_with(b"PK"), "a zip archive");
    }

    // Terminate every tenant, alternately on either server, and let both workers walk the
    // terminations to their end.
    let terminations: Vec<uuid::Uuid> = tenants
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let term = servers[i % 2]
                .client(&customer_token(*t))
                .post(
                    &format!("/v1/tenants/{t}/termination"),
                    json!({ "export_window_days": 0 }),
                )
                .expect(201);
            term["id"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    for (i, t) in tenants.iter().enumerate() {
        let server = servers[(i + 1) % 2];
        let customer = server.client(&customer_token(*t));
        let closed = wait_for(
            Duration::from_secs(120),
            &format!("the termination of {t} to close"),
            || {
                let r = customer
                    .get(&format!("/v1/tenants/{t}/termination"))
                    .expect(200);
                (r["state"] == "closed").then_some(r)
            },
        );
        verify_certificate(server, &closed, *t);
        assert_eq!(
            closed["certificate"]["certificate"]["objects"],
            (mailboxes * per_mailbox) as u64
        );
        assert!(!data.join("mail").join(t.to_string()).exists());
        assert!(!data.join("exports").join(t.to_string()).exists());
    }

    // The ledger: no step of any job was claimed twice, every claim finished, and both
    // servers' workers ran steps.
    let store = rt
        .block_on(DataStore::connect(&DatabaseLocation::Postgres(
            db_url.clone(),
        )))
        .unwrap();
    let (worker_a, worker_b) = (a.worker_prefix(), b.worker_prefix());
    let mut ran_by_a = 0;
    let mut ran_by_b = 0;
    let mut all_rows = 0;
    for (kind, subject, steps) in terminations
        .iter()
        .map(|s| ("termination", *s, TERMINATION_STEPS.to_vec()))
        .chain(exports.iter().map(|s| {
            (
                "export",
                *s,
                vec!["start", "collect:0", "collect:1", "collect:2", "package"],
            )
        }))
    {
        let rows = ledger(&rt, &store, kind, subject);
        let report = describe(&rows);
        let claimed: Vec<&str> = rows.iter().map(|r| r.step.as_str()).collect();
        assert_eq!(
            claimed, steps,
            "{kind} {subject}: each step claimed once:\n{report}"
        );
        for r in &rows {
            assert_eq!(r.attempt, 1, "{kind} {subject}:\n{report}");
            assert_eq!(
                r.outcome.as_deref(),
                Some("done"),
                "{kind} {subject}:\n{report}"
            );
            assert!(r.finished_at.is_some());
            if r.owner.starts_with(&worker_a) {
                ran_by_a += 1;
            } else if r.owner.starts_with(&worker_b) {
                ran_by_b += 1;
            } else {
                panic!("{kind} {subject}: a step run by a stranger:\n{report}");
            }
        }
        all_rows += rows.len();
    }
    // Every job in the database (nothing else ran), seen through raw SQL as well.
    assert_eq!(
        scalar(&rt, &store, "SELECT CAST(COUNT(*) AS TEXT) FROM jobs"),
        (terminations.len() + exports.len()).to_string()
    );
    assert_eq!(
        scalar(&rt, &store, "SELECT CAST(COUNT(*) AS TEXT) FROM job_steps"),
        all_rows.to_string()
    );
    assert_eq!(
        scalar(
            &rt,
            &store,
            "SELECT CAST(COUNT(*) AS TEXT) FROM (SELECT job_id, step FROM job_steps \
             GROUP BY job_id, step HAVING COUNT(*) > 1) AS twice"
        ),
        "0"
    );
    // Webhooks: once every delivery is made, the receiver got each event exactly once,
    // though both servers pump the same outbox.
    let delivered = wait_for(
        Duration::from_secs(60),
        "every webhook delivery to be made",
        || {
            let open = scalar(
                &rt,
                &store,
                "SELECT CAST(COUNT(*) AS TEXT) FROM webhook_deliveries WHERE state <> 'delivered'",
            );
            let outbox = scalar(
                &rt,
                &store,
                "SELECT CAST(COUNT(*) AS TEXT) FROM webhook_deliveries",
            );
            (open == "0" && outbox != "0").then_some(outbox)
        },
    );
    let events = receiver.events();
    let mut distinct = events.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        events.len(),
        distinct.len(),
        "no event was delivered twice: {events:?}"
    );
    assert_eq!(events.len().to_string(), delivered);
    // And both servers give the same answers.
    let provider = provider_token();
    assert_eq!(
        a.client(&provider).get("/v1/tenants?limit=100").expect(200),
        b.client(&provider).get("/v1/tenants?limit=100").expect(200)
    );
    eprintln!(
        "steps run by server A: {ran_by_a}, by server B: {ran_by_b}; {} webhook deliveries",
        events.len()
    );
    assert!(
        ran_by_a > 0 && ran_by_b > 0,
        "both servers ran steps (A: {ran_by_a}, B: {ran_by_b})"
    );

    drop((a, b));
    drop(store);
    // Best effort: the servers are gone, so the database can go too.
    let _ = rt.block_on(
        admin.execute_unprepared_for_tests(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
    );
}

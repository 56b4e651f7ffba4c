//! The limits of a real `mailplane serve` process, spoken to over HTTP/1.1 on loopback:
//! oversized bodies are refused without being buffered (the server's resident memory is
//! measured through a burst of them), an oversized bearer token gets a problem document,
//! and a request in flight when SIGTERM arrives still gets its answer.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use mailplane::Actor;
use mailplane::auth::TokenIssuer;

mod support;

/// The HS256 secret the server of these tests trusts under kid `hs256`.
const SECRET: &str = "mailplane-limits-test-secret-of-at-least-32-bytes";

const MIB: usize = 1024 * 1024;

/// A `mailplane serve` child process on SQLite in a folder of its own, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str) -> Server {
        let dir = std::env::temp_dir().join(format!(
            "mailplane-limits-{name}-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("hs256.secret");
        std::fs::write(&secret, SECRET).unwrap();
        let stdout = dir.join("stdout");
        let mut child = support::serve_command()
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--listen", "127.0.0.1:0", "--shutdown-grace", "10"])
            .arg("--hs256-secret-file")
            .arg(&secret)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(dir.join("stderr")).unwrap())
            .spawn()
            .expect("the binary starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = support::serving_address(&mut child, &stdout, "the server", deadline);
        Server { child, addr, dir }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory, in bytes, from `/proc/PID/status`.
    fn rss(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kb * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read(self.dir.join("stderr")).unwrap_or_default();
            let tail = &log[log.len().saturating_sub(8_000)..];
            eprintln!(
                "----- server stderr -----\n{}",
                String::from_utf8_lossy(tail)
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn provider_token() -> String {
    TokenIssuer::hs256("hs256", SECRET.as_bytes())
        .unwrap()
        .issue(&Actor::provider("ops@provider", &["provider-admin"]), 3600)
        .unwrap()
}

/// An answer: its status, its head and its body.
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn content_type(&self) -> String {
        self.head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-type")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    }
}

fn parse(raw: &[u8]) -> Option<Reply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Reply {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    })
}

/// How a request's body is framed.
#[derive(Clone, Copy, Debug)]
enum Framing {
    /// `Content-Length` announces it.
    Length,
    /// `Transfer-Encoding: chunked`, no length.
    Chunked,
}

/// Sends `head` (without its blank line) and then `size` bytes of body in 64 KiB pieces,
/// framed as told, while another thread reads the answer; stops writing as soon as the
/// server stops reading. Returns the answer, if one came.
fn send(addr: SocketAddr, head: String, framing: Framing, size: usize) -> Option<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut reading = stream.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match reading.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
        raw
    });
    let framing_header = match framing {
        Framing::Length => format!("Content-Length: {size}\r\n"),
        Framing::Chunked => "Transfer-Encoding: chunked\r\n".to_string(),
    };
    let piece = vec![b' '; 64 * 1024];
    let written = (|| -> std::io::Result<()> {
        stream.write_all(format!("{head}{framing_header}\r\n").as_bytes())?;
        let mut sent = 0;
        while sent < size {
            let n = piece.len().min(size - sent);
            match framing {
                Framing::Length => stream.write_all(&piece[..n])?,
                Framing::Chunked => {
                    stream.write_all(format!("{n:x}\r\n").as_bytes())?;
                    stream.write_all(&piece[..n])?;
                    stream.write_all(b"\r\n")?;
                }
            }
            sent += n;
        }
        if let Framing::Chunked = framing {
            stream.write_all(b"0\r\n\r\n")?;
        }
        Ok(())
    })();
    // A refused body ends the writing early (the server stopped reading and closed its
    // side); the answer was sent before that. The write side stays open: hyper closes a
    // connection whose client half-closes it before the answer.
    let _ = written;
    parse(&reader.join().unwrap())
}

fn post_head(addr: SocketAddr, path: &str, token: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n{extra}"
    )
}

/// Eight concurrent 60 MiB bodies with an `Idempotency-Key`, half announced by their
/// length and half chunked, are each answered 413 with a problem document, and the server's
/// resident memory stays far below what buffering them would take (480 MiB), and is back
/// near its level once the burst is over.
#[test]
fn a_burst_of_oversized_bodies_is_refused_without_being_buffered() {
    let server = Server::start("bodies");
    let token = provider_token();
    // Warm up: a few ordinary calls, so that the level measured before is a serving one.
    for i in 0..5 {
        let r = send(
            server.addr,
            post_head(server.addr, "/v1/tenants", &token, ""),
            Framing::Length,
            0,
        );
        assert!(r.is_some(), "warm-up call {i} answered");
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = server.rss();

    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        let pid = server.pid();
        std::thread::spawn(move || {
            let mut peak = 0usize;
            while sampling.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(kb) = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
                {
                    peak = peak.max(kb * 1024);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let addr = server.addr;
            let framing = if i % 2 == 0 {
                Framing::Length
            } else {
                Framing::Chunked
            };
            let head = post_head(
                addr,
                "/v1/tenants",
                &token,
                &format!("Idempotency-Key: burst-{i}\r\n"),
            );
            std::thread::spawn(move || (framing, send(addr, head, framing, 60 * MIB)))
        })
        .collect();
    let replies: Vec<_> = calls.into_iter().map(|c| c.join().unwrap()).collect();
    sampling.store(false, std::sync::atomic::Ordering::SeqCst);
    let peak = sampler.join().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let after = server.rss();
    eprintln!(
        "resident memory: before {} MiB, peak during the burst {} MiB, 2 s after {} MiB",
        before / MIB,
        peak / MIB,
        after / MIB
    );
    assert!(
        peak < before + 100 * MIB,
        "the burst raised resident memory from {before} to {peak} bytes"
    );
    assert!(
        after < before + 50 * MIB,
        "resident memory stayed at {after} bytes after the burst (before: {before})"
    );
    for (framing, reply) in replies {
        let reply = reply.unwrap_or_else(|| panic!("no answer to a {framing:?} body"));
        assert_eq!(
            reply.status,
            413,
            "{framing:?}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.content_type(), "application/problem+json");
        let problem = reply.json();
        assert_eq!(problem["type"], "https://mailplane.dev/problems/too-large");
        assert_eq!(problem["errors"][0]["field"], "body");
    }
    // And the server still serves.
    let r = send(
        server.addr,
        format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            server.addr
        ),
        Framing::Length,
        0,
    )
    .expect("an answer");
    assert_eq!(r.status, 200);
}

/// A 1 MiB bearer token is answered 431 with a problem document naming `Authorization`,
/// through the real server's connection handling; a head beyond the server's hard buffer
/// gets hyper's empty 431 (or a closed connection), and the server keeps serving.
#[test]
fn a_megabyte_bearer_token_gets_a_problem_document() {
    let server = Server::start("headers");
    let token = "a".repeat(MIB);
    let reply = send(
        server.addr,
        post_head(server.addr, "/v1/tenants", &token, ""),
        Framing::Length,
        0,
    )
    .expect("an answer to a 1 MiB token");
    assert_eq!(
        reply.status,
        431,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.content_type(), "application/problem+json");
    let problem = reply.json();
    assert_eq!(
        problem["type"],
        "https://mailplane.dev/problems/headers-too-large"
    );
    assert_eq!(problem["status"], 431);
    assert_eq!(problem["errors"][0]["field"], "Authorization");

    // Beyond the hard buffer the request cannot be read: hyper's own empty 431, or the
    // connection closed before the answer arrived.
    let huge = "a".repeat(3 * MIB);
    if let Some(reply) = send(
        server.addr,
        post_head(server.addr, "/v1/tenants", &huge, ""),
        Framing::Length,
        0,
    ) {
        assert_eq!(reply.status, 431);
        assert!(reply.body.is_empty());
    }
    let ok = send(
        server.addr,
        post_head(server.addr, "/v1/tenants", &provider_token(), ""),
        Framing::Length,
        2,
    )
    .expect("an answer");
    assert_eq!(ok.status, 400, "{}", String::from_utf8_lossy(&ok.body));
}

/// SIGTERM while a request is in flight (its body half sent): the request still gets its
/// answer, and the server then exits 0.
#[test]
fn a_request_in_flight_at_sigterm_is_answered() {
    let mut server = Server::start("drain");
    let body = br#"{"name":"Drained"}"#;
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "{}Content-Length: {}\r\n\r\n",
        post_head(server.addr, "/v1/tenants", &provider_token(), ""),
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body[..5]).unwrap();
    // Let the server read the head and start the request.
    std::thread::sleep(Duration::from_millis(500));
    let sent = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server waits for the request in flight"
    );
    stream.write_all(&body[5..]).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let reply = parse(&raw).expect("an answer");
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "a graceful stop exits 0: {status}");
    // New connections are refused once it stopped.
    assert!(TcpStream::connect(server.addr).is_err());
}

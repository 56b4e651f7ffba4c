//! The load generator: HTTP/1.1 on hyper, keep-alive connections, a fixed duration.
//!
//! Each of N connections sends one request, waits for the whole answer, and sends the next,
//! for the warm-up and then for the measured duration. Only requests sent inside the
//! measured window count, and each is timed from just before it is sent to the last byte of
//! its answer. The generator runs on its own thread and its own single-threaded runtime,
//! so that it never takes a worker of the runtime that serves the requests in-process; on
//! a machine with two cores it still competes with the server for them, as any load
//! generator on the same machine does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

use crate::stats::Percentiles;

/// The body type of every request.
pub type Body = Full<Bytes>;

/// What to send: method, path, bearer token and JSON body.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// The method.
    pub method: Method,
    /// The path and query.
    pub path: String,
    /// The bearer token, if any.
    pub bearer: Option<Arc<str>>,
    /// A JSON body, if any.
    pub body: Option<Bytes>,
}

impl RequestSpec {
    /// A GET of `path`.
    pub fn get(path: impl Into<String>, bearer: Option<Arc<str>>) -> RequestSpec {
        RequestSpec {
            method: Method::GET,
            path: path.into(),
            bearer,
            body: None,
        }
    }

    /// A POST of a JSON body to `path`.
    pub fn post_json(path: impl Into<String>, bearer: Arc<str>, body: Vec<u8>) -> RequestSpec {
        RequestSpec {
            method: Method::POST,
            path: path.into(),
            bearer: Some(bearer),
            body: Some(Bytes::from(body)),
        }
    }

    fn build(&self) -> Result<Request<Body>, String> {
        let mut b = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header(hyper::header::HOST, "127.0.0.1");
        if let Some(token) = &self.bearer {
            b = b.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match &self.body {
            Some(bytes) => {
                b = b.header(hyper::header::CONTENT_TYPE, "application/json");
                Full::new(bytes.clone())
            }
            None => Full::new(Bytes::new()),
        };
        b.body(body).map_err(|e| e.to_string())
    }
}

/// One keep-alive connection.
pub struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Body>,
}

impl Connection {
    /// Connects to `addr` (with `TCP_NODELAY`, as HTTP clients do).
    pub async fn open(addr: SocketAddr) -> Result<Connection, String> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection { sender })
    }

    /// Sends a request and reads its whole answer.
    pub async fn send(&mut self, spec: &RequestSpec) -> Result<(StatusCode, Bytes), String> {
        let request = spec.build()?;
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    }

    /// Sends a request and returns its status, body and how long the answer took.
    pub async fn timed(
        &mut self,
        spec: &RequestSpec,
    ) -> Result<(StatusCode, Bytes, Duration), String> {
        let start = Instant::now();
        let (status, body) = self.send(spec).await?;
        Ok((status, body, start.elapsed()))
    }
}

/// How to load the server.
#[derive(Debug, Clone)]
pub struct Load {
    /// Concurrent connections, each with one request in flight.
    pub connections: usize,
    /// How long to send before measuring.
    pub warmup: Duration,
    /// How long to measure.
    pub duration: Duration,
    /// The status every answer should have.
    pub expect: StatusCode,
}

/// The requests of connection `c`: its `n`-th request.
pub type RequestSource = Arc<dyn Fn(usize, u64) -> RequestSpec + Send + Sync>;

/// What a load run measured.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// Answers with the expected status inside the measured window.
    pub completed: u64,
    /// Answers with another status, or failed requests, inside the window.
    pub unexpected: u64,
    /// The first unexpected answer, for the error message.
    pub first_unexpected: Option<String>,
    /// The measured window, in seconds.
    pub seconds: f64,
    /// The latency of every expected answer, in seconds.
    pub latencies: Vec<f64>,
    /// CPU time the whole process spent in the measured window, in seconds.
    pub process_cpu: f64,
    /// CPU time the load generator's thread spent in the measured window, in seconds.
    pub generator_cpu: f64,
}

impl LoadResult {
    /// Expected answers per second.
    pub fn rate(&self) -> f64 {
        self.completed as f64 / self.seconds.max(1e-9)
    }

    /// CPU time per expected answer spent outside the load generator (the in-process
    /// server, its runtime and its database threads), in seconds. A figure the other
    /// processes of a shared machine do not change, unlike the rate.
    pub fn server_cpu_per_request(&self) -> f64 {
        (self.process_cpu - self.generator_cpu).max(0.0) / (self.completed.max(1) as f64)
    }

    /// Percentiles of the latencies.
    pub fn latency(&self) -> Percentiles {
        Percentiles::of(self.latencies.clone())
    }

    /// Adds another run's counts (for figures taken over several rounds).
    pub fn merge(&mut self, other: LoadResult) {
        self.completed += other.completed;
        self.unexpected += other.unexpected;
        if self.first_unexpected.is_none() {
            self.first_unexpected = other.first_unexpected;
        }
        self.seconds += other.seconds;
        self.latencies.extend(other.latencies);
        self.process_cpu += other.process_cpu;
        self.generator_cpu += other.generator_cpu;
    }

    /// An error when any answer was unexpected: a figure over failing requests means
    /// nothing.
    pub fn check(&self, what: &str) -> Result<(), String> {
        match &self.first_unexpected {
            Some(first) => Err(format!(
                "{what}: {} of {} answers were unexpected; the first: {first}",
                self.unexpected,
                self.unexpected + self.completed
            )),
            None if self.completed == 0 => Err(format!("{what}: no request completed")),
            None => Ok(()),
        }
    }
}

/// Runs a load against `addr` on a thread of its own and returns what it measured.
pub async fn run(
    addr: SocketAddr,
    load: Load,
    source: RequestSource,
) -> Result<LoadResult, String> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("mailplane-loadgen".into())
        .spawn(move || {
            let measured = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
                .and_then(|runtime| runtime.block_on(drive(addr, load, source)));
            let _ = done.send(measured);
        })
        .map_err(|e| e.to_string())?;
    result
        .await
        .map_err(|_| "the load generator stopped".to_string())?
}

/// CPU time of every thread of this process, in nanoseconds (Linux; zero elsewhere).
fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .map(|t| schedstat_ns(&t.path().join("schedstat")))
        .sum()
}

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    schedstat_ns(std::path::Path::new("/proc/thread-self/schedstat"))
}

/// The first field of a `schedstat` file: time spent on the CPU, in nanoseconds.
fn schedstat_ns(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

async fn drive(addr: SocketAddr, load: Load, source: RequestSource) -> Result<LoadResult, String> {
    let begin = Instant::now();
    let window_start = begin + load.warmup;
    let end = window_start + load.duration;
    let mut tasks = Vec::with_capacity(load.connections);
    for c in 0..load.connections {
        let source = source.clone();
        let expect = load.expect;
        tasks.push(tokio::spawn(async move {
            let mut out = LoadResult::default();
            let mut conn = Connection::open(addr).await?;
            let mut n = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let spec = source(c, n);
                n += 1;
                let answer = conn.send(&spec).await;
                let took = sent.elapsed().as_secs_f64();
                let counted = sent >= window_start;
                match answer {
                    Ok((status, _)) if status == expect => {
                        if counted {
                            out.completed += 1;
                            out.latencies.push(took);
                        }
                    }
                    Ok((status, body)) => {
                        if counted {
                            out.unexpected += 1;
                        }
                        out.first_unexpected.get_or_insert_with(|| {
                            format!(
                                "{} {} answered {status}: {}",
                                spec.method,
                                spec.path,
                                String::from_utf8_lossy(&body[..body.len().min(300)])
                            )
                        });
                    }
                    Err(e) => {
                        if counted {
                            out.unexpected += 1;
                        }
                        out.first_unexpected
                            .get_or_insert_with(|| format!("{} {}: {e}", spec.method, spec.path));
                        conn = Connection::open(addr).await?;
                    }
                }
            }
            Ok::<LoadResult, String>(out)
        }));
    }
    // The CPU meter runs on the generator's thread, so `thread_cpu_ns` is the generator's.
    tokio::time::sleep_until(window_start.into()).await;
    let (process_start, generator_start) = (process_cpu_ns(), thread_cpu_ns());
    tokio::time::sleep_until(end.into()).await;
    let (process_end, generator_end) = (process_cpu_ns(), thread_cpu_ns());
    let mut total = LoadResult::default();
    for t in tasks {
        let part = t.await.map_err(|e| e.to_string())??;
        total.merge(part);
    }
    total.seconds = load.duration.as_secs_f64();
    total.process_cpu = process_end.saturating_sub(process_start) as f64 / 1e9;
    total.generator_cpu = generator_end.saturating_sub(generator_start) as f64 / 1e9;
    Ok(total)
}

/// Sends `spec` `repeats` times, one after the other on one connection, and returns the
/// time of each answer; every answer must have status `expect`.
pub async fn sequential(
    addr: SocketAddr,
    specs: &[RequestSpec],
    repeats: usize,
    expect: StatusCode,
) -> Result<Vec<Vec<f64>>, String> {
    let mut conn = Connection::open(addr).await?;
    let mut times = vec![Vec::with_capacity(repeats); specs.len()];
    // Interleaved, so that a slow moment of the machine falls on every request alike.
    for _ in 0..repeats {
        for (i, spec) in specs.iter().enumerate() {
            let (status, body, took) = conn.timed(spec).await?;
            if status != expect {
                return Err(format!(
                    "{} {} answered {status}: {}",
                    spec.method,
                    spec.path,
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ));
            }
            times[i].push(took.as_secs_f64());
        }
    }
    Ok(times)
}

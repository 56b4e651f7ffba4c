//! The benchmark's own mail-server clients: Postfix's socketmap and Dovecot's dict spoken
//! over the real sockets, written here from the protocols' documentation, and the loads
//! that run them from many threads at once.
//!
//! Each client is a blocking socket on a thread of its own, one lookup in flight, as a
//! Postfix or Dovecot process asks: the server answers on the benchmark's Tokio runtime,
//! the clients compete with it for the cores as the mail servers would. Every answer is
//! checked against what the key should give (found or not found); a `TEMP` or `F` answer,
//! or a wrong one, is counted and reported, never silently timed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::stats::Percentiles;

/// Where a client connects, and which protocol and map it asks.
#[derive(Debug, Clone)]
pub enum Target {
    /// Postfix's socketmap on a TCP port, asking map `.1`.
    SocketmapTcp(SocketAddr, &'static str),
    /// Postfix's socketmap on a Unix socket, asking map `.1`.
    SocketmapUnix(PathBuf, &'static str),
    /// Dovecot's dict on a Unix socket, asking keys under `shared/<.1>/`.
    Dict(PathBuf, &'static str),
}

/// One key to ask, and whether it should be found.
#[derive(Debug, Clone)]
pub struct Key {
    /// The key (a domain name or an address).
    pub key: String,
    /// Whether the answer should be found (`OK`, `O`).
    pub found: bool,
}

/// The answer to one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Found, with its value.
    Found(String),
    /// Not found.
    NotFound,
    /// Anything else: `TEMP`, `PERM`, `F`, or a broken reply.
    Failed(String),
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// A connected client.
pub struct Client {
    reader: BufReader<Box<dyn Stream>>,
    target: Target,
    buf: Vec<u8>,
}

impl Client {
    /// Connects (and, for the dict, says hello).
    pub fn connect(target: &Target) -> Result<Client, String> {
        let stream: Box<dyn Stream> = match target {
            Target::SocketmapTcp(addr, _) => {
                let s = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
                s.set_nodelay(true).ok();
                Box::new(s)
            }
            Target::SocketmapUnix(path, _) | Target::Dict(path, _) => {
                Box::new(UnixStream::connect(path).map_err(|e| format!("{}: {e}", path.display()))?)
            }
        };
        let mut client = Client {
            reader: BufReader::new(stream),
            target: target.clone(),
            buf: Vec::with_capacity(256),
        };
        if matches!(target, Target::Dict(..)) {
            // Major 3, minor 2, value type string, no user, dict name `mailplane`.
            client.send(b"H3\t2\t0\t\tmailplane\n")?;
        }
        Ok(client)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes).map_err(|e| e.to_string())?;
        stream.flush().map_err(|e| e.to_string())
    }

    /// Asks one key and reads its answer.
    pub fn lookup(&mut self, key: &str) -> Result<Answer, String> {
        match self.target.clone() {
            Target::SocketmapTcp(_, map) | Target::SocketmapUnix(_, map) => {
                let body = format!("{map} {key}");
                self.send(format!("{}:{body},", body.len()).as_bytes())?;
                self.buf.clear();
                self.reader
                    .read_until(b':', &mut self.buf)
                    .map_err(|e| e.to_string())?;
                let len: usize = std::str::from_utf8(&self.buf[..self.buf.len().saturating_sub(1)])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .ok_or("a reply without a netstring length")?;
                let mut reply = vec![0; len + 1];
                self.reader
                    .read_exact(&mut reply)
                    .map_err(|e| e.to_string())?;
                if reply.pop() != Some(b',') {
                    return Err("a reply netstring without its comma".into());
                }
                let reply = String::from_utf8(reply).map_err(|e| e.to_string())?;
                Ok(if let Some(value) = reply.strip_prefix("OK ") {
                    Answer::Found(value.to_owned())
                } else if reply.starts_with("NOTFOUND") {
                    Answer::NotFound
                } else {
                    Answer::Failed(reply)
                })
            }
            Target::Dict(_, namespace) => {
                // Addresses hold no tab, newline or `\x01`, so no escaping is needed.
                self.send(format!("Lshared/{namespace}/{key}\t{key}\n").as_bytes())?;
                self.buf.clear();
                self.reader
                    .read_until(b'\n', &mut self.buf)
                    .map_err(|e| e.to_string())?;
                if self.buf.pop() != Some(b'\n') {
                    return Err("the dict server closed the connection".into());
                }
                let line =
                    String::from_utf8(std::mem::take(&mut self.buf)).map_err(|e| e.to_string())?;
                Ok(match line.as_bytes().first() {
                    Some(b'O') => Answer::Found(line[1..].to_owned()),
                    Some(b'N') => Answer::NotFound,
                    _ => Answer::Failed(line),
                })
            }
        }
    }
}

/// What a load measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Lookups answered inside the window.
    pub lookups: u64,
    /// The window.
    pub window: Duration,
    /// Latency of each lookup inside the window, in seconds.
    pub latency: Percentiles,
    /// Lookups that were found.
    pub found: u64,
    /// Answers that were not what the key should give (found for a missing key or the
    /// reverse), or failures.
    pub wrong: u64,
    /// The first wrong answer, to report.
    pub first_wrong: Option<String>,
}

impl Measured {
    /// Lookups per second.
    pub fn rate(&self) -> f64 {
        self.lookups as f64 / self.window.as_secs_f64().max(1e-9)
    }
}

/// What one client of a load saw.
#[derive(Default)]
struct Tally {
    samples: Vec<f64>,
    found: u64,
    wrong: u64,
    first_wrong: Option<String>,
}

/// Runs `clients` clients of `target` for `warmup` and then `window`, each asking the keys
/// in turn from its own offset; only lookups started inside the window are counted.
pub fn load(
    target: &Target,
    keys: &[Key],
    clients: usize,
    warmup: Duration,
    window: Duration,
) -> Result<Measured, String> {
    let start = Instant::now() + Duration::from_millis(20);
    let open = start + warmup;
    let close = open + window;
    let results: Vec<Result<Tally, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let target = target.clone();
                s.spawn(move || {
                    let mut client = Client::connect(&target)?;
                    let mut t = Tally::default();
                    let mut i = c * keys.len() / clients.max(1);
                    while Instant::now() < start {
                        std::thread::yield_now();
                    }
                    loop {
                        let key = &keys[i % keys.len()];
                        i += 1;
                        let t0 = Instant::now();
                        if t0 >= close {
                            break;
                        }
                        let answer = client.lookup(&key.key)?;
                        let took = t0.elapsed().as_secs_f64();
                        if t0 < open {
                            continue;
                        }
                        t.samples.push(took);
                        match &answer {
                            Answer::Found(_) if key.found => t.found += 1,
                            Answer::NotFound if !key.found => {}
                            other => {
                                t.wrong += 1;
                                t.first_wrong
                                    .get_or_insert_with(|| format!("{}: {other:?}", key.key));
                            }
                        }
                    }
                    Ok(t)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a client panicked".into())))
            .collect()
    });
    let mut all = Vec::new();
    let mut m = Measured {
        window,
        ..Measured::default()
    };
    for r in results {
        let t = r?;
        all.extend(t.samples);
        m.found += t.found;
        m.wrong += t.wrong;
        if m.first_wrong.is_none() {
            m.first_wrong = t.first_wrong;
        }
    }
    m.lookups = all.len() as u64;
    m.latency = Percentiles::of(all);
    Ok(m)
}

/// What a run of logins measured.
#[derive(Debug, Clone, Default)]
pub struct Logins {
    /// Logins completed (the passdb lookup, then the hash verified).
    pub logins: u64,
    /// From the first login to the last, over all threads.
    pub wall: Duration,
    /// Time in the passdb lookups, summed over threads.
    pub lookup: Duration,
    /// Time verifying hashes, summed over threads.
    pub verify: Duration,
    /// Logins whose password did not verify or whose lookup failed.
    pub failed: u64,
}

impl Logins {
    /// Logins per second.
    pub fn rate(&self) -> f64 {
        self.logins as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// The share of a login's time spent verifying the hash.
    pub fn hashing_share(&self) -> f64 {
        let total = (self.lookup + self.verify).as_secs_f64();
        self.verify.as_secs_f64() / total.max(1e-12)
    }
}

/// Signs the sample's mailboxes in as Dovecot does with the dict passdb, on `threads`
/// threads: the passdb lookup over the dict socket, then the Argon2id verification of the
/// password against the hash it answered. Stops when every mailbox has signed in once or
/// `limit` has passed.
pub fn logins(
    dict: &Target,
    sample: &[(String, String)],
    threads: usize,
    limit: Duration,
) -> Result<Logins, String> {
    let started = Instant::now();
    let deadline = started + limit;
    let chunk = sample.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<Result<Logins, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = sample
            .chunks(chunk)
            .map(|part| {
                let dict = dict.clone();
                s.spawn(move || {
                    let mut client = Client::connect(&dict)?;
                    let mut out = Logins::default();
                    for (address, password) in part {
                        if Instant::now() >= deadline {
                            break;
                        }
                        let t0 = Instant::now();
                        let answer = client.lookup(address)?;
                        let t1 = Instant::now();
                        let ok = match answer {
                            Answer::Found(json) => stored_hash(&json)
                                .is_some_and(|h| mailplane::passwords::verify(&h, password)),
                            _ => false,
                        };
                        let t2 = Instant::now();
                        out.lookup += t1 - t0;
                        out.verify += t2 - t1;
                        out.logins += 1;
                        out.failed += u64::from(!ok);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a login thread panicked".into()))
            })
            .collect()
    });
    let mut total = Logins::default();
    for p in parts {
        let p = p?;
        total.logins += p.logins;
        total.lookup += p.lookup;
        total.verify += p.verify;
        total.failed += p.failed;
    }
    total.wall = started.elapsed();
    Ok(total)
}

/// The PHC string in a passdb answer (`{"password": "{ARGON2ID}<phc>"}`), when the mailbox
/// may sign in.
fn stored_hash(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    if v.get("nologin").is_some() {
        return None;
    }
    v.get("password")?
        .as_str()?
        .strip_prefix("{ARGON2ID}")
        .map(str::to_owned)
}

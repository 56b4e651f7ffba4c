//! Inside Dovecot: the lookups measured where Dovecot makes them, for the same mailboxes,
//! once from a `passwd-file` of the same data (the floor) and once from Mailplane's dict,
//! one run after the other.
//!
//! Each run starts a private Dovecot on loopback, its configuration written by
//! `MailstackConfig`, its master a child of the benchmark (`dovecot -F`) stopped by its pid
//! at the end. For the floor the `passdb` and `userdb` blocks are replaced by `passwd-file`
//! ones reading a file the benchmark writes from Mailplane's own answers (the stored
//! `{ARGON2ID}` hash, and `userdb_mailplane_mailbox` and `userdb_quota_rule` as extra
//! fields, so that `mail_home` places files as in the other run). The mailboxes are the
//! password sample. Two loads run against each: LMTP deliveries (one userdb lookup per
//! recipient) and IMAP sign-ins (passdb, Argon2id and userdb). Every reply is checked; a
//! refusal stops the run with the reply and the tail of Dovecot's log.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use mailplane::mailstack::MailLookups;

use super::directory::Directory;
use super::instance::{Server, StateDir, configuration};
use super::{MailstackBench, PART, TARGET_FLOOR_RATIO, blocking};
use crate::report::{Report, Row, count, counted, duration};
use crate::stats::{Percentiles, Rng};

/// Dovecot's master.
const DOVECOT: &str = "/usr/sbin/dovecot";

/// The message each LMTP delivery carries, 200 bytes with its headers.
const MESSAGE: &str = "From: x@example.org\r\nSubject: bench\r\nMessage-ID: <b@example.org>\r\n\r\nThe Mailplane benchmark's delivery, measured inside Dovecot's LMTP server; its body pads the message to two hundred bytes in all......\r\n";

/// What one load measured.
#[derive(Debug, Clone, Default)]
struct Load {
    done: u64,
    window: Duration,
    latency: Percentiles,
}

impl Load {
    fn rate(&self) -> f64 {
        self.done as f64 / self.window.as_secs_f64().max(1e-9)
    }
}

/// Whether Dovecot is installed and the benchmark runs as root.
pub fn available() -> bool {
    super::postfix::available() && Path::new(DOVECOT).exists()
}

/// Measures LMTP deliveries and IMAP sign-ins inside Dovecot with a `passwd-file`, then
/// with Mailplane's dict at `dict`, and reports both and their ratios.
pub async fn measure(
    report: &mut Report,
    lookups: &MailLookups,
    dict: &Path,
    dir: &Directory,
    s: &MailstackBench,
) -> Result<(), String> {
    let mut users = Vec::new();
    for (address, password) in &dir.passwords {
        let hash = lookups
            .password(address)
            .await
            .map_err(|e| format!("{address}: {e}"))?
            .ok_or_else(|| format!("{address} has no password"))?
            .hash;
        let m = lookups
            .userdb(address)
            .await
            .map_err(|e| format!("{address}: {e}"))?
            .ok_or_else(|| format!("{address} is not a mailbox"))?;
        users.push(User {
            address: address.clone(),
            password: password.clone(),
            line: format!(
                "{address}:{{ARGON2ID}}{hash}::::::userdb_mailplane_mailbox={}/{} userdb_quota_rule=*:bytes={} userdb_mail_crypt_private_password={}",
                m.tenant_id,
                m.mailbox_id,
                m.quota_bytes.unwrap_or_default(),
                m.mail_crypt_password
                    .as_deref()
                    .ok_or_else(|| format!("{address}: the lookups give no storage password"))?,
            ),
        });
    }
    let (floor, ours) = blocking({
        let (dict, s) = (dict.to_path_buf(), s.clone());
        move || {
            let a = run_in("passwd-file", &dict, true, &users, &s);
            let b = run_in("dict", &dict, false, &users, &s);
            Ok((a?, b?))
        }
    })
    .await?;
    let clients = counted(s.clients as u64, "client", "clients");
    report.push(Row::info(
        PART,
        "inside Dovecot: method",
        format!(
            "a private Dovecot on loopback, run twice: `passwd-file` passdb and userdb of the {} sampled mailboxes (the stored {{ARGON2ID}} hashes, home and quota as extra fields), then the configuration as written (dict to Mailplane); {clients} each; LMTP: LHLO, then MAIL FROM, RCPT TO a random sampled mailbox, DATA, a 200-byte message, each transaction timed; IMAP: connect, LOGIN with the right password, LOGOUT, each timed; every reply checked",
            count(dir.passwords.len() as u64)
        ),
    ));
    for (what, unit, a, b) in [
        ("LMTP deliveries", "deliveries/s", &floor.0, &ours.0),
        ("IMAP sign-ins", "sign-ins/s", &floor.1, &ours.1),
    ] {
        report.push(
            Row::info(
                PART,
                format!("inside Dovecot: {what} with `passwd-file`, {clients}"),
                figure(a, unit),
            )
            .value(a.rate(), unit)
            .reference(),
        );
        report.push(
            Row::info(
                PART,
                format!("inside Dovecot: {what} with Mailplane's dict, {clients}"),
                figure(b, unit),
            )
            .value(b.rate(), unit),
        );
        let ratio = b.rate() / a.rate().max(1e-9);
        report.push(
            Row::info(
                PART,
                format!("Mailplane / passwd-file, Dovecot's {what}"),
                format!("{ratio:.2}"),
            )
            .value(ratio, "floor ratio")
            .target(
                format!(">= {TARGET_FLOOR_RATIO}"),
                ratio >= TARGET_FLOOR_RATIO,
            ),
        );
    }
    report.push(Row::info(
        PART,
        "inside Dovecot: how to read the sign-ins",
        "each sign-in verifies an Argon2id hash in Dovecot's auth worker, in both runs; that hashing, not the lookup, sets the rate, so the ratio is near 1 whatever the lookup costs",
    ));
    Ok(())
}

fn figure(l: &Load, unit: &str) -> String {
    format!(
        "{} {unit} (p50 {}, p99 {}; {})",
        count(l.rate().round() as u64),
        duration(l.latency.p50),
        duration(l.latency.p99),
        count(l.done),
    )
}

/// A sampled mailbox, its password and its `passwd-file` line.
#[derive(Debug, Clone)]
struct User {
    address: String,
    password: String,
    line: String,
}

/// Runs Dovecot in a fresh state folder, removed afterwards.
fn run_in(
    what: &str,
    dict: &Path,
    passwd_file: bool,
    users: &[User],
    s: &MailstackBench,
) -> Result<(Load, Load), String> {
    let state = StateDir::new(&format!("dovecot-{what}"))?;
    run(state.path(), dict, passwd_file, users, s)
}

/// Replaces the `passdb { … }` and `userdb { … }` blocks of `conf` by `passwd-file` ones
/// reading `file`.
fn with_passwd_file(conf: &str, file: &Path) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in conf.lines() {
        let t = line.trim();
        if skipping {
            skipping = t != "}";
            continue;
        }
        if t == "passdb {" || t == "userdb {" {
            skipping = true;
            let args = if t.starts_with("passdb") {
                format!("scheme=ARGON2ID {}", file.display())
            } else {
                file.display().to_string()
            };
            out.push_str(&format!(
                "{t}\n  driver = passwd-file\n  args = {args}\n}}\n"
            ));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Writes Dovecot's configuration in `state`, starts Dovecot and drives both loads.
fn run(
    state: &Path,
    dict: &Path,
    passwd_file: bool,
    users: &[User],
    s: &MailstackBench,
) -> Result<(Load, Load), String> {
    let config = configuration(state, None, dict.to_path_buf())?;
    let file = config.dovecot_config_file();
    if passwd_file {
        let users_file = state.join("users.passwd");
        let text: String = users.iter().map(|u| format!("{}\n", u.line)).collect();
        std::fs::write(&users_file, text).map_err(|e| format!("users.passwd: {e}"))?;
        let conf = std::fs::read_to_string(&file).map_err(|e| format!("dovecot.conf: {e}"))?;
        std::fs::write(&file, with_passwd_file(&conf, &users_file))
            .map_err(|e| format!("dovecot.conf: {e}"))?;
    }
    let dovecot = Server::start(
        "Dovecot",
        DOVECOT,
        &["-F".as_ref(), "-c".as_ref(), file.as_os_str()],
        config.dovecot_log(),
        &[config.lmtp_port, config.imap_port],
    )?;
    let lmtp = SocketAddr::from((Ipv4Addr::LOCALHOST, config.lmtp_port));
    let imap = SocketAddr::from((Ipv4Addr::LOCALHOST, config.imap_port));
    let tail = |e: String| dovecot.failed(e);
    let deliveries =
        drive(s, |c, open, close| deliver(lmtp, users, c, open, close)).map_err(tail)?;
    let sign_ins = drive(s, |c, open, close| sign_in(imap, users, c, open, close)).map_err(tail)?;
    Ok((deliveries, sign_ins))
}

/// Runs `client` on `s.clients` threads at once; each returns the durations it timed
/// inside the window after the warm-up.
fn drive(
    s: &MailstackBench,
    client: impl Fn(usize, Instant, Instant) -> Result<Vec<f64>, String> + Sync,
) -> Result<Load, String> {
    let open = Instant::now() + s.warmup;
    let close = open + s.duration;
    let client = &client;
    let results: Vec<Result<Vec<f64>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..s.clients)
            .map(|c| scope.spawn(move || client(c, open, close)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a client panicked".into())))
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(Load {
        done: all.len() as u64,
        window: s.duration,
        latency: Percentiles::of(all),
    })
}

/// One line-oriented session (LMTP or IMAP).
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: SocketAddr) -> Result<Conn, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
        stream.set_nodelay(true).ok();
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        Ok(Conn {
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn send(&mut self, text: &str) -> Result<(), String> {
        self.writer
            .write_all(text.as_bytes())
            .map_err(|e| format!("sending: {e}"))
    }

    fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| format!("reading: {e}"))?;
        if n == 0 {
            return Err("Dovecot closed the session".into());
        }
        Ok(line.trim_end().to_owned())
    }

    /// Sends `command` (none: reads the greeting) and expects an LMTP reply `want`.
    fn expect(&mut self, command: Option<&str>, want: &str) -> Result<(), String> {
        if let Some(command) = command {
            self.send(&format!("{command}\r\n"))?;
        }
        loop {
            let line = self.line()?;
            if line.as_bytes().get(3) == Some(&b'-') {
                continue;
            }
            if line.starts_with(want) {
                return Ok(());
            }
            return Err(format!("{command:?}: {line} (expected {want})"));
        }
    }

    /// Sends the IMAP command `command` tagged `tag` and expects `OK`.
    fn imap(&mut self, tag: &str, command: &str) -> Result<(), String> {
        self.send(&format!("{tag} {command}\r\n"))?;
        loop {
            let line = self.line()?;
            if let Some(rest) = line.strip_prefix(tag) {
                if rest.starts_with(" OK") {
                    return Ok(());
                }
                let shown = command.split(' ').take(2).collect::<Vec<_>>().join(" ");
                return Err(format!("{shown}: {line}"));
            }
        }
    }
}

/// One LMTP client: deliveries to random sampled mailboxes over one session.
fn deliver(
    addr: SocketAddr,
    users: &[User],
    c: usize,
    open: Instant,
    close: Instant,
) -> Result<Vec<f64>, String> {
    let mut rng = Rng::new(0xd0ec07 + c as u64);
    let mut samples = Vec::new();
    let mut conn = Conn::open(addr)?;
    conn.expect(None, "220")?;
    conn.expect(Some("LHLO bench.mailplane.test"), "250")?;
    while Instant::now() < close {
        let user = &users[rng.below(users.len())];
        let t0 = Instant::now();
        conn.expect(Some("MAIL FROM:<x@example.org>"), "250")?;
        conn.expect(Some(&format!("RCPT TO:<{}>", user.address)), "250")?;
        conn.expect(Some("DATA"), "354")?;
        conn.send(MESSAGE)?;
        conn.expect(Some("."), "250")?;
        if t0 >= open && t0 < close {
            samples.push(t0.elapsed().as_secs_f64());
        }
    }
    conn.expect(Some("QUIT"), "221").ok();
    Ok(samples)
}

/// One IMAP client: connect, `LOGIN` a random sampled mailbox, `LOGOUT`, over and over.
fn sign_in(
    addr: SocketAddr,
    users: &[User],
    c: usize,
    open: Instant,
    close: Instant,
) -> Result<Vec<f64>, String> {
    let mut rng = Rng::new(0x1a9 + c as u64);
    let mut samples = Vec::new();
    while Instant::now() < close {
        let user = &users[rng.below(users.len())];
        let t0 = Instant::now();
        let mut conn = Conn::open(addr)?;
        let greeting = conn.line()?;
        if !greeting.starts_with("* OK") {
            return Err(format!("IMAP greeting: {greeting}"));
        }
        conn.imap(
            "a",
            &format!("LOGIN {} {}", quoted(&user.address), quoted(&user.password)),
        )?;
        conn.imap("b", "LOGOUT")?;
        if t0 >= open && t0 < close {
            samples.push(t0.elapsed().as_secs_f64());
        }
    }
    Ok(samples)
}

/// An IMAP quoted string.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::with_passwd_file;
    use std::path::Path;

    #[test]
    fn the_dict_blocks_are_replaced_by_passwd_file_ones() {
        let conf = "a = 1\npassdb {\n  driver = dict\n  args = x\n}\nuserdb {\n  driver = dict\n  args = x\n}\nb = 2\n";
        let out = with_passwd_file(conf, Path::new("/s/users"));
        assert_eq!(
            out,
            "a = 1\npassdb {\n  driver = passwd-file\n  args = scheme=ARGON2ID /s/users\n}\nuserdb {\n  driver = passwd-file\n  args = /s/users\n}\nb = 2\n"
        );
    }
}

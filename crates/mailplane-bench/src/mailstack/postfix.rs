//! Inside Postfix: the lookups measured where Postfix makes them, in its SMTP server, for the
//! same recipients, once with `hash` maps of the same data and once with Mailplane's
//! socketmaps, one run after the other.
//!
//! Each run starts a private Postfix on loopback, its configuration written by
//! `MailstackConfig` (the same writer `mailplane mailstack config` uses), its master a child
//! of the benchmark stopped by its pid at the end. The quota policy check is removed from
//! `smtpd_recipient_restrictions` (only `reject_unlisted_recipient` stays), so no Dovecot
//! runs and only Postfix's own lookups are measured. The benchmark's SMTP clients, plain
//! blocking sockets on threads of their own, send `MAIL FROM`, ten `RCPT TO` and `RSET`
//! over and over, never `DATA`, and time each `RCPT TO` from the command to its reply.
//! Every reply is checked: 250 for a hosted address, 550 for an unknown one; anything else
//! stops the run with the reply. `in_flow_delay` is set to 0: Postfix opens a queue file at
//! each transaction's first accepted recipient, and since no message is ever delivered its
//! flow control would otherwise pause each of those for a second.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::directory::Directory;
use super::instance::{Server, StateDir, configuration};
use super::{MISSING_EVERY, MailstackBench, PART, TARGET_FLOOR_RATIO, blocking, floor};
use crate::report::{Report, Row, count, duration};
use crate::stats::{Percentiles, Rng};

/// Postfix's master daemon.
const POSTFIX_MASTER: &str = "/usr/lib/postfix/sbin/master";

/// `RCPT TO` commands in each transaction.
const RECIPIENTS: usize = 10;

/// Transactions in one SMTP session before the client says `QUIT` and connects again, so
/// that no session's count of errors (each 550) or junk commands (each `RSET`) nears
/// Postfix's limits.
const TRANSACTIONS_PER_SESSION: usize = 40;

/// Where a run's maps come from.
enum Maps<'a> {
    /// `hash` maps compiled from the same data, in these files (`hash:<path>`).
    Hash {
        domains: &'a str,
        mailboxes: &'a str,
        aliases: &'a str,
    },
    /// The socketmaps as written, asking Mailplane.
    Socketmap,
}

/// One recipient and whether Postfix should accept it.
#[derive(Debug, Clone)]
struct Recipient {
    address: String,
    hosted: bool,
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
struct SmtpRun {
    rcpts: u64,
    window: Duration,
    latency: Percentiles,
}

impl SmtpRun {
    fn rate(&self) -> f64 {
        self.rcpts as f64 / self.window.as_secs_f64().max(1e-9)
    }
}

/// Whether Postfix's master is installed and the benchmark runs as root (which starting
/// Postfix and giving its queue to its user takes).
pub fn available() -> bool {
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    root && Path::new(POSTFIX_MASTER).exists()
}

/// Measures `RCPT TO` inside Postfix with `hash` maps, then with Mailplane's socketmap at
/// `socketmap`, and reports both and their ratio.
pub async fn measure(
    report: &mut Report,
    postmap: &Path,
    socketmap: SocketAddr,
    dir: &Directory,
    s: &MailstackBench,
) -> Result<(), String> {
    let recipients = recipients(dir, s.keys.max(MISSING_EVERY));
    let (hash, ours) = blocking({
        let (postmap, dir, s) = (postmap.to_path_buf(), dir.clone(), s.clone());
        move || {
            let hash = {
                let state = StateDir::new("postfix-hash")?;
                let state = state.path();
                let maps = state.join("maps");
                let domains: Vec<(String, String)> = dir
                    .domains
                    .iter()
                    .map(|d| (d.clone(), "hosted".to_owned()))
                    .collect();
                let (domains, _) = floor::build(&postmap, &maps, "domains", &domains)?;
                let (mailboxes, _) = floor::build(&postmap, &maps, "mailboxes", &dir.mailboxes)?;
                let (aliases, _) = floor::build(&postmap, &maps, "aliases", &dir.aliases)?;
                let maps = Maps::Hash {
                    domains: &domains,
                    mailboxes: &mailboxes,
                    aliases: &aliases,
                };
                run(state, socketmap, &maps, &recipients, &s)?
            };
            let state = StateDir::new("postfix-socketmap")?;
            let ours = run(state.path(), socketmap, &Maps::Socketmap, &recipients, &s)?;
            Ok((hash, ours))
        }
    })
    .await?;
    let sessions = crate::report::counted(s.clients as u64, "SMTP session", "SMTP sessions");
    report.push(Row::info(
        PART,
        "inside Postfix: method",
        format!(
            "a private Postfix `smtpd` on loopback, {sessions} each sending MAIL FROM, {RECIPIENTS} × RCPT TO (four in five hosted, half mailboxes and half aliases; one in five unknown on a hosted domain), RSET, never DATA; each RCPT timed to its reply, every reply checked (250 or 550); the quota policy check removed (`smtpd_recipient_restrictions = reject_unlisted_recipient`, no Dovecot), `in_flow_delay = 0s` and the error limits raised so that no session is slowed or cut"
        ),
    ));
    report.push(
        Row::info(
            PART,
            format!("inside Postfix: RCPT TO with `hash` maps of the same data, {sessions}"),
            figure(&hash),
        )
        .value(hash.rate(), "RCPT/s")
        .reference(),
    );
    report.push(
        Row::info(
            PART,
            format!("inside Postfix: RCPT TO with Mailplane's socketmaps (TCP), {sessions}"),
            figure(&ours),
        )
        .value(ours.rate(), "RCPT/s"),
    );
    let ratio = ours.rate() / hash.rate().max(1e-9);
    report.push(
        Row::info(
            PART,
            "Mailplane / hash map, Postfix's RCPT handling",
            format!("{ratio:.2}"),
        )
        .value(ratio, "floor ratio")
        .target(
            format!(">= {TARGET_FLOOR_RATIO}"),
            ratio >= TARGET_FLOOR_RATIO,
        ),
    );
    Ok(())
}

fn figure(r: &SmtpRun) -> String {
    format!(
        "{} RCPT/s (p50 {}, p99 {}; {} RCPT TO)",
        count(r.rate().round() as u64),
        duration(r.latency.p50),
        duration(r.latency.p99),
        count(r.rcpts),
    )
}

/// The recipients, with a fixed seed: four in five hosted (mailboxes and aliases in turn),
/// one in five an unknown address on a hosted domain.
fn recipients(dir: &Directory, n: usize) -> Vec<Recipient> {
    let mut rng = Rng::new(0x5e7d);
    (0..n)
        .map(|i| {
            if (i + 1) % MISSING_EVERY == 0 {
                let domain = &dir.domains[rng.below(dir.domains.len())];
                Recipient {
                    address: format!("nobody.{i}@{domain}"),
                    hosted: false,
                }
            } else if i % 2 == 1 && !dir.aliases.is_empty() {
                Recipient {
                    address: dir.aliases[rng.below(dir.aliases.len())].0.clone(),
                    hosted: true,
                }
            } else {
                Recipient {
                    address: dir.mailboxes[rng.below(dir.mailboxes.len())].0.clone(),
                    hosted: true,
                }
            }
        })
        .collect()
}

/// Writes a Postfix configuration in `state`, starts Postfix and drives it.
fn run(
    state: &Path,
    socketmap: SocketAddr,
    maps: &Maps,
    recipients: &[Recipient],
    s: &MailstackBench,
) -> Result<SmtpRun, String> {
    let config = configuration(state, Some(socketmap), state.join("dict.sock"))?;
    let main_cf = config.postfix_config_dir().join("main.cf");
    let text = std::fs::read_to_string(&main_cf).map_err(|e| format!("main.cf: {e}"))?;
    let mut out = String::new();
    for line in text.lines() {
        let name = line.split('=').next().unwrap_or("").trim();
        let replaced = match (name, maps) {
            ("smtpd_recipient_restrictions", _) => Some("reject_unlisted_recipient".to_owned()),
            ("virtual_mailbox_domains", Maps::Hash { domains, .. }) => Some(domains.to_string()),
            ("virtual_mailbox_maps", Maps::Hash { mailboxes, .. }) => Some(mailboxes.to_string()),
            ("virtual_alias_maps", Maps::Hash { aliases, .. }) => Some(aliases.to_string()),
            // No region has a mail host of its own here: the static floor needs no table.
            ("transport_maps", Maps::Hash { .. }) => Some(String::new()),
            _ => None,
        };
        match replaced {
            Some(value) => out.push_str(&format!("{name} = {value}")),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    // So that the 550s and the RSETs neither slow nor cut a session, and the queue file
    // Postfix opens at each transaction's first accepted recipient is not held back by
    // `in_flow_delay` (no message is ever delivered, so the flow control would pause a
    // second for each).
    out.push_str(&format!(
        "in_flow_delay = 0s\nsmtpd_hard_error_limit = 1000\nsmtpd_soft_error_limit = 1000\nsmtpd_junk_command_limit = 1000\nsmtpd_recipient_limit = 1000\nsmtpd_client_connection_rate_limit = 0\nsmtpd_error_sleep_time = 0\ndefault_process_limit = {}\n",
        s.clients + 50
    ));
    std::fs::write(&main_cf, out).map_err(|e| format!("main.cf: {e}"))?;
    let conf = config.postfix_config_dir();
    let postfix = Server::start(
        "Postfix",
        POSTFIX_MASTER,
        &["-d".as_ref(), "-c".as_ref(), conf.as_os_str()],
        config.postfix_log(),
        &[config.smtp_port],
    )?;
    let smtp = SocketAddr::from((Ipv4Addr::LOCALHOST, config.smtp_port));
    load(smtp, recipients, s.clients, s.warmup, s.duration).map_err(|e| postfix.failed(e))
}

/// One SMTP session.
struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    line: String,
}

impl Session {
    fn open(addr: SocketAddr) -> Result<Session, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
        stream.set_nodelay(true).ok();
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut session = Session {
            reader: BufReader::new(stream),
            writer,
            line: String::new(),
        };
        session.expect(None, 220)?;
        session.expect(Some("EHLO bench.mailplane.test"), 250)?;
        Ok(session)
    }

    /// Sends `command` (none: reads the greeting) and reads the reply's code and text.
    fn command(&mut self, command: Option<&str>) -> Result<(u16, String), String> {
        if let Some(command) = command {
            self.writer
                .write_all(format!("{command}\r\n").as_bytes())
                .map_err(|e| format!("{command}: {e}"))?;
        }
        let mut text = String::new();
        loop {
            self.line.clear();
            let n = self
                .reader
                .read_line(&mut self.line)
                .map_err(|e| format!("{command:?}: {e}"))?;
            if n == 0 {
                return Err(format!("{command:?}: Postfix closed the session"));
            }
            let line = self.line.trim_end();
            text.push_str(line);
            if line.as_bytes().get(3) != Some(&b'-') {
                let code = line
                    .get(..3)
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| format!("{command:?}: not an SMTP reply: {line}"))?;
                return Ok((code, text));
            }
            text.push(' ');
        }
    }

    fn expect(&mut self, command: Option<&str>, want: u16) -> Result<(), String> {
        let (code, text) = self.command(command)?;
        if code == want {
            Ok(())
        } else {
            Err(format!("{command:?}: {text} (expected {want})"))
        }
    }
}

/// `clients` threads of SMTP sessions over `recipients`, each `RCPT TO` timed inside the
/// window after the warm-up.
fn load(
    addr: SocketAddr,
    recipients: &[Recipient],
    clients: usize,
    warmup: Duration,
    window: Duration,
) -> Result<SmtpRun, String> {
    let start = Instant::now() + Duration::from_millis(20);
    let open = start + warmup;
    let close = open + window;
    let results: Vec<Result<Vec<f64>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                scope.spawn(move || {
                    let mut samples = Vec::new();
                    let mut i = c * recipients.len() / clients.max(1);
                    while Instant::now() < start {
                        std::thread::yield_now();
                    }
                    'sessions: loop {
                        let mut session = Session::open(addr)?;
                        for _ in 0..TRANSACTIONS_PER_SESSION {
                            if Instant::now() >= close {
                                session.command(Some("QUIT")).ok();
                                break 'sessions;
                            }
                            session.expect(Some("MAIL FROM:<x@example.org>"), 250)?;
                            for _ in 0..RECIPIENTS {
                                let r = &recipients[i % recipients.len()];
                                i += 1;
                                let command = format!("RCPT TO:<{}>", r.address);
                                let t0 = Instant::now();
                                let (code, text) = session.command(Some(&command))?;
                                let took = t0.elapsed().as_secs_f64();
                                let want = if r.hosted { 250 } else { 550 };
                                if code != want {
                                    return Err(format!("{command}: {text} (expected {want})"));
                                }
                                if t0 >= open && t0 < close {
                                    samples.push(took);
                                }
                            }
                            session.expect(Some("RSET"), 250)?;
                        }
                        session.command(Some("QUIT")).ok();
                    }
                    Ok(samples)
                })
            })
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
    Ok(SmtpRun {
        rcpts: all.len() as u64,
        window,
        latency: Percentiles::of(all),
    })
}

#[cfg(test)]
mod tests {
    use super::{Directory, recipients};

    #[test]
    fn four_recipients_in_five_are_hosted_mailboxes_and_aliases_in_turn() {
        let dir = Directory {
            domains: vec!["a.example".into(), "b.example".into()],
            mailboxes: vec![("m@a.example".into(), "t/m/".into())],
            aliases: vec![("team@b.example".into(), "m@a.example".into())],
            passwords: Vec::new(),
        };
        let r = recipients(&dir, 10);
        let hosted: Vec<bool> = r.iter().map(|r| r.hosted).collect();
        assert_eq!(hosted.iter().filter(|h| **h).count(), 8);
        assert!(!hosted[4] && !hosted[9]);
        assert_eq!(r[0].address, "m@a.example");
        assert_eq!(r[1].address, "team@b.example");
        assert!(r[4].address.starts_with("nobody.4@"));
    }
}

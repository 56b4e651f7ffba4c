//! Part 8: the lookups Postfix and Dovecot make, answered by Mailplane over the real
//! protocols and sockets, beside the same lookups answered from a static Postfix map of the
//! same data, and logins with Argon2id.
//!
//! The seeded main database gets aliases, groups and a sample of passwords
//! ([`directory`]). `MailstackServer` then serves it on a loopback TCP port (socketmap) and
//! on Unix sockets (Dovecot's dict, and a second socketmap), in this process, on the
//! benchmark's runtime, as `mailplane serve` would. The benchmark's own clients
//! ([`clients`]) ask random keys, one in five of them not hosted, from many threads at once,
//! and time each lookup. The floor ([`floor`]) is Postfix's `postmap` answering the same
//! keys from a `hash` map of the same data, against the same `postmap` asking Mailplane.
//! Inside Postfix ([`postfix`]), a private Postfix's SMTP server answers `RCPT TO` for the
//! same recipients with `hash` maps and then with Mailplane's socketmaps.
//! Inside Dovecot ([`dovecot`]), a private Dovecot's LMTP deliveries and IMAP sign-ins
//! are measured with a `passwd-file` of the same mailboxes and then with Mailplane's dict.
//! Logins are the passdb lookup followed by the Argon2id verification Dovecot makes.

mod clients;
mod directory;
mod dovecot;
mod floor;
pub(crate) mod instance;
mod memory_map;
mod postfix;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use mailplane::DatabaseLocation;
use mailplane::mailstack::{MailstackServer, MailstackSettings, SocketmapListen};

use crate::report::{Report, Row, count, duration};
use crate::server;
use crate::stats::Rng;
use clients::{Key, Measured, Target};

/// How part 8 is run.
#[derive(Debug, Clone)]
pub struct MailstackBench {
    /// Concurrent clients of each lookup load.
    pub clients: usize,
    /// Warm-up before each load.
    pub warmup: Duration,
    /// Length of each load, and the longest a run of logins takes.
    pub duration: Duration,
    /// `postmap` processes run at once for the floor and Postfix's client.
    pub postmap_processes: usize,
    /// Keys of each kind (the loads cycle through them; `postmap` asks each once).
    pub keys: usize,
    /// Mailboxes given a password.
    pub password_sample: usize,
}

/// The target: Mailplane answers at least half the lookups a static map answers.
const TARGET_FLOOR_RATIO: f64 = 0.5;

/// The target for routing lookups' p99, in seconds.
const TARGET_ROUTING_P99: f64 = 0.002;

/// One key in this many is not hosted.
const MISSING_EVERY: usize = 5;

const PART: &str = "8 mailstack";

/// Runs part 8 on the seeded database at `location`, its sockets and maps in `work_dir`.
pub async fn run(
    report: &mut Report,
    location: &DatabaseLocation,
    work_dir: &Path,
    s: &MailstackBench,
) -> Result<(), String> {
    let (dir, added) = directory::prepare(location, s.password_sample).await?;
    let what = if added.aliases + added.groups + added.passwords == 0 {
        "nothing added (the database held them already)".to_owned()
    } else {
        format!(
            "{} aliases, {} groups of {} members, {} passwords in {} (hashing {})",
            count(added.aliases as u64),
            count(added.groups as u64),
            count(added.members as u64),
            count(added.passwords as u64),
            duration(added.elapsed.as_secs_f64()),
            duration(added.hashing.as_secs_f64()),
        )
    };
    report.push(Row::info(
        PART,
        "added to the main database: aliases, groups, passwords (Argon2id, a sample only)",
        format!(
            "{what}; the directory holds {} domains, {} mailboxes, {} rewritten addresses, {} passwords",
            count(dir.domains.len() as u64),
            count(dir.mailboxes.len() as u64),
            count(dir.aliases.len() as u64),
            count(dir.passwords.len() as u64),
        ),
    ));
    if dir.domains.is_empty() || dir.mailboxes.is_empty() || dir.passwords.is_empty() {
        return Err("part 8 needs domains, mailboxes and passwords".into());
    }

    let sockets = work_dir.join("mailstack");
    std::fs::create_dir_all(&sockets).map_err(|e| format!("{}: {e}", sockets.display()))?;
    // The data plane gives each mailbox's storage password, as `serve`'s does.
    let data_plane = mailplane::data_plane::FileDataPlane::open(
        &work_dir.join("mail"),
        &work_dir.join("master.key"),
    )
    .map_err(|e| format!("opening the data plane: {e}"))?;
    let cp = server::control_plane(location).await?.with_data_plane(
        std::sync::Arc::new(data_plane),
        mailplane::data_plane::DEFAULT_MAX_MESSAGE_BYTES,
    );
    let tcp = MailstackServer::start(
        cp.mail_lookups(),
        &MailstackSettings {
            socketmap: Some(SocketmapListen::Tcp(SocketAddr::from((
                Ipv4Addr::LOCALHOST,
                0,
            )))),
            dovecot_dict: Some(sockets.join("dict.sock")),
            socket_mode: 0o600,
        },
    )
    .await
    .map_err(|e| format!("starting the mail stack lookups: {e}"))?;
    let unix = MailstackServer::start(
        cp.mail_lookups(),
        &MailstackSettings {
            socketmap: Some(SocketmapListen::Unix(sockets.join("socketmap.sock"))),
            dovecot_dict: None,
            socket_mode: 0o600,
        },
    )
    .await
    .map_err(|e| format!("starting the socketmap on a Unix socket: {e}"))?;
    let addr = tcp.socketmap_addr().ok_or("the socketmap has no address")?;

    let keys = KeySets::new(&dir, s.keys.max(MISSING_EVERY));
    let loads: [(&str, Target, &[Key], bool); 6] = [
        (
            "socketmap `domains` (TCP)",
            Target::SocketmapTcp(addr, "domains"),
            &keys.domains,
            true,
        ),
        (
            "socketmap `mailboxes` (TCP)",
            Target::SocketmapTcp(addr, "mailboxes"),
            &keys.mailboxes,
            true,
        ),
        (
            "socketmap `aliases` (TCP)",
            Target::SocketmapTcp(addr, "aliases"),
            &keys.aliases,
            true,
        ),
        (
            "socketmap `mailboxes` (Unix socket)",
            Target::SocketmapUnix(sockets.join("socketmap.sock"), "mailboxes"),
            &keys.mailboxes,
            true,
        ),
        (
            "dict `userdb` (Unix socket)",
            Target::Dict(sockets.join("dict.sock"), "userdb"),
            &keys.userdb,
            false,
        ),
        (
            "dict `passdb` (Unix socket)",
            Target::Dict(sockets.join("dict.sock"), "passdb"),
            &keys.passdb,
            false,
        ),
    ];
    for (what, target, keys, routing) in loads {
        let m = blocking({
            let (target, keys, s) = (target.clone(), keys.to_vec(), s.clone());
            move || clients::load(&target, &keys, s.clients, s.warmup, s.duration)
        })
        .await?;
        if m.wrong > 0 {
            return Err(format!(
                "{what}: {} wrong answers of {}, the first {}",
                m.wrong,
                m.lookups,
                m.first_wrong.unwrap_or_default()
            ));
        }
        let row = Row::info(
            PART,
            format!("{what}, {} clients, random keys", s.clients),
            load_figure(&m),
        )
        .value(m.rate(), "lookups/s");
        report.push(if routing {
            row.target(
                format!("p99 <= {}", duration(TARGET_ROUTING_P99)),
                m.latency.p99 <= TARGET_ROUTING_P99,
            )
        } else {
            row
        });
    }

    match floor::postmap() {
        Some(postmap) => {
            postfix_floor(report, &postmap, work_dir, addr, &dir, &keys, s).await?;
            if postfix::available() {
                postfix::measure(report, &postmap, addr, &dir, s).await?;
            } else {
                report.push(Row::info(
                    PART,
                    "inside Postfix: RCPT TO with `hash` maps and with Mailplane's socketmaps",
                    "not measured: Postfix's master is not installed, or the benchmark does not run as root",
                ));
            }
        }
        None => report.push(Row::info(
            PART,
            "floor: Postfix's static maps",
            "not measured: `postmap` is not installed",
        )),
    }
    if dovecot::available() {
        let lookups = cp.mail_lookups();
        dovecot::measure(report, &lookups, &sockets.join("dict.sock"), &dir, s).await?;
    } else {
        report.push(Row::info(
            PART,
            "inside Dovecot: deliveries and sign-ins with `passwd-file` and with Mailplane's dict",
            "not measured: Dovecot is not installed, or the benchmark does not run as root",
        ));
    }

    let dict = Target::Dict(sockets.join("dict.sock"), "passdb");
    for threads in [1, 2] {
        let l = blocking({
            let (dict, sample, limit) = (dict.clone(), dir.passwords.clone(), s.duration);
            move || clients::logins(&dict, &sample, threads, limit)
        })
        .await?;
        if l.failed > 0 || l.logins == 0 {
            return Err(format!(
                "logins: {} of {} did not verify",
                l.failed, l.logins
            ));
        }
        report.push(
            Row::info(
                PART,
                format!(
                    "logins: dict `passdb` lookup + Argon2id verify (`mailplane::passwords::verify`), {}",
                    crate::report::counted(threads as u64, "thread", "threads")
                ),
                format!(
                    "{:.1} logins/s ({} logins; hashing {:.1}% of the time; lookup {} and verify {} on average)",
                    l.rate(),
                    count(l.logins),
                    l.hashing_share() * 100.0,
                    duration(l.lookup.as_secs_f64() / l.logins as f64),
                    duration(l.verify.as_secs_f64() / l.logins as f64),
                ),
            )
            .value(l.rate(), "logins/s"),
        );
    }
    drop((tcp, unix));
    std::fs::remove_dir_all(&sockets).ok();
    Ok(())
}

/// A map's name, its entries and the keys it is asked.
type Table<'a> = (&'static str, &'a [(String, String)], &'a [Key]);

/// The floor: `postmap -q -` over the same keys, from a `hash` map and from Mailplane.
async fn postfix_floor(
    report: &mut Report,
    postmap: &Path,
    work_dir: &Path,
    addr: SocketAddr,
    dir: &directory::Directory,
    keys: &KeySets,
    s: &MailstackBench,
) -> Result<(), String> {
    let maps = work_dir.join("mailstack-maps");
    let domains: Vec<(String, String)> = dir
        .domains
        .iter()
        .map(|d| (d.clone(), "hosted".to_owned()))
        .collect();
    let tables: [Table; 3] = [
        ("domains", &domains, &keys.domains),
        ("mailboxes", &dir.mailboxes, &keys.mailboxes),
        ("aliases", &dir.aliases, &keys.aliases),
    ];
    let memory = memory_map::start(
        tables
            .iter()
            .map(|(name, entries, _)| (*name, entries.iter().cloned().collect()))
            .collect(),
    )
    .await?;
    let m = blocking({
        let (target, keys, s) = (
            Target::SocketmapTcp(memory.addr, "mailboxes"),
            keys.mailboxes.clone(),
            s.clone(),
        );
        move || clients::load(&target, &keys, s.clients, s.warmup, s.duration)
    })
    .await?;
    report.push(
        Row::info(
            PART,
            format!(
                "socketmap `mailboxes` answered from a hash map in memory (TCP, the protocol alone), {} clients",
                s.clients
            ),
            load_figure(&m),
        )
        .value(m.rate(), "lookups/s")
        .reference(),
    );
    for (name, entries, keys) in tables {
        let keys: Vec<String> = keys.iter().map(|k| k.key.clone()).collect();
        let mem = memory.addr;
        let (hash, socketmap, in_memory, built) = blocking({
            let (postmap, maps, entries, processes) = (
                postmap.to_path_buf(),
                maps.clone(),
                entries.to_vec(),
                s.postmap_processes,
            );
            let name = name.to_owned();
            move || {
                let (map, built) = floor::build(&postmap, &maps, &name, &entries)?;
                let hash = floor::query(&postmap, &map, &keys, processes)?;
                let ours = format!("socketmap:inet:{addr}:{name}");
                let socketmap = floor::query(&postmap, &ours, &keys, processes)?;
                let theirs = format!("socketmap:inet:{mem}:{name}");
                let in_memory = floor::query(&postmap, &theirs, &keys, processes)?;
                Ok((hash, socketmap, in_memory, built))
            }
        })
        .await?;
        let differ = floor::differences(&hash.answers, &socketmap.answers)
            + floor::differences(&hash.answers, &in_memory.answers);
        let procs = crate::report::counted(s.postmap_processes as u64, "process", "processes");
        report.push(
            Row::info(
                PART,
                format!(
                    "floor: `postmap -q - {}:{name}`, {} keys, {procs}",
                    floor::MAP_TYPE,
                    count(hash.keys as u64)
                ),
                format!(
                    "{} lookups/s ({} found; {} entries compiled in {})",
                    count(hash.rate().round() as u64),
                    count(hash.answers.len() as u64),
                    count(entries.len() as u64),
                    duration(built.as_secs_f64())
                ),
            )
            .value(hash.rate(), "lookups/s")
            .reference(),
        );
        report.push(
            Row::info(
                PART,
                format!(
                    "`postmap -q - socketmap:inet:127.0.0.1:…:{name}` (Mailplane), the same keys, {procs}"
                ),
                format!(
                    "{} lookups/s ({} found)",
                    count(socketmap.rate().round() as u64),
                    count(socketmap.answers.len() as u64),
                ),
            )
            .value(socketmap.rate(), "lookups/s"),
        );
        report.push(
            Row::info(
                PART,
                format!(
                    "`postmap -q - socketmap:inet:127.0.0.1:…:{name}` answered from a hash map in memory (the protocol alone), the same keys, {procs}"
                ),
                format!(
                    "{} lookups/s ({} found); Mailplane / this: {:.2}",
                    count(in_memory.rate().round() as u64),
                    count(in_memory.answers.len() as u64),
                    socketmap.rate() / in_memory.rate().max(1e-9)
                ),
            )
            .value(in_memory.rate(), "lookups/s")
            .reference(),
        );
        let ratio = socketmap.rate() / hash.rate().max(1e-9);
        report.push(
            Row::info(
                PART,
                format!("Mailplane / {} map, `{name}`", floor::MAP_TYPE),
                format!(
                    "{ratio:.2} ({})",
                    if differ == 0 {
                        "the same answers to every key".to_owned()
                    } else {
                        format!("**{differ} answers differ**")
                    }
                ),
            )
            .value(ratio, "floor ratio")
            .target(
                format!(">= {TARGET_FLOOR_RATIO}"),
                ratio >= TARGET_FLOOR_RATIO && differ == 0,
            ),
        );
    }
    std::fs::remove_dir_all(&maps).ok();
    Ok(())
}

fn load_figure(m: &Measured) -> String {
    format!(
        "{} lookups/s (p50 {}, p99 {}; {} lookups, {:.0}% found)",
        count(m.rate().round() as u64),
        duration(m.latency.p50),
        duration(m.latency.p99),
        count(m.lookups),
        m.found as f64 * 100.0 / m.lookups.max(1) as f64
    )
}

/// Runs blocking work (client threads, `postmap` processes) off the runtime that serves
/// the lookups.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

/// The keys each lookup is asked with: random hosted keys (fixed seed), and one in
/// [`MISSING_EVERY`] not hosted.
struct KeySets {
    domains: Vec<Key>,
    mailboxes: Vec<Key>,
    aliases: Vec<Key>,
    userdb: Vec<Key>,
    passdb: Vec<Key>,
}

impl KeySets {
    fn new(dir: &directory::Directory, n: usize) -> KeySets {
        let mut rng = Rng::new(0x1003);
        let mut set = |hosted: &mut dyn FnMut(&mut Rng) -> Option<String>,
                       missing: &mut dyn FnMut(&mut Rng, usize) -> String| {
            (0..n)
                .map(|i| match hosted(&mut rng) {
                    Some(key) if (i + 1) % MISSING_EVERY != 0 => Key { key, found: true },
                    _ => Key {
                        key: missing(&mut rng, i),
                        found: false,
                    },
                })
                .collect::<Vec<_>>()
        };
        let domain = |rng: &mut Rng| dir.domains[rng.below(dir.domains.len())].clone();
        let nobody = |rng: &mut Rng, i: usize| format!("nobody.{i}@{}", domain(rng));
        let mailbox = |rng: &mut Rng| dir.mailboxes[rng.below(dir.mailboxes.len())].0.clone();
        KeySets {
            domains: set(&mut |rng| Some(domain(rng)), &mut |_, i| {
                format!("not-hosted-{i}.example")
            }),
            mailboxes: set(&mut |rng| Some(mailbox(rng)), &mut |rng, i| nobody(rng, i)),
            // Postfix asks the alias table for every recipient, most of them mailboxes
            // that are not rewritten: those are the keys not found here.
            aliases: set(
                &mut |rng| {
                    (!dir.aliases.is_empty())
                        .then(|| dir.aliases[rng.below(dir.aliases.len())].0.clone())
                },
                &mut |rng, _| mailbox(rng),
            ),
            userdb: set(&mut |rng| Some(mailbox(rng)), &mut |rng, i| nobody(rng, i)),
            passdb: set(
                &mut |rng| Some(dir.passwords[rng.below(dir.passwords.len())].0.clone()),
                &mut |rng, i| nobody(rng, i),
            ),
        }
    }
}

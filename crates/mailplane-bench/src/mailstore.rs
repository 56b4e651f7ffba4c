//! Part 9 of the benchmark: the mail store on Dovecot (issue 19). Imports through Mailplane's
//! Dovecot data plane beside direct LMTP delivery into the same Dovecot (the floor), in one
//! run; and the end of a tenant of many mailboxes on Dovecot: the time to the point where
//! the destruction certificate is issued (the tenant's key erased and nothing of it readable)
//! and to the point where its files are gone.
//!
//! A private Dovecot runs on free loopback ports with the configuration
//! `mailplane mailstack config` writes, asking the benchmark's own lookups over the dict
//! socket; mailboxes are named by their ids (the data plane's names), so no directory rows are
//! needed. Dovecot is stopped by its pid at the end.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailplane::data_plane::{DataPlane, DovecotDataPlane, FileDataPlane, dovecot_user};
use mailplane::mailstack::{MailstackServer, MailstackSettings};
use mailplane::types::{MailboxId, TenantId};

use crate::mailstack::instance::{Server, StateDir, configuration};
use crate::report::{Report, Row, count, duration};
use crate::server;

const PART: &str = "9 mail store";

/// Dovecot's master.
pub(crate) const DOVECOT: &str = "/usr/sbin/dovecot";

/// The part's sizes.
#[derive(Debug, Clone)]
pub struct StoreBench {
    /// Messages imported, and as many delivered over LMTP for the floor.
    pub imports: usize,
    /// Concurrent clients of both.
    pub clients: usize,
    /// The size of each message, in bytes.
    pub message_bytes: usize,
    /// Mailboxes of the tenant that is destroyed.
    pub mailboxes: usize,
    /// Messages in each of them.
    pub messages_per_mailbox: usize,
}

/// A message of about `size` bytes, different for each `n`.
pub(crate) fn message(n: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Sender <sender@example.org>\r\nTo: someone@example.net\r\nDate: Mon, 7 Dec 2026 06:00:00 +0000\r\nSubject: message {n}\r\nMessage-ID: <{n}.{}@bench.mailplane.test>\r\n\r\n",
        uuid::Uuid::now_v7().simple()
    )
    .into_bytes();
    let line =
        b"The Mailplane benchmark's mail store part pads each message with lines of text.\r\n";
    while m.len() + line.len() <= size {
        m.extend_from_slice(line);
    }
    m
}

/// Runs part 9 and adds its rows to `report`. Needs Dovecot and root; says so otherwise.
pub async fn run(report: &mut Report, work_dir: &Path, s: &StoreBench) -> Result<(), String> {
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !root || !Path::new(DOVECOT).exists() {
        report.push(Row::info(
            PART,
            "the mail store on Dovecot",
            "not measured: it needs Dovecot (/usr/sbin/dovecot) and root",
        ));
        return Ok(());
    }
    // A control plane over an empty database, for the lookups and the tenants' keys.
    let dir = work_dir.join("store");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let files = FileDataPlane::open(&dir.join("mail"), &dir.join("master.key"))
        .map_err(|e| format!("the file store: {e}"))?;
    let keys = files.keys().clone();
    let cp = server::control_plane(&crate::seed::sqlite_in(&dir.join("db")))
        .await?
        .with_data_plane(
            Arc::new(files),
            mailplane::data_plane::DEFAULT_MAX_MESSAGE_BYTES,
        );
    let state = StateDir::new("store")?;
    let dict = state.path().join("dict.sock");
    let config = configuration(state.path(), None, dict.clone())?;
    let mut lookups = MailstackServer::start(
        cp.mail_lookups(),
        &MailstackSettings {
            socketmap: None,
            dovecot_dict: Some(dict),
            // Dovecot's auth worker runs as root.
            socket_mode: 0o600,
        },
    )
    .await
    .map_err(|e| format!("the lookups: {e}"))?;
    let file = config.dovecot_config_file();
    let dovecot = Server::start(
        "Dovecot",
        DOVECOT,
        &["-F".as_ref(), "-c".as_ref(), file.as_os_str()],
        config.dovecot_log(),
        &[config.lmtp_port, config.imap_port, config.doveadm_port],
    )?;
    let settings = config
        .dovecot_settings()
        .map_err(|e| format!("Dovecot's settings: {e}"))?;
    let store = Arc::new(
        DovecotDataPlane::new(keys, settings).map_err(|e| format!("the data plane: {e}"))?,
    );
    let lmtp = SocketAddr::from((Ipv4Addr::LOCALHOST, config.lmtp_port));
    let result = measure(report, &store, lmtp, &config.mail_root(), s).await;
    let result = result.map_err(|e| dovecot.failed(e));
    lookups.stop();
    drop(dovecot);
    result
}

async fn measure(
    report: &mut Report,
    store: &Arc<DovecotDataPlane>,
    lmtp: SocketAddr,
    mail_root: &Path,
    s: &StoreBench,
) -> Result<(), String> {
    let clients = s.clients.max(1);
    report.push(Row::info(
        PART,
        "method",
        format!(
            "a private Dovecot on loopback with the generated configuration (sdbox, mail_crypt per mailbox, the userdb from Mailplane's dict); {clients} clients each; messages of {} bytes; imports through `DovecotDataPlane::import` (one IMAP session as the master user per message: APPEND with the received date, then the GUID by `UID FETCH (X-GUID)`), the floor by LMTP straight into Dovecot (LHLO, then MAIL FROM, RCPT TO, DATA per message); both into mailboxes provisioned first (their key pairs made over doveadm)",
            s.message_bytes
        ),
    ));

    // Imports and the floor, into mailboxes of two tenants, one mailbox per client each.
    let importer = TenantId::from(uuid::Uuid::now_v7());
    let deliverer = TenantId::from(uuid::Uuid::now_v7());
    let boxes: Vec<(MailboxId, MailboxId)> = (0..clients)
        .map(|_| {
            (
                MailboxId::from(uuid::Uuid::now_v7()),
                MailboxId::from(uuid::Uuid::now_v7()),
            )
        })
        .collect();
    for (a, b) in &boxes {
        store
            .provision_mailbox(importer, *a)
            .await
            .map_err(|e| format!("provisioning: {e}"))?;
        store
            .provision_mailbox(deliverer, *b)
            .await
            .map_err(|e| format!("provisioning: {e}"))?;
    }
    let per_client = s.imports.div_ceil(clients);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (c, (mailbox, _)) in boxes.iter().enumerate() {
        let (store, mailbox, size) = (store.clone(), *mailbox, s.message_bytes);
        tasks.push(tokio::spawn(async move {
            for n in 0..per_client {
                let m = message(c * per_client + n, size);
                store
                    .import(importer, mailbox, &m, time::OffsetDateTime::now_utc())
                    .await
                    .map_err(|e| format!("import: {e}"))?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let imported = t0.elapsed().as_secs_f64();
    let total = per_client * clients;
    let recipients: Vec<String> = boxes
        .iter()
        .map(|(_, b)| dovecot_user(deliverer, *b))
        .collect();
    let size = s.message_bytes;
    let delivered =
        tokio::task::spawn_blocking(move || lmtp_deliver_all(lmtp, &recipients, per_client, size))
            .await
            .map_err(|e| e.to_string())??;
    let import_rate = total as f64 / imported;
    let floor_rate = total as f64 / delivered;
    report.push(
        Row::info(
            PART,
            format!("import through Mailplane into Dovecot, {clients} clients"),
            format!(
                "{} messages/s ({} messages, {:.1} MB in {})",
                count(import_rate.round() as u64),
                count(total as u64),
                (total * size) as f64 / 1e6,
                duration(imported)
            ),
        )
        .value(import_rate, "messages/s"),
    );
    report.push(
        Row::info(
            PART,
            format!("floor: LMTP straight into the same Dovecot, {clients} clients"),
            format!(
                "{} messages/s ({} messages in {})",
                count(floor_rate.round() as u64),
                count(total as u64),
                duration(delivered)
            ),
        )
        .value(floor_rate, "messages/s")
        .reference(),
    );
    report.push(Row::info(
        PART,
        "import / LMTP",
        format!("{:.2}", import_rate / floor_rate),
    ));

    // The end of a tenant of many mailboxes.
    let tenant = TenantId::from(uuid::Uuid::now_v7());
    let mailboxes: Vec<MailboxId> = (0..s.mailboxes)
        .map(|_| MailboxId::from(uuid::Uuid::now_v7()))
        .collect();
    let t0 = Instant::now();
    for m in &mailboxes {
        store
            .provision_mailbox(tenant, *m)
            .await
            .map_err(|e| format!("provisioning: {e}"))?;
    }
    let provisioned = t0.elapsed().as_secs_f64();
    let recipients: Vec<String> = mailboxes.iter().map(|m| dovecot_user(tenant, *m)).collect();
    let (per_box, size) = (s.messages_per_mailbox, s.message_bytes);
    let filled =
        tokio::task::spawn_blocking(move || lmtp_deliver_all(lmtp, &recipients, per_box, size))
            .await
            .map_err(|e| e.to_string())??;
    let bytes = (s.mailboxes * s.messages_per_mailbox * s.message_bytes) as f64;
    report.push(Row::info(
        PART,
        "the tenant to destroy",
        format!(
            "{} mailboxes provisioned in {}, filled over LMTP with {} messages ({:.0} MB) in {}",
            count(s.mailboxes as u64),
            duration(provisioned),
            count((s.mailboxes * s.messages_per_mailbox) as u64),
            bytes / 1e6,
            duration(filled)
        ),
    ));
    let t0 = Instant::now();
    let erasure = store
        .crypto_erase_tenant(tenant)
        .await
        .map_err(|e| format!("the erase: {e}"))?;
    let erased = t0.elapsed().as_secs_f64();
    if store
        .tenant_readable(tenant)
        .await
        .map_err(|e| format!("the check: {e}"))?
    {
        return Err("the tenant is still readable after its erase".into());
    }
    let certified = t0.elapsed().as_secs_f64();
    let purged = store
        .purge_tenant(tenant)
        .await
        .map_err(|e| format!("the purge: {e}"))?;
    let gone = t0.elapsed().as_secs_f64();
    if mail_root.join(tenant.to_string()).exists() {
        return Err("the tenant's files remain after the purge".into());
    }
    if erasure.mailboxes != s.mailboxes as u64
        || erasure.messages != (s.mailboxes * s.messages_per_mailbox) as u64
        || purged.messages != erasure.messages
    {
        return Err(format!(
            "the erase counted {} mailboxes and {} messages, the purge {} messages",
            erasure.mailboxes, erasure.messages, purged.messages
        ));
    }
    report.push(
        Row::info(
            PART,
            format!(
                "end of a tenant on Dovecot: to the certificate ({} mailboxes, {:.0} MB)",
                count(s.mailboxes as u64),
                bytes / 1e6
            ),
            format!(
                "{} (the key erased after counting what Dovecot holds: {}; then nothing of the tenant reads, checked mailbox by mailbox)",
                duration(certified),
                duration(erased)
            ),
        )
        .value(certified, "s"),
    );
    report.push(
        Row::info(
            PART,
            "end of a tenant on Dovecot: to all files gone",
            format!(
                "{} ({} messages expunged, every home removed)",
                duration(gone),
                count(purged.messages)
            ),
        )
        .value(gone, "s"),
    );
    Ok(())
}

/// Delivers `per_recipient` messages of `size` bytes to each recipient over LMTP, one
/// session per recipient at once (one thread each); returns the seconds it took.
pub(crate) fn lmtp_deliver_all(
    lmtp: SocketAddr,
    recipients: &[String],
    per_recipient: usize,
    size: usize,
) -> Result<f64, String> {
    let t0 = Instant::now();
    // At most 16 sessions at once: Dovecot's LMTP service is not sized for a thousand.
    for chunk in recipients.chunks(16) {
        let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, to)| {
                    scope.spawn(move || {
                        let mut c = Lmtp::open(lmtp)?;
                        for n in 0..per_recipient {
                            c.deliver(to, &message(i * per_recipient + n, size))?;
                        }
                        c.quit();
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a client panicked".into())))
                .collect()
        });
        for r in results {
            r?;
        }
    }
    Ok(t0.elapsed().as_secs_f64())
}

/// One LMTP session.
struct Lmtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Lmtp {
    fn open(addr: SocketAddr) -> Result<Lmtp, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut c = Lmtp {
            reader: BufReader::new(stream),
            writer,
        };
        c.expect(None, "220")?;
        c.expect(Some(b"LHLO bench.mailplane.test\r\n"), "250")?;
        Ok(c)
    }

    fn expect(&mut self, command: Option<&[u8]>, want: &str) -> Result<(), String> {
        if let Some(command) = command {
            self.writer
                .write_all(command)
                .map_err(|e| format!("sending: {e}"))?;
        }
        loop {
            let mut line = String::new();
            if self
                .reader
                .read_line(&mut line)
                .map_err(|e| format!("reading: {e}"))?
                == 0
            {
                return Err("Dovecot closed the LMTP session".into());
            }
            if line.as_bytes().get(3) == Some(&b'-') {
                continue;
            }
            if line.starts_with(want) {
                return Ok(());
            }
            return Err(format!("LMTP: {} (expected {want})", line.trim_end()));
        }
    }

    fn deliver(&mut self, to: &str, message: &[u8]) -> Result<(), String> {
        self.expect(Some(b"MAIL FROM:<sender@example.org>\r\n"), "250")?;
        self.expect(Some(format!("RCPT TO:<{to}>\r\n").as_bytes()), "250")?;
        self.expect(Some(b"DATA\r\n"), "354")?;
        // The messages have no line starting with a dot: nothing to escape.
        let mut data = message.to_vec();
        data.extend_from_slice(b".\r\n");
        self.expect(Some(&data), "250")
    }

    fn quit(mut self) {
        let _ = self.writer.write_all(b"QUIT\r\n");
    }
}

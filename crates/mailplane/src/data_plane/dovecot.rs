//! The Dovecot driver: a [`DovecotDataPlane`] keeps mailboxes in a Dovecot 2.3 back end, the
//! same store Postfix delivers to over LMTP, so retention, holds, exports and the end of
//! service act on the mail people actually receive.
//!
//! Dovecot encrypts every message at rest with its `mail_crypt` plugin: each mailbox has a
//! key pair whose private key is encrypted with a password derived from the tenant's data
//! key ([`TenantKeys::mailbox_password`]), which Dovecot gets from Mailplane's userdb
//! lookup. Erasing the tenant's data key leaves Dovecot no way to open any private key of the
//! tenant: that is the cryptographic erase, on the real store.
//!
//! Two Dovecot interfaces carry the work, each where the other fails (measured, see the book
//! chapter "Running a mail stack"):
//! - the doveadm HTTP API ([`doveadm`]) for keys, counts, finding messages and deleting them;
//!   it can neither set a message's received date nor return its exact bytes;
//! - IMAP as a master user ([`imap`]) to import a message with its received date (`APPEND`
//!   with an internal date) and to read its exact bytes (`BODY.PEEK[]`).
//!
//! Dovecot knows each mailbox under two names: its addresses, for delivery and sign-in, and
//! a name made of its ids, [`dovecot_user`], for this driver. The userdb answers the second
//! from the ids alone, so a mailbox stays reachable for its destruction after its addresses
//! are gone. Dovecot cannot list the mailboxes of a tenant, so the driver records each one
//! it provisions beside the tenant's key (`<tenant>/dovecot-mailboxes-<back end>/<mailbox>`).
//!
//! A relocated tenant's mailbox goes to another Dovecot back end by dsync (doveadm `backup`,
//! then `sync`, to the other back end's doveadm TCP listener, both sharing
//! `doveadm_password`): the messages keep their guids, received dates and flags, and the
//! encrypted keys travel in the mailbox's attributes, opened there by the same password
//! (derived from the tenant's key, which every data plane shares). The copy is checked by
//! comparing guids (`dsync.rs`). To or from any other data plane, the trait's export and import
//! serve.

mod doveadm;
mod dsync;
mod imap;
mod names;

pub(super) use names::crlf;
pub use names::dovecot_user;
pub(crate) use names::parse_dovecot_user;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use mailplane_types::{Error, MailboxId, Result, TenantId};

use self::doveadm::{Doveadm, Failure, field, number};
use self::imap::ImapSession;
use super::{CopyMode, DataPlane, StoredMessage, TenantErasure, TenantKeys, Usage};
use crate::files::{remove_dir_if_exists, remove_file_if_exists};

/// The prefix of the folder, under a tenant's key folder, that records its mailboxes in a
/// Dovecot back end.
const MAILBOXES: &str = "dovecot-mailboxes";

/// How to reach and drive one Dovecot back end.
#[derive(Clone)]
pub struct DovecotSettings {
    /// The doveadm HTTP API, `http://host:port`.
    pub doveadm_url: String,
    /// The doveadm API key (`doveadm_api_key`).
    pub api_key: String,
    /// Dovecot's IMAP, for the master user.
    pub imap: SocketAddr,
    /// The master user (a `master = yes` passdb), signed in as `<mailbox>*<master user>`.
    pub master_user: String,
    /// The master user's password.
    pub master_password: String,
    /// Dovecot's mail root when its files are on this machine: a destroyed mailbox's home
    /// (`<mail root>/<tenant>/<mailbox>`, its indexes and its encrypted keys) is then
    /// removed too. Without it, Dovecot keeps those files, which hold no message.
    pub mail_root: Option<PathBuf>,
    /// Dovecot's doveadm TCP listener, where another back end's dsync connects to copy
    /// mailboxes here (`doveadm_password` shared by both), or `None`.
    pub dsync: Option<SocketAddr>,
    /// The limit of each request to Dovecot.
    pub timeout: Duration,
}

impl std::fmt::Debug for DovecotSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DovecotSettings")
            .field("doveadm_url", &self.doveadm_url)
            .field("imap", &self.imap)
            .field("master_user", &self.master_user)
            .field("mail_root", &self.mail_root)
            .field("dsync", &self.dsync)
            .finish_non_exhaustive()
    }
}

/// The Dovecot data plane. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DovecotDataPlane {
    keys: TenantKeys,
    doveadm: Doveadm,
    settings: DovecotSettings,
    /// The folder name, under each tenant's key folder, of this back end's record of the
    /// tenant's mailboxes: one per back end, named after its doveadm address.
    registry: String,
}

/// A message as doveadm lists it.
#[derive(Debug, Clone)]
struct Listed {
    guid: uuid::Uuid,
    folder: String,
    uid: u32,
    received_at: OffsetDateTime,
    size: u64,
}

impl DovecotDataPlane {
    /// A data plane over the Dovecot `settings` name, with the tenants' data keys of `keys`
    /// (the deployment's, shared with its other data planes).
    pub fn new(keys: TenantKeys, settings: DovecotSettings) -> Result<DovecotDataPlane> {
        let doveadm = Doveadm::new(&settings.doveadm_url, &settings.api_key, settings.timeout)?;
        let registry = format!(
            "{MAILBOXES}-{}",
            &hex::encode(Sha256::digest(settings.doveadm_url.as_bytes()))[..16]
        );
        Ok(DovecotDataPlane {
            keys,
            doveadm,
            settings,
            registry,
        })
    }

    fn registry(&self, tenant: TenantId) -> PathBuf {
        self.keys.tenant_dir(tenant).join(&self.registry)
    }

    /// Records that the mailbox has storage in Dovecot (once; a second call only looks).
    fn record(&self, tenant: TenantId, mailbox: MailboxId) -> Result<()> {
        let dir = self.registry(tenant);
        let path = dir.join(mailbox.to_string());
        if path.exists() {
            return Ok(());
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        std::fs::write(&path, b"")
            .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))
    }

    /// Whether the mailbox is recorded here. Dovecot stores nothing for a mailbox before its
    /// password is asked, which records it: an unrecorded mailbox holds nothing here, and is
    /// not asked about (doveadm would make its home).
    fn is_recorded(&self, tenant: TenantId, mailbox: MailboxId) -> bool {
        self.registry(tenant).join(mailbox.to_string()).exists()
    }

    /// The mailboxes of the tenant that have storage in Dovecot.
    fn recorded(&self, tenant: TenantId) -> Result<Vec<MailboxId>> {
        let dir = self.registry(tenant);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(Error::internal(format!("listing {}: {e}", dir.display()))),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::internal(format!("listing {}: {e}", dir.display())))?;
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<uuid::Uuid>().ok())
            {
                out.push(id.into());
            }
        }
        out.sort_by_key(|m: &MailboxId| m.to_string());
        Ok(out)
    }

    async fn imap(&self, tenant: TenantId, mailbox: MailboxId) -> Result<ImapSession> {
        ImapSession::login(
            self.settings.imap,
            &format!(
                "{}*{}",
                dovecot_user(tenant, mailbox),
                self.settings.master_user
            ),
            &self.settings.master_password,
            self.settings.timeout,
        )
        .await
    }

    /// The messages of the mailbox that `query` matches (a doveadm search query, built
    /// here), oldest first.
    async fn list(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        query: Value,
    ) -> Result<Vec<Listed>> {
        if !self.is_recorded(tenant, mailbox) {
            return Ok(vec![]);
        }
        let rows = match self
            .doveadm
            .run(
                "fetch",
                json!({
                    "user": dovecot_user(tenant, mailbox),
                    "field": ["guid", "mailbox", "uid", "date.received.unixtime", "size.virtual"],
                    "query": query,
                }),
            )
            .await?
        {
            Ok(rows) => rows,
            // A mailbox Dovecot has never seen holds nothing.
            Err(Failure::NoUser | Failure::NotFound) => return Ok(vec![]),
            Err(f) => return Err(Error::internal(format!("doveadm fetch failed: {f:?}"))),
        };
        let mut out = rows
            .iter()
            .map(|row| {
                let guid = field(row, "guid")?;
                Ok(Listed {
                    guid: guid.parse().map_err(|_| {
                        Error::internal(format!(
                            "Dovecot's message guid {guid} is not 128 bits: the mailboxes must be in sdbox or mdbox format"
                        ))
                    })?,
                    folder: field(row, "mailbox")?.to_owned(),
                    uid: u32::try_from(number(row, "uid")?)
                        .map_err(|_| Error::internal(format!("a uid out of range: {row}")))?,
                    received_at: OffsetDateTime::from_unix_timestamp(
                        number(row, "date.received.unixtime")? as i64,
                    )
                    .map_err(|_| Error::internal(format!("a date out of range: {row}")))?,
                    size: number(row, "size.virtual")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|m| (m.received_at, m.guid));
        Ok(out)
    }

    /// Reads the listed messages' bytes over IMAP, folder by folder, in the list's order.
    async fn read_listed(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        listed: &[Listed],
        sink: &mut (dyn FnMut(&Listed, Vec<u8>) -> Result<()> + Send),
    ) -> Result<()> {
        if listed.is_empty() {
            return Ok(());
        }
        let mut session = self.imap(tenant, mailbox).await?;
        let mut open: Option<&str> = None;
        for message in listed {
            if open != Some(message.folder.as_str()) {
                session.examine(&message.folder).await?;
                open = Some(message.folder.as_str());
            }
            let bytes = session.fetch(message.uid).await?.ok_or_else(|| {
                Error::Unavailable(format!(
                    "message {} went away while it was read; try again",
                    message.guid
                ))
            })?;
            sink(message, bytes)?;
        }
        session.logout().await;
        Ok(())
    }

    /// Deletes the messages `query` matches; returns what they held.
    async fn expunge(&self, tenant: TenantId, mailbox: MailboxId, query: Value) -> Result<Usage> {
        let listed = self.list(tenant, mailbox, query.clone()).await?;
        if listed.is_empty() {
            return Ok(Usage::default());
        }
        self.doveadm
            .rows(
                "expunge",
                json!({ "user": dovecot_user(tenant, mailbox), "query": query }),
            )
            .await?;
        Ok(Usage {
            messages: listed.len() as u64,
            bytes: listed.iter().map(|m| m.size).sum(),
        })
    }

    fn home(&self, root: &Path, tenant: TenantId, mailbox: MailboxId) -> PathBuf {
        root.join(tenant.to_string()).join(mailbox.to_string())
    }
}

/// A time as doveadm's search query takes it: a Unix timestamp, compared to the second.
fn unix(at: OffsetDateTime) -> String {
    at.unix_timestamp().to_string()
}

#[async_trait::async_trait]
impl DataPlane for DovecotDataPlane {
    async fn provision_mailbox(&self, tenant: TenantId, mailbox: MailboxId) -> Result<()> {
        // The key first: without the password it gives, Dovecot cannot make the mailbox's
        // key pair (and its doveadm process dies trying).
        self.keys.data_key(tenant, true)?;
        self.record(tenant, mailbox)?;
        // Idempotent: a second call answers the key pair the first made.
        self.doveadm
            .rows(
                "mailboxCryptokeyGenerate",
                json!({ "user": dovecot_user(tenant, mailbox), "userKeyOnly": true }),
            )
            .await?;
        Ok(())
    }

    async fn import(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        message: &[u8],
        at: OffsetDateTime,
    ) -> Result<StoredMessage> {
        if message.contains(&0) {
            return Err(Error::invalid(
                "message",
                "must not contain NUL bytes: Dovecot's IMAP cannot store them",
            ));
        }
        // Dovecot keeps lines without their CR and gives them back with it: the message is
        // stored, and its size and digest taken, in that form, so that it reads back exactly.
        let message = crlf(message);
        let message = message.as_slice();
        // The key and the record; Dovecot makes the mailbox's key pair at its first save,
        // with the password the userdb gives.
        self.keys.data_key(tenant, true)?;
        self.record(tenant, mailbox)?;
        let mut session = self.imap(tenant, mailbox).await?;
        let uid = session.append("INBOX", message, at).await?.ok_or_else(|| {
            Error::internal("Dovecot answered APPEND without the new message's uid (UIDPLUS)")
        })?;
        session.examine("INBOX").await?;
        let guid = session.guid(uid).await?.ok_or_else(|| {
            Error::Unavailable(format!(
                "the message appended as uid {uid} is gone; try again"
            ))
        })?;
        session.logout().await;
        Ok(StoredMessage {
            id: guid.parse().map_err(|_| {
                Error::internal(format!(
                    "Dovecot's message guid {guid} is not 128 bits: the mailboxes must be in sdbox or mdbox format"
                ))
            })?,
            size: message.len() as u64,
            sha256: hex::encode(Sha256::digest(message)),
            // IMAP's internal date has whole seconds.
            received_at: at.replace_nanosecond(0).unwrap_or(at),
        })
    }

    async fn usage(&self, tenant: TenantId, mailbox: MailboxId) -> Result<Usage> {
        if !self.is_recorded(tenant, mailbox) {
            return Ok(Usage::default());
        }
        let rows = match self
            .doveadm
            .run(
                "mailboxStatus",
                json!({
                    "user": dovecot_user(tenant, mailbox),
                    "field": ["messages", "vsize"],
                    "mailboxMask": ["*"],
                }),
            )
            .await?
        {
            Ok(rows) => rows,
            Err(Failure::NoUser | Failure::NotFound) => return Ok(Usage::default()),
            Err(f) => {
                return Err(Error::internal(format!(
                    "doveadm mailboxStatus failed: {f:?}"
                )));
            }
        };
        let mut usage = Usage::default();
        for row in &rows {
            usage.messages += number(row, "messages")?;
            usage.bytes += number(row, "vsize")?;
        }
        Ok(usage)
    }

    async fn export(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        sink: &mut (dyn for<'m> FnMut(&'m StoredMessage, &'m [u8]) -> Result<()> + Send),
    ) -> Result<()> {
        let listed = self
            .list(tenant, mailbox, json!(["mailbox", "*", "all"]))
            .await?;
        if !listed.is_empty() && !self.keys.exists(tenant) {
            return Err(Error::not_found(
                "data key",
                format!("of tenant {tenant} (never written, or erased)"),
            ));
        }
        self.read_listed(tenant, mailbox, &listed, &mut |m, bytes| {
            let stored = StoredMessage {
                id: m.guid,
                size: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&bytes)),
                received_at: m.received_at,
            };
            sink(&stored, &bytes)
        })
        .await
    }

    async fn read(&self, tenant: TenantId, mailbox: MailboxId, id: uuid::Uuid) -> Result<Vec<u8>> {
        if !self.keys.exists(tenant) {
            return Err(Error::not_found(
                "data key",
                format!("of tenant {tenant} (never written, or erased)"),
            ));
        }
        let listed = self
            .list(tenant, mailbox, json!(["guid", id.simple().to_string()]))
            .await?;
        if listed.is_empty() {
            return Err(Error::not_found("message", id));
        }
        let mut out = None;
        self.read_listed(tenant, mailbox, &listed[..1], &mut |_, bytes| {
            out = Some(bytes);
            Ok(())
        })
        .await?;
        out.ok_or_else(|| Error::not_found("message", id))
    }

    async fn delete_older_than(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        before: OffsetDateTime,
    ) -> Result<Usage> {
        self.expunge(
            tenant,
            mailbox,
            json!(["mailbox", "*", "before", unix(before)]),
        )
        .await
    }

    async fn destroy_mailbox(&self, tenant: TenantId, mailbox: MailboxId) -> Result<Usage> {
        // An unrecorded mailbox holds no message here (see `is_recorded`); a home made since
        // a first destruction is still removed.
        if !self.is_recorded(tenant, mailbox) {
            if let Some(root) = &self.settings.mail_root {
                remove_dir_if_exists(&self.home(root, tenant, mailbox))?;
            }
            return Ok(Usage::default());
        }
        let removed = self
            .expunge(tenant, mailbox, json!(["mailbox", "*", "all"]))
            .await?;
        let user = dovecot_user(tenant, mailbox);
        // The folders besides INBOX, which Dovecot never deletes.
        let folders = match self
            .doveadm
            .run("mailboxList", json!({ "user": user }))
            .await?
        {
            Ok(rows) => rows,
            Err(Failure::NoUser | Failure::NotFound) => vec![],
            Err(f) => {
                return Err(Error::internal(format!(
                    "doveadm mailboxList failed: {f:?}"
                )));
            }
        };
        let others: Vec<&str> = folders
            .iter()
            .filter_map(|row| row.get("mailbox").and_then(Value::as_str))
            .filter(|name| !name.eq_ignore_ascii_case("INBOX"))
            .collect();
        if !others.is_empty() {
            match self
                .doveadm
                .run(
                    "mailboxDelete",
                    json!({ "user": user, "mailbox": others, "recursive": true }),
                )
                .await?
            {
                // A folder deleted by an earlier try is not found now.
                Ok(_) | Err(Failure::NotFound) => {}
                Err(f) => {
                    return Err(Error::internal(format!(
                        "doveadm mailboxDelete failed: {f:?}"
                    )));
                }
            }
        }
        if let Some(root) = &self.settings.mail_root {
            remove_dir_if_exists(&self.home(root, tenant, mailbox))?;
        }
        remove_file_if_exists(&self.registry(tenant).join(mailbox.to_string()))?;
        Ok(removed)
    }

    async fn crypto_erase_tenant(&self, tenant: TenantId) -> Result<TenantErasure> {
        // A retry after a crash between the record and the key's removal finds the record.
        if let Some(erasure) = self.keys.erasure(tenant)? {
            self.keys.erase(tenant, &erasure)?;
            return Ok(erasure);
        }
        let mut erasure = TenantErasure::default();
        let key_id = self.keys.key_id(tenant)?;
        erasure.key_ids.extend(key_id);
        // What Dovecot holds, counted before the key goes: the certificate names it.
        for mailbox in self.recorded(tenant)? {
            let usage = self.usage(tenant, mailbox).await?;
            erasure.messages += usage.messages;
            erasure.bytes += usage.bytes;
            erasure.mailboxes += 1;
        }
        if key_id.is_none() && erasure.mailboxes == 0 {
            self.keys.forget(tenant)?;
            return Ok(erasure);
        }
        self.keys.erase(tenant, &erasure)?;
        Ok(erasure)
    }

    async fn purge_tenant(&self, tenant: TenantId) -> Result<Usage> {
        if self.keys.exists(tenant) {
            return Err(Error::conflict(
                None,
                format!(
                    "the data key of tenant {tenant} still exists: erase it before removing the files"
                ),
            ));
        }
        let mut removed = Usage::default();
        for mailbox in self.recorded(tenant)? {
            let r = self.destroy_mailbox(tenant, mailbox).await?;
            removed.messages += r.messages;
            removed.bytes += r.bytes;
        }
        remove_dir_if_exists(&self.registry(tenant))?;
        if let Some(root) = &self.settings.mail_root {
            remove_dir_if_exists(&root.join(tenant.to_string()))?;
        }
        Ok(removed)
    }

    async fn tenant_readable(&self, tenant: TenantId) -> Result<bool> {
        if self.keys.exists(tenant) {
            return Ok(true);
        }
        self.keys.forget(tenant)?;
        // Without the key nobody can give Dovecot a mailbox's password. Dovecot is asked all
        // the same: a message whose text it still returns is readable, whatever the reason.
        for mailbox in self.recorded(tenant)? {
            let answer = self
                .doveadm
                .run(
                    "fetch",
                    json!({
                        "user": dovecot_user(tenant, mailbox),
                        "field": ["text"],
                        "query": ["mailbox", "*", "all"],
                    }),
                )
                .await;
            match answer {
                Ok(Ok(rows)) if !rows.is_empty() => return Ok(true),
                // Nothing stored, or Dovecot cannot open the private key (its temporary
                // failure, exit code 75): nothing of the mailbox reads.
                Ok(_) | Err(Error::Unavailable(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    async fn mail_crypt_password(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
    ) -> Result<Option<String>> {
        let password = self.keys.mailbox_password(tenant, mailbox)?;
        // Dovecot asks for the password before it stores anything for a mailbox, mail from
        // Postfix included: the mailbox is recorded then, so that the tenant's end finds
        // every mailbox this back end holds.
        self.record(tenant, mailbox)?;
        Ok(Some(password))
    }

    async fn export_key(&self, tenant: TenantId) -> Result<crate::sealed::SealingKey> {
        self.keys.export_key(tenant)
    }

    async fn holds_tenant(&self, tenant: TenantId) -> Result<bool> {
        Ok(!self.recorded(tenant)?.is_empty())
    }

    fn dsync_address(&self) -> Option<SocketAddr> {
        self.settings.dsync
    }

    async fn end_sessions(&self, _tenant: TenantId, users: &[String]) -> Result<()> {
        for user in users {
            // `kick` finds the user's processes through Dovecot's anvil and ends them; a user
            // with no session is no failure.
            match self.doveadm.run("kick", json!({ "mask": [user] })).await? {
                Ok(_) | Err(Failure::NoUser | Failure::NotFound) => {}
                Err(f) => {
                    return Err(Error::Unavailable(format!(
                        "Dovecot's doveadm kick of {user} failed: {f:?}"
                    )));
                }
            }
        }
        Ok(())
    }

    async fn message_ids(&self, tenant: TenantId, mailbox: MailboxId) -> Result<Vec<uuid::Uuid>> {
        Ok(self
            .list(tenant, mailbox, json!(["mailbox", "*", "all"]))
            .await?
            .into_iter()
            .map(|m| m.guid)
            .collect())
    }

    async fn copy_mailbox_to(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        dest: &dyn DataPlane,
        mode: CopyMode,
    ) -> Result<Usage> {
        self.dsync_to(tenant, mailbox, dest, mode).await
    }

    async fn missing_at(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        dest: &dyn DataPlane,
    ) -> Result<u64> {
        self.missing_there(tenant, mailbox, dest).await
    }

    async fn describe(
        &self,
        _tenant: TenantId,
    ) -> Result<Option<crate::certificate::CertifiedStore>> {
        Ok(Some(crate::certificate::CertifiedStore {
            name: format!("Dovecot with mail_crypt at {}", self.settings.doveadm_url),
            method: "cryptographic erase of the tenant's data key, from which the password of every mailbox's mail_crypt private key (EC) is derived, then the mailboxes removed".into(),
        }))
    }

    fn export_link_key(&self) -> Result<[u8; 32]> {
        Ok(self.keys.export_link_key())
    }
}

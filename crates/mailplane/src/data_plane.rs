//! The data plane: where mailboxes' messages live, behind a trait so that real mail stores
//! can be plugged in, and the embedded driver that keeps them as encrypted files.
//!
//! The control plane decides who may do what; a [`DataPlane`] only stores. The embedded
//! [`FileDataPlane`] keeps each message as one file under the data directory, encrypted at
//! rest with XChaCha20-Poly1305 under a per-tenant data key. Each data key is stored only
//! wrapped (encrypted) by the master key, a 32-byte key file created at first start with
//! mode 0600, or given by configuration. Destroying a tenant's wrapped key makes every file
//! of the tenant unreadable at once (cryptographic erase), whatever happens to the files.
//! The reference matrix makes storage encryption the provider's (`storage.encrypt`, RA).
//! Export archives and their staged messages are sealed under a key derived from the same
//! data key ([`DataPlane::export_key`]), so the erase covers them too. Export download links
//! are authenticated with a key of their own ([`DataPlane::export_link_key`]), which the
//! embedded driver derives from the master key by HKDF under a label of its own: it shares
//! no material with the destruction certificates' signing key, so neither a leaked link key
//! nor a rotated certificate key affects the other.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use mailplane_types::{Error, MailboxId, Result, TenantId};

use crate::files::{remove_dir_if_exists, remove_file_if_exists, sync_dir, write_atomically};

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredMessage {
    /// The message's id in the mailbox.
    pub id: uuid::Uuid,
    /// Its size in bytes, as imported.
    pub size: u64,
    /// The SHA-256 of the message as imported, hex.
    pub sha256: String,
    /// When it was received (imported).
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

/// What destroying a tenant's data did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantErasure {
    /// The ids of the data keys destroyed (every wrapped copy of each).
    pub key_ids: Vec<uuid::Uuid>,
    /// The messages whose files were removed.
    pub messages: u64,
    /// Their size in bytes.
    pub bytes: u64,
    /// The mailboxes whose storage was removed.
    pub mailboxes: u64,
}

/// A mailbox's use of storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// How many messages it holds.
    pub messages: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// Where mailboxes' messages live. Implementations must make every method safe to repeat:
/// a step retried after a crash finds what the first try left and finishes it.
#[async_trait::async_trait]
pub trait DataPlane: Send + Sync + 'static {
    /// Makes storage ready for a mailbox (idempotent).
    async fn provision_mailbox(&self, tenant: TenantId, mailbox: MailboxId) -> Result<()>;
    /// Stores a message received at `at`.
    async fn import(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        message: &[u8],
        at: OffsetDateTime,
    ) -> Result<StoredMessage>;
    /// How much a mailbox holds.
    async fn usage(&self, tenant: TenantId, mailbox: MailboxId) -> Result<Usage>;
    /// Exports a mailbox: hands every message, decrypted, to `sink`, oldest first, each
    /// read and decrypted once. A sink's error stops the export and is returned.
    async fn export(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        sink: &mut (dyn for<'m> FnMut(&'m StoredMessage, &'m [u8]) -> Result<()> + Send),
    ) -> Result<()>;
    /// One message, decrypted.
    async fn read(&self, tenant: TenantId, mailbox: MailboxId, id: uuid::Uuid) -> Result<Vec<u8>>;
    /// Deletes the messages received before `before`; returns what was deleted.
    async fn delete_older_than(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        before: OffsetDateTime,
    ) -> Result<Usage>;
    /// Removes a mailbox's messages and storage (idempotent); returns what was removed.
    async fn destroy_mailbox(&self, tenant: TenantId, mailbox: MailboxId) -> Result<Usage>;
    /// Cryptographically erases a tenant's data: its data key and every wrapped copy of it
    /// are destroyed, so that from then on nothing of the tenant opens, whatever happens to
    /// the files. Returns the key ids destroyed and what the files held. Idempotent: a
    /// retry after a crash returns what the first try erased.
    async fn crypto_erase_tenant(&self, tenant: TenantId) -> Result<TenantErasure>;
    /// Removes every file of a tenant whose key is erased; returns what was removed.
    /// Idempotent. Refused while the tenant's key still exists.
    async fn purge_tenant(&self, tenant: TenantId) -> Result<Usage>;
    /// Destroys a tenant's data: the cryptographic erase, then the removal of its files.
    async fn destroy_tenant(&self, tenant: TenantId) -> Result<TenantErasure> {
        let erasure = self.crypto_erase_tenant(tenant).await?;
        self.purge_tenant(tenant).await?;
        Ok(erasure)
    }
    /// Whether anything of the tenant is still readable: a data key that opens, or a file
    /// that decrypts. Used to check a destruction before it is certified.
    async fn tenant_readable(&self, tenant: TenantId) -> Result<bool>;
    /// The key a tenant's export files (staged messages and archives) are sealed with
    /// ([`crate::sealed`]). It must follow from the tenant's data key and be kept by no one,
    /// so that the tenant's cryptographic erase makes its exports unreadable like its
    /// messages. Made with the data key on first use; refused once the tenant is erased.
    async fn export_key(&self, tenant: TenantId) -> Result<crate::sealed::SealingKey>;
    /// The key export download links are authenticated with (an HMAC key, the same for
    /// every process of a deployment, so that a link made by one replica opens on another).
    /// It must be a secret of its own, never derived from the certificate signing key.
    fn export_link_key(&self) -> Result<[u8; 32]>;
}

/// The HKDF info label of the export-link key: changing it invalidates every link issued.
const EXPORT_LINK_INFO: &[u8] = b"mailplane export download links v2";

/// HKDF-SHA256 (RFC 5869) of one 32-byte block: extract with `salt`, expand with `info`.
fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut extract =
        <Hmac<Sha256> as Mac>::new_from_slice(salt).expect("HMAC takes a key of any length");
    extract.update(ikm);
    let prk = extract.finalize().into_bytes();
    let mut expand =
        <Hmac<Sha256> as Mac>::new_from_slice(&prk).expect("HMAC takes a key of any length");
    expand.update(info);
    expand.update(&[1]);
    expand.finalize().into_bytes().into()
}

/// The largest message the embedded driver takes by default: 25 MiB, the common limit of
/// hosted mail services.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;

/// The length of XChaCha20's nonce.
const NONCE: usize = 24;
/// The length of Poly1305's tag.
const TAG: usize = 16;

/// A 256-bit key. Debug never shows it.
#[derive(Clone)]
struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<secret>)")
    }
}

impl Key {
    fn random() -> Key {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Key(k)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// Encrypts with a random nonce; the output is the nonce followed by the ciphertext.
    fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad })
            .map_err(|_| Error::internal("encrypting a message failed"))?;
        let mut out = Vec::with_capacity(NONCE + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what [`Key::seal`] produced with the same associated data.
    fn open(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE + TAG {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().ok()?;
        self.cipher()
            .decrypt(&XNonce::from(nonce), Payload { msg: body, aad })
            .ok()
    }
}

/// Reads the master key file, or creates it (32 random bytes, mode 0600) when it does not
/// exist. A file of another length is refused: a truncated key must not pass for a key.
pub fn master_key_file(path: &Path) -> Result<()> {
    crate::files::key32_file(path, "master_key").map(|_| ())
}

/// The embedded data plane: encrypted files under a root folder.
///
/// Layout: `<root>/<tenant>/data.key` holds the tenant's data key wrapped by the master key;
/// `<root>/<tenant>/<mailbox>/<received-unix-nanos>-<message-id>.msg` holds one message,
/// sealed with the data key and bound to its tenant, mailbox and id.
#[derive(Clone)]
pub struct FileDataPlane {
    root: PathBuf,
    master: Key,
    max_message_bytes: usize,
    keys: Arc<Mutex<HashMap<TenantId, Key>>>,
}

impl std::fmt::Debug for FileDataPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDataPlane")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl FileDataPlane {
    /// A data plane storing under `root`, with the master key read from `master_key` (see
    /// [`master_key_file`], which creates it).
    pub fn open(root: &Path, master_key: &Path) -> Result<FileDataPlane> {
        let master = crate::files::key32_file(master_key, "master_key")?;
        std::fs::create_dir_all(root)
            .map_err(|e| Error::internal(format!("creating {}: {e}", root.display())))?;
        Ok(FileDataPlane {
            root: root.to_path_buf(),
            master: Key(master),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            keys: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The same data plane refusing messages larger than `bytes`.
    pub fn with_max_message_bytes(mut self, bytes: usize) -> FileDataPlane {
        self.max_message_bytes = bytes;
        self
    }

    /// The largest message it takes.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    fn tenant_dir(&self, tenant: TenantId) -> PathBuf {
        self.root.join(tenant.to_string())
    }

    fn mailbox_dir(&self, tenant: TenantId, mailbox: MailboxId) -> PathBuf {
        self.tenant_dir(tenant).join(mailbox.to_string())
    }

    /// The tenant's data key: unwrapped from `data.key`, or, when `create` is set (a write),
    /// made and wrapped on first use. A read never makes a key: after an erase, there is
    /// nothing to read with.
    fn data_key(&self, tenant: TenantId, create: bool) -> Result<Key> {
        let mut keys = self
            .keys
            .lock()
            .map_err(|_| Error::internal("the data key cache is poisoned"))?;
        let dir = self.tenant_dir(tenant);
        let path = dir.join("data.key");
        // A cached key serves only while its file exists: another process may have erased
        // it, and an erased key must not keep opening files here.
        if let Some(k) = keys.get(&tenant) {
            if path.exists() {
                return Ok(k.clone());
            }
            keys.remove(&tenant);
        }
        let aad = format!("mailplane data key of tenant {tenant}");
        let key = if path.exists() {
            let stored = std::fs::read(&path)
                .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?;
            let wrapped = stored.get(16..).ok_or_else(|| {
                Error::internal(format!("the data key of tenant {tenant} is malformed"))
            })?;
            let aad = format!("{aad} id {}", key_id_of(&stored)?);
            let plain = self.master.open(wrapped, aad.as_bytes()).ok_or_else(|| {
                Error::internal(format!(
                    "the data key of tenant {tenant} does not open with the master key"
                ))
            })?;
            Key(plain.as_slice().try_into().map_err(|_| {
                Error::internal(format!("the data key of tenant {tenant} is malformed"))
            })?)
        } else if dir.join(ERASURE_RECORD).exists() {
            // An erased tenant never gets a new key: nothing is stored for it again.
            return Err(Error::conflict(
                None,
                format!("the data of tenant {tenant} was destroyed: nothing can be stored for it"),
            ));
        } else if !create {
            return Err(Error::not_found(
                "data key",
                format!("of tenant {tenant} (never written, or erased)"),
            ));
        } else {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
            let key = Key::random();
            let id = uuid::Uuid::now_v7();
            let wrapped = self
                .master
                .seal(&key.0, format!("{aad} id {id}").as_bytes())?;
            let mut stored = id.as_bytes().to_vec();
            stored.extend_from_slice(&wrapped);
            write_atomically(&path, &stored)?;
            key
        };
        keys.insert(tenant, key.clone());
        Ok(key)
    }

    /// Drops a tenant's key from this process's cache.
    fn forget_key(&self, tenant: TenantId) -> Result<()> {
        self.keys
            .lock()
            .map_err(|_| Error::internal("the data key cache is poisoned"))?
            .remove(&tenant);
        Ok(())
    }

    /// The mailboxes that have a folder under the tenant's.
    fn mailbox_dirs(&self, tenant: TenantId) -> Result<Vec<MailboxId>> {
        let dir = self.tenant_dir(tenant);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(Error::internal(format!("listing {}: {e}", dir.display()))),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| Error::internal(format!("listing {}: {e}", dir.display())))?
                .path();
            if !path.is_dir() {
                continue;
            }
            if let Some(m) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<uuid::Uuid>().ok())
            {
                out.push(m.into());
            }
        }
        Ok(out)
    }

    fn files(&self, tenant: TenantId, mailbox: MailboxId) -> Result<Vec<(PathBuf, MessageName)>> {
        let dir = self.mailbox_dir(tenant, mailbox);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(Error::internal(format!("listing {}: {e}", dir.display()))),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::internal(format!("listing {}: {e}", dir.display())))?;
            let path = entry.path();
            if let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(MessageName::parse)
            {
                out.push((path, name));
            }
        }
        out.sort_by_key(|(_, n)| (n.received_nanos, n.id));
        Ok(out)
    }
}

/// The record of a tenant's cryptographic erase, written before its key is removed.
const ERASURE_RECORD: &str = "erased.json";

/// The id of a stored data key: its first 16 bytes.
fn key_id_of(stored: &[u8]) -> Result<uuid::Uuid> {
    stored
        .get(..16)
        .and_then(|b| uuid::Uuid::from_slice(b).ok())
        .ok_or_else(|| Error::internal("a stored data key is malformed"))
}

/// What a message's file name says: when it was received and its id.
#[derive(Debug, Clone, Copy)]
struct MessageName {
    received_nanos: i128,
    id: uuid::Uuid,
}

impl MessageName {
    fn parse(name: &str) -> Option<MessageName> {
        let stem = name.strip_suffix(".msg")?;
        let (nanos, id) = stem.split_once('-')?;
        Some(MessageName {
            received_nanos: nanos.parse().ok()?,
            id: uuid::Uuid::parse_str(id).ok()?,
        })
    }

    fn file_name(&self) -> String {
        format!("{}-{}.msg", self.received_nanos, self.id.simple())
    }

    fn received_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.received_nanos)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// Binds a sealed message to its place, so a file moved to another mailbox does not open.
fn message_aad(tenant: TenantId, mailbox: MailboxId, id: uuid::Uuid) -> String {
    format!("mailplane message {tenant}/{mailbox}/{id}")
}

/// The plaintext size of a sealed file.
fn plain_size(sealed_len: u64) -> u64 {
    sealed_len.saturating_sub((NONCE + TAG) as u64)
}

#[async_trait::async_trait]
impl DataPlane for FileDataPlane {
    async fn provision_mailbox(&self, tenant: TenantId, mailbox: MailboxId) -> Result<()> {
        self.data_key(tenant, true)?;
        let dir = self.mailbox_dir(tenant, mailbox);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))
    }

    async fn import(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        message: &[u8],
        at: OffsetDateTime,
    ) -> Result<StoredMessage> {
        self.provision_mailbox(tenant, mailbox).await?;
        let key = self.data_key(tenant, true)?;
        let id = uuid::Uuid::now_v7();
        let name = MessageName {
            received_nanos: at.unix_timestamp_nanos(),
            id,
        };
        let sealed = key.seal(message, message_aad(tenant, mailbox, id).as_bytes())?;
        let path = self.mailbox_dir(tenant, mailbox).join(name.file_name());
        let this = path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&this, &sealed))
            .await
            .map_err(|e| Error::internal(format!("the write task failed: {e}")))??;
        Ok(StoredMessage {
            id,
            size: message.len() as u64,
            sha256: hex::encode(Sha256::digest(message)),
            received_at: name.received_at(),
        })
    }

    async fn usage(&self, tenant: TenantId, mailbox: MailboxId) -> Result<Usage> {
        let mut usage = Usage::default();
        for (path, _) in self.files(tenant, mailbox)? {
            let len = std::fs::metadata(&path)
                .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?
                .len();
            usage.messages += 1;
            usage.bytes += plain_size(len);
        }
        Ok(usage)
    }

    async fn export(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        sink: &mut (dyn for<'m> FnMut(&'m StoredMessage, &'m [u8]) -> Result<()> + Send),
    ) -> Result<()> {
        let files = self.files(tenant, mailbox)?;
        if files.is_empty() {
            return Ok(());
        }
        let key = self.data_key(tenant, false)?;
        for (path, name) in files {
            let sealed = std::fs::read(&path)
                .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?;
            let plain = key
                .open(&sealed, message_aad(tenant, mailbox, name.id).as_bytes())
                .ok_or_else(|| {
                    Error::internal(format!("message {} does not open with its key", name.id))
                })?;
            let message = StoredMessage {
                id: name.id,
                size: plain.len() as u64,
                sha256: hex::encode(Sha256::digest(&plain)),
                received_at: name.received_at(),
            };
            sink(&message, &plain)?;
        }
        Ok(())
    }

    async fn read(&self, tenant: TenantId, mailbox: MailboxId, id: uuid::Uuid) -> Result<Vec<u8>> {
        let key = self.data_key(tenant, false)?;
        let (path, _) = self
            .files(tenant, mailbox)?
            .into_iter()
            .find(|(_, n)| n.id == id)
            .ok_or_else(|| Error::not_found("message", id))?;
        let sealed = std::fs::read(&path)
            .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?;
        key.open(&sealed, message_aad(tenant, mailbox, id).as_bytes())
            .ok_or_else(|| Error::internal(format!("message {id} does not open with its key")))
    }

    async fn delete_older_than(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        before: OffsetDateTime,
    ) -> Result<Usage> {
        let cutoff = before.unix_timestamp_nanos();
        let mut deleted = Usage::default();
        for (path, name) in self.files(tenant, mailbox)? {
            if name.received_nanos >= cutoff {
                continue;
            }
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            // A file deleted by an earlier try is not counted again: the step is idempotent.
            if remove_file_if_exists(&path)? {
                deleted.messages += 1;
                deleted.bytes += plain_size(len);
            }
        }
        Ok(deleted)
    }

    async fn destroy_mailbox(&self, tenant: TenantId, mailbox: MailboxId) -> Result<Usage> {
        // Every message, whenever it was received.
        let removed = self
            .delete_older_than(
                tenant,
                mailbox,
                OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT),
            )
            .await?;
        remove_dir_if_exists(&self.mailbox_dir(tenant, mailbox))?;
        Ok(removed)
    }

    async fn crypto_erase_tenant(&self, tenant: TenantId) -> Result<TenantErasure> {
        let dir = self.tenant_dir(tenant);
        let record = dir.join(ERASURE_RECORD);
        let key_path = dir.join("data.key");
        // A retry after a crash between the record and the key's removal finds the record.
        if let Ok(bytes) = std::fs::read(&record) {
            let erasure: TenantErasure = serde_json::from_slice(&bytes)
                .map_err(|e| Error::internal(format!("reading {}: {e}", record.display())))?;
            remove_file_if_exists(&key_path)?;
            self.forget_key(tenant)?;
            return Ok(erasure);
        }
        let mut erasure = TenantErasure::default();
        let stored = match std::fs::read(&key_path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(Error::internal(format!(
                    "reading {}: {e}",
                    key_path.display()
                )));
            }
        };
        if let Some(stored) = &stored {
            erasure.key_ids.push(key_id_of(stored)?);
        }
        // What the files hold, counted before the key goes: the certificate names it.
        for mailbox in self.mailbox_dirs(tenant)? {
            let usage = self.usage(tenant, mailbox).await?;
            erasure.messages += usage.messages;
            erasure.bytes += usage.bytes;
            erasure.mailboxes += 1;
        }
        if stored.is_none() && !dir.exists() {
            // Nothing was ever stored for the tenant.
            self.forget_key(tenant)?;
            return Ok(erasure);
        }
        let json = serde_json::to_vec(&erasure)
            .map_err(|e| Error::internal(format!("serialising an erasure: {e}")))?;
        write_atomically(&record, &json)?;
        // The key: once it is gone, every file of the tenant is ciphertext without a key.
        remove_file_if_exists(&key_path)?;
        sync_dir(&dir)?;
        self.forget_key(tenant)?;
        Ok(erasure)
    }

    async fn purge_tenant(&self, tenant: TenantId) -> Result<Usage> {
        let dir = self.tenant_dir(tenant);
        if dir.join("data.key").exists() {
            return Err(Error::conflict(
                None,
                format!(
                    "the data key of tenant {tenant} still exists: erase it before removing the files"
                ),
            ));
        }
        let mut removed = Usage::default();
        for mailbox in self.mailbox_dirs(tenant)? {
            let r = self.destroy_mailbox(tenant, mailbox).await?;
            removed.messages += r.messages;
            removed.bytes += r.bytes;
        }
        remove_dir_if_exists(&dir)?;
        Ok(removed)
    }

    async fn tenant_readable(&self, tenant: TenantId) -> Result<bool> {
        if self.tenant_dir(tenant).join("data.key").exists() {
            return Ok(true);
        }
        // Without the key file nothing decrypts, in this process or another: a key still
        // cached here is never served once its file is gone (see `data_key`), so it is
        // dropped now rather than counted. Counting it made a server that had read the tenant
        // before another server erased it report the tenant as still readable.
        self.forget_key(tenant)?;
        Ok(false)
    }

    async fn export_key(&self, tenant: TenantId) -> Result<crate::sealed::SealingKey> {
        let key = self.data_key(tenant, true)?;
        Ok(crate::sealed::SealingKey::derive(
            &key.0,
            &format!("mailplane export files of tenant {tenant}"),
        ))
    }

    fn export_link_key(&self) -> Result<[u8; 32]> {
        Ok(hkdf_sha256(&[], &self.master.0, EXPORT_LINK_INFO))
    }
}

/// Checks that bytes look like an RFC 5322 message: a header section of `Name: value`
/// lines (folded lines allowed), ended by an empty line or the end of the message, with at
/// least a `From` and a `Date` header, as RFC 5322 requires. Returns the rule broken.
pub fn rfc5322_rule(message: &[u8]) -> Option<String> {
    if message.is_empty() {
        return Some("must not be empty".into());
    }
    let text = match std::str::from_utf8(message) {
        Ok(t) => t.to_string(),
        // Bodies may be 8-bit; only the header section must be ASCII.
        Err(_) => String::from_utf8_lossy(message).into_owned(),
    };
    let header_end = text
        .find("\r\n\r\n")
        .or_else(|| text.find("\n\n"))
        .unwrap_or(text.len());
    let headers = &text[..header_end];
    let (mut from, mut date) = (false, false);
    for (i, line) in headers.lines().enumerate() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if i == 0 {
                return Some("must start with a header line, not a folded one".into());
            }
            continue;
        }
        let Some((name, _)) = line.split_once(':') else {
            return Some(format!(
                "header line {} is not `Name: value`: {}",
                i + 1,
                line.chars().take(60).collect::<String>()
            ));
        };
        if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b)) {
            return Some(format!("header line {} has no valid field name", i + 1));
        }
        match name.to_ascii_lowercase().as_str() {
            "from" => from = true,
            "date" => date = true,
            _ => {}
        }
    }
    match (from, date) {
        (true, true) => None,
        (false, _) => Some("must have a From header (RFC 5322, section 3.6)".into()),
        (_, false) => Some("must have a Date header (RFC 5322, section 3.6)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_rfc_5869_test_case_1() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        // The first 32 bytes of the test case's 42-byte OKM.
        assert_eq!(
            hex::encode(hkdf_sha256(&salt, &ikm, &info)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        );
    }

    #[test]
    fn the_export_link_key_follows_the_master_key_alone() {
        let dir = temp();
        let dp = FileDataPlane::open(&dir.join("mail"), &dir.join("master.key")).unwrap();
        let key = dp.export_link_key().unwrap();
        // Another process on the same master key makes the same links.
        let again = FileDataPlane::open(&dir.join("other"), &dir.join("master.key")).unwrap();
        assert_eq!(again.export_link_key().unwrap(), key);
        // It is neither the master key nor its export files' key material.
        assert_ne!(key, dp.master.0);
        let other = FileDataPlane::open(&dir.join("mail2"), &dir.join("master2.key")).unwrap();
        assert_ne!(other.export_link_key().unwrap(), key);
        std::fs::remove_dir_all(&dir).ok();
    }

    fn temp() -> PathBuf {
        let d = std::env::temp_dir().join(format!("mp-dp-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const MESSAGE: &[u8] =
        b"From: a@example.com\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: secret plans\r\n\r\nHello.\r\n";

    #[tokio::test]
    async fn messages_are_encrypted_at_rest_and_read_back() {
        let dir = temp();
        let dp = FileDataPlane::open(&dir.join("mail"), &dir.join("master.key")).unwrap();
        let (t, m) = (TenantId::new(), MailboxId::new());
        let stored = dp
            .import(t, m, MESSAGE, OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert_eq!(stored.size, MESSAGE.len() as u64);
        let on_disk: Vec<Vec<u8>> = dp
            .files(t, m)
            .unwrap()
            .into_iter()
            .map(|(p, _)| std::fs::read(p).unwrap())
            .collect();
        assert_eq!(on_disk.len(), 1);
        assert!(!on_disk[0].windows(12).any(|w| w == b"secret plans"));
        assert_eq!(dp.read(t, m, stored.id).await.unwrap(), MESSAGE);
        assert_eq!(
            dp.usage(t, m).await.unwrap(),
            Usage {
                messages: 1,
                bytes: MESSAGE.len() as u64
            }
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another process with the same master key reads it; another master key does not.
        let again = FileDataPlane::open(&dir.join("mail"), &dir.join("master.key")).unwrap();
        assert_eq!(again.read(t, m, stored.id).await.unwrap(), MESSAGE);
        let other = FileDataPlane::open(&dir.join("mail"), &dir.join("other.key")).unwrap();
        assert!(other.read(t, m, stored.id).await.is_err());
        // A file moved to another mailbox does not open there.
        let m2 = MailboxId::new();
        dp.provision_mailbox(t, m2).await.unwrap();
        let (path, name) = dp.files(t, m).unwrap().remove(0);
        std::fs::copy(&path, dp.mailbox_dir(t, m2).join(name.file_name())).unwrap();
        assert!(dp.read(t, m2, stored.id).await.is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn old_messages_are_deleted_by_age_and_mailboxes_destroyed() {
        let dir = temp();
        let dp = FileDataPlane::open(&dir.join("mail"), &dir.join("master.key")).unwrap();
        let (t, m) = (TenantId::new(), MailboxId::new());
        let now = OffsetDateTime::now_utc();
        dp.import(t, m, MESSAGE, now - time::Duration::days(400))
            .await
            .unwrap();
        dp.import(t, m, MESSAGE, now - time::Duration::days(10))
            .await
            .unwrap();
        let gone = dp
            .delete_older_than(t, m, now - time::Duration::days(365))
            .await
            .unwrap();
        assert_eq!(gone.messages, 1);
        assert_eq!(dp.usage(t, m).await.unwrap().messages, 1);
        let removed = dp.destroy_mailbox(t, m).await.unwrap();
        assert_eq!(removed.messages, 1);
        assert!(!dp.mailbox_dir(t, m).exists());
        assert_eq!(
            dp.destroy_mailbox(t, m).await.unwrap().messages,
            0,
            "idempotent"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn destroying_a_tenant_erases_its_key_first_and_then_its_files() {
        let dir = temp();
        let dp = FileDataPlane::open(&dir.join("mail"), &dir.join("master.key")).unwrap();
        let (t, keep) = (TenantId::new(), TenantId::new());
        let (m1, m2, m3) = (MailboxId::new(), MailboxId::new(), MailboxId::new());
        let now = OffsetDateTime::now_utc();
        for m in [m1, m2] {
            dp.import(t, m, MESSAGE, now).await.unwrap();
        }
        let kept = dp.import(keep, m3, MESSAGE, now).await.unwrap();
        // A second process holding the same files: it must not read after the erase either.
        let other = FileDataPlane::open(&dir.join("mail"), &dir.join("master.key")).unwrap();
        let mut exported = Vec::new();
        dp.export(t, m1, &mut |m, bytes| {
            exported.push((m.id, bytes.to_vec()));
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(exported.len(), 1);
        assert_eq!(exported[0].1, MESSAGE);
        let id = exported[0].0;
        let key_before = std::fs::read(dp.tenant_dir(t).join("data.key")).unwrap();
        let erasure = dp.destroy_tenant(t).await.unwrap();
        assert_eq!(erasure.key_ids, vec![key_id_of(&key_before).unwrap()]);
        assert_eq!((erasure.mailboxes, erasure.messages), (2, 2));
        assert_eq!(erasure.bytes, 2 * MESSAGE.len() as u64);
        assert!(!dp.tenant_dir(t).exists());
        assert!(!dp.tenant_readable(t).await.unwrap());
        assert!(other.read(t, m1, id).await.is_err());
        // Idempotent, and the other tenant is untouched.
        assert_eq!(
            dp.destroy_tenant(t).await.unwrap(),
            TenantErasure::default()
        );
        assert_eq!(dp.read(keep, m3, kept.id).await.unwrap(), MESSAGE);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn between_the_erase_and_the_purge_nothing_opens_and_a_retry_knows_what_went() {
        let dir = temp();
        let dp = FileDataPlane::open(&dir.join("mail"), &dir.join("master.key")).unwrap();
        let t = TenantId::new();
        let m = MailboxId::new();
        let stored = dp
            .import(t, m, MESSAGE, OffsetDateTime::now_utc())
            .await
            .unwrap();
        // A second process that has read, and so holds the key in memory.
        let other = FileDataPlane::open(&dir.join("mail"), &dir.join("master.key")).unwrap();
        assert_eq!(other.read(t, m, stored.id).await.unwrap(), MESSAGE);
        let witness = FileDataPlane::open(&dir.join("mail"), &dir.join("master.key")).unwrap();
        assert_eq!(witness.read(t, m, stored.id).await.unwrap(), MESSAGE);
        assert!(dp.tenant_readable(t).await.unwrap());
        assert!(
            dp.purge_tenant(t).await.is_err(),
            "no purge while the key exists"
        );
        let key = std::fs::read(dp.tenant_dir(t).join("data.key")).unwrap();
        let erasure = dp.crypto_erase_tenant(t).await.unwrap();
        assert_eq!(erasure.key_ids, vec![key_id_of(&key).unwrap()]);
        assert_eq!((erasure.messages, erasure.bytes), (1, MESSAGE.len() as u64));
        // The ciphertext is still there; nothing opens it, here or in the other process.
        assert!(dp.mailbox_dir(t, m).exists());
        assert!(dp.read(t, m, stored.id).await.is_err());
        assert!(other.read(t, m, stored.id).await.is_err());
        assert!(!dp.tenant_readable(t).await.unwrap());
        // A process that read before the erase and has not tried since must not call the
        // tenant readable either (it checks the erase another server made).
        assert!(!witness.tenant_readable(t).await.unwrap());
        assert!(
            dp.import(t, m, MESSAGE, OffsetDateTime::now_utc())
                .await
                .is_err()
        );
        // A retry after a crash returns what the first erase destroyed.
        assert_eq!(dp.crypto_erase_tenant(t).await.unwrap(), erasure);
        assert_eq!(dp.purge_tenant(t).await.unwrap().messages, 1);
        assert!(!dp.tenant_dir(t).exists());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn messages_must_look_like_rfc_5322() {
        assert!(rfc5322_rule(MESSAGE).is_none());
        assert!(rfc5322_rule(b"").is_some());
        assert!(
            rfc5322_rule(b"just some text\r\n")
                .unwrap()
                .contains("Name: value")
        );
        assert!(
            rfc5322_rule(b"From: a@b.example\r\n\r\nbody")
                .unwrap()
                .contains("Date")
        );
        assert!(
            rfc5322_rule(b"Date: Mon, 23 Nov 2026 10:00:00 +0000\n\nbody")
                .unwrap()
                .contains("From")
        );
        let folded = b"From: a@b.example\r\nDate: Mon,\r\n 23 Nov 2026 10:00:00 +0000\r\n\r\nx";
        assert!(rfc5322_rule(folded).is_none());
    }
}

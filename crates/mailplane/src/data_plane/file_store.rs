//! The embedded driver: a [`FileDataPlane`] keeps each message as one file under the data
//! directory, sealed with XChaCha20-Poly1305 under the tenant's data key, which is stored
//! only wrapped by the master key. Removing the wrapped key is the cryptographic erase.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use mailplane_types::{Error, MailboxId, Result, TenantId};

#[cfg(test)]
use super::keys::hkdf_sha256;
#[cfg(test)]
use super::keys::key_id_of;
use super::keys::{Key, NONCE, TAG, TenantKeys};
use super::{DataPlane, StoredMessage, TenantErasure, Usage};
use crate::files::{remove_dir_if_exists, remove_file_if_exists, write_atomically};

/// The largest message the embedded driver takes by default: 25 MiB, the common limit of
/// hosted mail services.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;

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
    keys: TenantKeys,
    max_message_bytes: usize,
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
            keys: TenantKeys::new(root, Key(master)),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
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

    /// The tenants' data keys, kept beside their messages: `<root>/<tenant>/data.key`.
    /// Other data planes of the deployment share them, so that one erase covers every store.
    pub fn keys(&self) -> &TenantKeys {
        &self.keys
    }

    fn data_key(&self, tenant: TenantId, create: bool) -> Result<Key> {
        self.keys.data_key(tenant, create)
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
        // A retry after a crash between the record and the key's removal finds the record.
        if let Some(erasure) = self.keys.erasure(tenant)? {
            self.keys.erase(tenant, &erasure)?;
            return Ok(erasure);
        }
        let mut erasure = TenantErasure::default();
        let key_id = self.keys.key_id(tenant)?;
        erasure.key_ids.extend(key_id);
        // What the files hold, counted before the key goes: the certificate names it.
        for mailbox in self.mailbox_dirs(tenant)? {
            let usage = self.usage(tenant, mailbox).await?;
            erasure.messages += usage.messages;
            erasure.bytes += usage.bytes;
            erasure.mailboxes += 1;
        }
        if key_id.is_none() && !self.tenant_dir(tenant).exists() {
            // Nothing was ever stored for the tenant.
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
        for mailbox in self.mailbox_dirs(tenant)? {
            let r = self.destroy_mailbox(tenant, mailbox).await?;
            removed.messages += r.messages;
            removed.bytes += r.bytes;
        }
        remove_dir_if_exists(&self.tenant_dir(tenant))?;
        Ok(removed)
    }

    async fn tenant_readable(&self, tenant: TenantId) -> Result<bool> {
        if self.keys.exists(tenant) {
            return Ok(true);
        }
        // Without the key file nothing decrypts, in this process or another: a key still
        // cached here is never served once its file is gone (see `TenantKeys::data_key`), so
        // it is dropped now rather than counted. Counting it made a server that had read the
        // tenant before another server erased it report the tenant as still readable.
        self.keys.forget(tenant)?;
        Ok(false)
    }

    async fn mail_crypt_password(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
    ) -> Result<Option<String>> {
        self.keys.mailbox_password(tenant, mailbox).map(Some)
    }

    async fn export_key(&self, tenant: TenantId) -> Result<crate::sealed::SealingKey> {
        self.keys.export_key(tenant)
    }

    async fn describe(
        &self,
        _tenant: TenantId,
    ) -> Result<Option<crate::certificate::CertifiedStore>> {
        Ok(Some(crate::certificate::CertifiedStore {
            name: "Mailplane embedded file store".into(),
            method: "cryptographic erase of the tenant's data key (XChaCha20-Poly1305, one key per tenant, wrapped by the master key), then the files removed".into(),
        }))
    }

    fn export_link_key(&self) -> Result<[u8; 32]> {
        Ok(self.keys.export_link_key())
    }
}

#[cfg(test)]
mod tests;

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
//! nor a rotated certificate key affects the other. The embedded driver lives in
//! `file_store.rs`, the Dovecot driver in `dovecot.rs`, the tenants' data keys they share in
//! `keys.rs`; this module holds the trait and the values it speaks in.
//!
//! A tenant relocated to another region has its mailboxes copied from one data plane to
//! another ([`DataPlane::copy_mailbox_to`]): between two Dovecot back ends by dsync, which
//! keeps every message's guid, received date and flags; otherwise by export and import, which
//! copies what the destination lacks, compared by the digest of each message's bytes with
//! CRLF line ends (the form Dovecot gives back). [`DataPlane::missing_at`] counts what the
//! destination still lacks, the check before the old copy is destroyed.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use mailplane_types::{MailboxId, Result, TenantId};

mod dovecot;
mod file_store;
mod keys;
mod mail_hosts;
mod regions;

pub(crate) use dovecot::parse_dovecot_user;
pub use dovecot::{DovecotDataPlane, DovecotSettings, dovecot_user};
pub use file_store::{DEFAULT_MAX_MESSAGE_BYTES, FileDataPlane, master_key_file};
pub use keys::TenantKeys;
pub use mail_hosts::{DovecotHost, MailHosts, RegionMailHost};
pub use regions::RegionalDataPlane;

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

/// How [`DataPlane::copy_mailbox_to`] copies a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMode {
    /// The first copy, while mail still arrives at the source: the destination is made to
    /// hold what the source holds (dsync `backup`).
    Backup,
    /// The catch-up after routing moved: both sides keep what they hold and get what the
    /// other has (dsync `sync`), so mail already delivered to the destination stays.
    Sync,
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
    /// The password Dovecot's `mail_crypt` opens the mailbox's private key with, handed to
    /// Dovecot by the userdb lookup (`mail_crypt_private_password`). It must follow from the
    /// tenant's data key, so that the tenant's cryptographic erase also locks every message
    /// Dovecot holds for it. `None` when this data plane gives Dovecot no key; Dovecot then
    /// refuses to store for the mailbox (`mail_crypt_require_encrypted_user_key`).
    async fn mail_crypt_password(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
    ) -> Result<Option<String>> {
        let _ = (tenant, mailbox);
        Ok(None)
    }
    /// Where another Dovecot back end's dsync reaches this data plane (its doveadm TCP
    /// listener), or `None` when this data plane takes copies only by import.
    fn dsync_address(&self) -> Option<SocketAddr> {
        None
    }
    /// Ends the open sessions (IMAP, POP3) of the users named, the addresses they signed in
    /// with: a suspension or a deletion refuses new sign-ins, and this closes those made
    /// before. The default has no sessions to end.
    async fn end_sessions(&self, tenant: TenantId, users: &[String]) -> Result<()> {
        let _ = (tenant, users);
        Ok(())
    }
    /// Whether this data plane holds mailboxes of the tenant (a Dovecot back end's record of
    /// them); the default says no. A tenant from before its region had several back ends is
    /// placed on the one that holds its mail.
    async fn holds_tenant(&self, tenant: TenantId) -> Result<bool> {
        let _ = tenant;
        Ok(false)
    }
    /// The ids of the mailbox's messages, as [`StoredMessage::id`] names them.
    async fn message_ids(&self, tenant: TenantId, mailbox: MailboxId) -> Result<Vec<uuid::Uuid>> {
        let mut ids = Vec::new();
        self.export(tenant, mailbox, &mut |m, _| {
            ids.push(m.id);
            Ok(())
        })
        .await?;
        Ok(ids)
    }
    /// Copies the mailbox's messages to the same mailbox in `dest` (a tenant's relocation).
    /// Safe to repeat: a message `dest` holds already is not copied again. This default
    /// exports and imports what `dest` lacks, whatever the mode: it never deletes.
    async fn copy_mailbox_to(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        dest: &dyn DataPlane,
        mode: CopyMode,
    ) -> Result<Usage> {
        let _ = mode;
        copy_by_export(self, tenant, mailbox, dest).await
    }
    /// How many messages of the mailbox `dest` lacks: none means the copy is complete and
    /// the mailbox may be destroyed here.
    async fn missing_at(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        dest: &dyn DataPlane,
    ) -> Result<u64> {
        Ok(missing_by_digest(self, tenant, mailbox, dest).await?.len() as u64)
    }
    /// The store that holds the tenant's data and how its cryptographic erase destroys it
    /// there, as the destruction certificate names them; asked before the erase. `None`
    /// when this data plane does not say.
    async fn describe(
        &self,
        tenant: TenantId,
    ) -> Result<Option<crate::certificate::CertifiedStore>> {
        let _ = tenant;
        Ok(None)
    }
    /// The key export download links are authenticated with (an HMAC key, the same for
    /// every process of a deployment, so that a link made by one replica opens on another).
    /// It must be a secret of its own, never derived from the certificate signing key.
    fn export_link_key(&self) -> Result<[u8; 32]>;
}

/// A message's digest as relocations compare it: SHA-256 of its bytes with every line
/// ended by CRLF, the form Dovecot stores and gives back.
fn relocation_digest(message: &[u8]) -> [u8; 32] {
    Sha256::digest(dovecot::crlf(message)).into()
}

/// The messages of the source mailbox that `dest` lacks (by digest, each copy counted), with
/// their bytes and received dates.
pub(crate) async fn missing_by_digest<S: DataPlane + ?Sized>(
    source: &S,
    tenant: TenantId,
    mailbox: MailboxId,
    dest: &dyn DataPlane,
) -> Result<Vec<(Vec<u8>, OffsetDateTime)>> {
    let mut held: HashMap<[u8; 32], u64> = HashMap::new();
    dest.export(tenant, mailbox, &mut |_, bytes| {
        *held.entry(relocation_digest(bytes)).or_default() += 1;
        Ok(())
    })
    .await?;
    let mut missing = Vec::new();
    source
        .export(tenant, mailbox, &mut |m, bytes| {
            match held.get_mut(&relocation_digest(bytes)) {
                Some(n) if *n > 0 => *n -= 1,
                _ => missing.push((bytes.to_vec(), m.received_at)),
            }
            Ok(())
        })
        .await?;
    Ok(missing)
}

/// Copies what `dest` lacks of the mailbox by export and import; returns what was copied.
pub(crate) async fn copy_by_export<S: DataPlane + ?Sized>(
    source: &S,
    tenant: TenantId,
    mailbox: MailboxId,
    dest: &dyn DataPlane,
) -> Result<Usage> {
    dest.provision_mailbox(tenant, mailbox).await?;
    let mut copied = Usage::default();
    for (bytes, at) in missing_by_digest(source, tenant, mailbox, dest).await? {
        dest.import(tenant, mailbox, &bytes, at).await?;
        copied.messages += 1;
        copied.bytes += bytes.len() as u64;
    }
    Ok(copied)
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

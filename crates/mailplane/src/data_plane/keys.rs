//! The tenants' data keys: one random 256-bit key per tenant, stored only wrapped (sealed) by
//! the deployment's master key, and the record of a tenant's cryptographic erase.
//!
//! Every data plane of a deployment derives what it encrypts with from the same key of a
//! tenant: the embedded file store seals messages with it, and Dovecot's `mail_crypt` opens a
//! mailbox's private key with a password derived from it ([`TenantKeys::mailbox_password`]).
//! So one erase, removing the wrapped key, makes everything of the tenant unreadable in
//! every store at once, and a tenant moved between regions keeps the key its mail opens with.
//!
//! Layout under the root: `<tenant>/data.key` (the key's id, then the key sealed by the
//! master key and bound to the tenant and that id) and, once erased, `<tenant>/erased.json`
//! (what the erase destroyed), which also forbids a new key for the tenant. A key is created
//! with an exclusive link, so two processes that make a tenant's first key at once agree on
//! one of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::Sha256;

use mailplane_types::{Error, MailboxId, Result, TenantId};

use super::TenantErasure;
use crate::files::{remove_file_if_exists, sync_dir, write_atomically};

/// The length of XChaCha20's nonce.
pub(super) const NONCE: usize = 24;
/// The length of Poly1305's tag.
pub(super) const TAG: usize = 16;

/// The file of a tenant's wrapped key.
const KEY_FILE: &str = "data.key";
/// The record of a tenant's cryptographic erase, written before its key is removed.
const ERASURE_RECORD: &str = "erased.json";

/// The HKDF info label of the export-link key: changing it invalidates every link issued.
const EXPORT_LINK_INFO: &[u8] = b"mailplane export download links v2";

/// The HKDF info label of a mailbox's `mail_crypt` password: changing it locks every
/// mailbox out of its private key.
const MAIL_CRYPT_INFO: &str = "mailplane mail_crypt private key password v1";

/// HKDF-SHA256 (RFC 5869) of one 32-byte block: extract with `salt`, expand with `info`.
pub(super) fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
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

/// A 256-bit key. Debug never shows it.
#[derive(Clone)]
pub(super) struct Key(pub(super) [u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<secret>)")
    }
}

impl Key {
    pub(super) fn random() -> Key {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Key(k)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// Encrypts with a random nonce; the output is the nonce followed by the ciphertext.
    pub(super) fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
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
    pub(super) fn open(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
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

/// The tenants' wrapped data keys under one folder. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct TenantKeys {
    root: PathBuf,
    master: Key,
    cache: Arc<Mutex<HashMap<TenantId, Key>>>,
}

impl std::fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantKeys")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl TenantKeys {
    /// The keys under `root`, wrapped by `master`.
    pub(super) fn new(root: &Path, master: Key) -> TenantKeys {
        TenantKeys {
            root: root.to_path_buf(),
            master,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The master key, for keys the deployment derives from it alone.
    #[cfg(test)]
    pub(super) fn master(&self) -> &Key {
        &self.master
    }

    /// The tenant's folder under the root.
    pub(super) fn tenant_dir(&self, tenant: TenantId) -> PathBuf {
        self.root.join(tenant.to_string())
    }

    fn key_path(&self, tenant: TenantId) -> PathBuf {
        self.tenant_dir(tenant).join(KEY_FILE)
    }

    fn cache(&self) -> Result<std::sync::MutexGuard<'_, HashMap<TenantId, Key>>> {
        self.cache
            .lock()
            .map_err(|_| Error::internal("the data key cache is poisoned"))
    }

    /// Whether the tenant's wrapped key exists: while it does, the tenant's data opens.
    pub(super) fn exists(&self, tenant: TenantId) -> bool {
        self.key_path(tenant).exists()
    }

    /// The tenant's data key: unwrapped from its file, or, when `create` is set (a write),
    /// made and wrapped on first use. A read never makes a key: after an erase, there is
    /// nothing to read with, and an erased tenant never gets a new key.
    pub(super) fn data_key(&self, tenant: TenantId, create: bool) -> Result<Key> {
        let mut cache = self.cache()?;
        let path = self.key_path(tenant);
        // A cached key serves only while its file exists: another process may have erased
        // it, and an erased key must not keep opening anything here.
        if let Some(k) = cache.get(&tenant) {
            if path.exists() {
                return Ok(k.clone());
            }
            cache.remove(&tenant);
        }
        let key = match std::fs::read(&path) {
            Ok(stored) => self.unwrap(tenant, &stored)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if self.tenant_dir(tenant).join(ERASURE_RECORD).exists() {
                    return Err(Error::conflict(
                        None,
                        format!(
                            "the data of tenant {tenant} was destroyed: nothing can be stored for it"
                        ),
                    ));
                }
                if !create {
                    return Err(Error::not_found(
                        "data key",
                        format!("of tenant {tenant} (never written, or erased)"),
                    ));
                }
                self.create(tenant)?
            }
            Err(e) => {
                return Err(Error::internal(format!("reading {}: {e}", path.display())));
            }
        };
        cache.insert(tenant, key.clone());
        Ok(key)
    }

    fn aad(tenant: TenantId, id: uuid::Uuid) -> String {
        format!("mailplane data key of tenant {tenant} id {id}")
    }

    fn unwrap(&self, tenant: TenantId, stored: &[u8]) -> Result<Key> {
        let malformed = || Error::internal(format!("the data key of tenant {tenant} is malformed"));
        let wrapped = stored.get(16..).ok_or_else(malformed)?;
        let aad = Self::aad(tenant, key_id_of(stored)?);
        let plain = self.master.open(wrapped, aad.as_bytes()).ok_or_else(|| {
            Error::internal(format!(
                "the data key of tenant {tenant} does not open with the master key"
            ))
        })?;
        Ok(Key(plain.as_slice().try_into().map_err(|_| malformed())?))
    }

    /// Makes the tenant's first key. The file is written aside and linked into place, which
    /// fails if another process linked its key first; that key is then the tenant's.
    fn create(&self, tenant: TenantId) -> Result<Key> {
        let dir = self.tenant_dir(tenant);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        let key = Key::random();
        let id = uuid::Uuid::now_v7();
        let mut stored = id.as_bytes().to_vec();
        stored.extend_from_slice(&self.master.seal(&key.0, Self::aad(tenant, id).as_bytes())?);
        let aside = dir.join(format!(".{KEY_FILE}.new-{}", id.simple()));
        write_atomically(&aside, &stored)?;
        let path = self.key_path(tenant);
        let linked = std::fs::hard_link(&aside, &path);
        remove_file_if_exists(&aside)?;
        match linked {
            Ok(()) => {
                sync_dir(&dir)?;
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let stored = std::fs::read(&path)
                    .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?;
                self.unwrap(tenant, &stored)
            }
            Err(e) => Err(Error::internal(format!("writing {}: {e}", path.display()))),
        }
    }

    /// The id of the tenant's key, if it exists.
    pub(super) fn key_id(&self, tenant: TenantId) -> Result<Option<uuid::Uuid>> {
        let path = self.key_path(tenant);
        match std::fs::read(&path) {
            Ok(stored) => key_id_of(&stored).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::internal(format!("reading {}: {e}", path.display()))),
        }
    }

    /// What the tenant's erase destroyed, if it was erased (or its erase began).
    pub(super) fn erasure(&self, tenant: TenantId) -> Result<Option<TenantErasure>> {
        let record = self.tenant_dir(tenant).join(ERASURE_RECORD);
        match std::fs::read(&record) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::internal(format!("reading {}: {e}", record.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::internal(format!(
                "reading {}: {e}",
                record.display()
            ))),
        }
    }

    /// Erases the tenant's key: writes the record of what the erase destroyed, then removes
    /// the wrapped key. Safe to repeat with the record a first try wrote.
    pub(super) fn erase(&self, tenant: TenantId, erasure: &TenantErasure) -> Result<()> {
        let dir = self.tenant_dir(tenant);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        let record = dir.join(ERASURE_RECORD);
        if !record.exists() {
            let json = serde_json::to_vec(erasure)
                .map_err(|e| Error::internal(format!("serialising an erasure: {e}")))?;
            write_atomically(&record, &json)?;
        }
        // The key: once it is gone, everything of the tenant is ciphertext without a key.
        remove_file_if_exists(&self.key_path(tenant))?;
        sync_dir(&dir)?;
        self.forget(tenant)
    }

    /// Drops a tenant's key from this process's cache.
    pub(super) fn forget(&self, tenant: TenantId) -> Result<()> {
        self.cache()?.remove(&tenant);
        Ok(())
    }

    /// The key the tenant's export files are sealed with, derived from its data key (see
    /// [`super::DataPlane::export_key`]).
    pub(super) fn export_key(&self, tenant: TenantId) -> Result<crate::sealed::SealingKey> {
        let key = self.data_key(tenant, true)?;
        Ok(crate::sealed::SealingKey::derive(
            &key.0,
            &format!("mailplane export files of tenant {tenant}"),
        ))
    }

    /// The key export download links are authenticated with, derived from the master key
    /// under a label of its own (see [`super::DataPlane::export_link_key`]).
    pub(super) fn export_link_key(&self) -> [u8; 32] {
        hkdf_sha256(&[], &self.master.0, EXPORT_LINK_INFO)
    }

    /// The password Dovecot's `mail_crypt` encrypts the mailbox's private key with: HKDF of
    /// the tenant's data key over the mailbox's id, as 64 hex digits. Makes the tenant's key
    /// on first use, as a delivery is a write; refused once the tenant is erased.
    pub fn mailbox_password(&self, tenant: TenantId, mailbox: MailboxId) -> Result<String> {
        let key = self.data_key(tenant, true)?;
        Ok(hex::encode(hkdf_sha256(
            tenant.to_string().as_bytes(),
            &key.0,
            format!("{MAIL_CRYPT_INFO} {mailbox}").as_bytes(),
        )))
    }
}

/// The id of a stored data key: its first 16 bytes.
pub(super) fn key_id_of(stored: &[u8]) -> Result<uuid::Uuid> {
    stored
        .get(..16)
        .and_then(|b| uuid::Uuid::from_slice(b).ok())
        .ok_or_else(|| Error::internal("a stored data key is malformed"))
}

#[cfg(test)]
mod tests {
    use super::{Key, TenantKeys};
    use crate::data_plane::TenantErasure;
    use mailplane_types::{MailboxId, TenantId};

    fn temp() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mailplane-keys-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn processes_making_a_tenants_first_key_at_once_agree_on_one() {
        let root = temp();
        let master = Key::random();
        let tenant = TenantId::from(uuid::Uuid::now_v7());
        // Separate instances share no cache, as separate processes would not.
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let store = TenantKeys::new(&root, master.clone());
                    s.spawn(move || store.data_key(tenant, true).unwrap().0)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            keys.windows(2).all(|w| w[0] == w[1]),
            "every racer got the key on disk"
        );
        let fresh = TenantKeys::new(&root, master);
        assert_eq!(fresh.data_key(tenant, false).unwrap().0, keys[0]);
        let leftovers: Vec<_> = std::fs::read_dir(root.join(tenant.to_string()))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(leftovers, vec!["data.key".to_string()]);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_mailbox_password_follows_the_tenant_key_and_dies_with_it() {
        let root = temp();
        let keys = TenantKeys::new(&root, Key::random());
        let tenant = TenantId::from(uuid::Uuid::now_v7());
        let (a, b) = (
            MailboxId::from(uuid::Uuid::now_v7()),
            MailboxId::from(uuid::Uuid::now_v7()),
        );
        let first = keys.mailbox_password(tenant, a).unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(keys.mailbox_password(tenant, a).unwrap(), first);
        assert_ne!(keys.mailbox_password(tenant, b).unwrap(), first);
        // Another tenant with its own key gets other passwords.
        let other = TenantId::from(uuid::Uuid::now_v7());
        assert_ne!(keys.mailbox_password(other, a).unwrap(), first);

        keys.erase(tenant, &TenantErasure::default()).unwrap();
        let refused = keys.mailbox_password(tenant, a).unwrap_err();
        assert!(refused.to_string().contains("destroyed"), "{refused}");
        assert!(!keys.exists(tenant));
        std::fs::remove_dir_all(root).unwrap();
    }
}

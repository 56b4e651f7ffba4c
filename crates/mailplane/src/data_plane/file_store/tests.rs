//! The embedded driver's tests: messages sealed and bound to their place, the data key made
//! on first write only, the cryptographic erase and its record, the purge, the export-link
//! key, and the RFC 5322 check.

use super::*;
use crate::data_plane::rfc5322_rule;

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
    assert_ne!(key, dp.keys.master().0);
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

//! The bearer tokens' tests: verification (keys, algorithms, claims, leeway), the token
//! cache and minting, each checked against what it must refuse.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";

/// A keyring trusting an HS256 secret under `hs`, reading time from `clock`.
fn keyring(capacity: usize, clock: &Arc<AtomicU64>) -> Keyring {
    let mut keyring = Keyring::new(DEFAULT_ISSUER, DEFAULT_AUDIENCE).with_token_cache(capacity);
    keyring.add_hs256("hs", SECRET).unwrap();
    let clock = clock.clone();
    keyring.clock = Arc::new(move || clock.load(Ordering::SeqCst));
    keyring
}

fn token(subject: &str, ttl: u64) -> String {
    let tenant = mailplane_types::TenantId::new();
    TokenIssuer::hs256("hs", SECRET)
        .unwrap()
        .issue(&Actor::customer(subject, tenant, &["tenant-admin"]), ttl)
        .unwrap()
}

fn exp_of(token: &str) -> u64 {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<Claims>(&bytes).unwrap().exp
}

#[test]
fn a_cached_token_past_its_exp_is_refused() {
    let clock = Arc::new(AtomicU64::new(system_seconds()));
    let keyring = keyring(16, &clock);
    let t = token("alice", 60);
    let exp = exp_of(&t);
    let alice = keyring.verify(&t).unwrap();
    assert_eq!(keyring.cached_tokens(), 1);
    assert_eq!(keyring.verify(&t).unwrap(), alice, "served from the cache");

    // The cache serves the token until its exp and not a second longer.
    let cached = |now| keyring.cache.get(&t, &KEYRING_VERIFIER, now).is_some();
    assert!(cached(exp - 1));
    assert!(!cached(exp), "the cache does not serve a token at its exp");
    // Within the leeway the token is verified again, and not cached again.
    clock.store(exp + 1, Ordering::SeqCst);
    assert_eq!(keyring.verify(&t).unwrap(), alice);
    assert!(!cached(exp + 1));
    // Past the leeway it is refused, although it was cached.
    clock.store(exp + LEEWAY + 1, Ordering::SeqCst);
    match keyring.verify(&t) {
        Err(Error::Unauthenticated(why)) => assert!(why.contains("expired"), "{why}"),
        other => panic!("an expired token was accepted: {other:?}"),
    }
}

#[test]
fn a_different_token_is_not_served_from_the_cache() {
    let clock = Arc::new(AtomicU64::new(system_seconds()));
    let keyring = keyring(16, &clock);
    let alice = token("alice", 600);
    keyring.verify(&alice).unwrap();
    // The same claims with a forged signature: its first character changed. (Not its
    // last: that one also carries padding bits, and a change there can make the token
    // malformed base64 instead of a wrong signature.)
    let signature_at = alice.rfind('.').unwrap() + 1;
    let first = alice.as_bytes()[signature_at];
    let mut forged = alice.clone();
    forged.replace_range(
        signature_at..=signature_at,
        if first == b'A' { "B" } else { "A" },
    );
    match keyring.verify(&forged) {
        Err(Error::Unauthenticated(why)) => assert!(why.contains("signature"), "{why}"),
        other => panic!("a forged token was accepted: {other:?}"),
    }
    // Another valid token gets its own claims, not the cached ones.
    let bob = keyring.verify(&token("bob", 600)).unwrap();
    assert_eq!(bob.subject(), "bob");
    assert_eq!(keyring.cached_tokens(), 2);
    // A token verified with the keyring's keys is not served to a credential's check,
    // nor the other way round.
    let verifier = credential_verifier("credential:x", "pem");
    let now = system_seconds();
    assert!(keyring.cache.get(&alice, &verifier, now).is_none());
}

#[test]
fn the_cache_holds_at_most_its_capacity() {
    let clock = Arc::new(AtomicU64::new(system_seconds()));
    for capacity in [0, 1, 2, 7, 64] {
        let keyring = keyring(capacity, &clock);
        let mut recent = String::new();
        for i in 0..200 {
            recent = token(&format!("user-{i}"), 600);
            keyring.verify(&recent).unwrap();
            assert!(keyring.cached_tokens() <= capacity, "capacity {capacity}");
        }
        if capacity > 0 {
            let now = system_seconds();
            assert!(
                keyring.cache.get(&recent, &KEYRING_VERIFIER, now).is_some(),
                "the most recent token is kept (capacity {capacity})"
            );
        }
    }
}

#[test]
fn trusting_another_key_starts_a_new_cache() {
    let clock = Arc::new(AtomicU64::new(system_seconds()));
    let keyring = keyring(16, &clock);
    let t = token("alice", 600);
    keyring.verify(&t).unwrap();
    // A clone that replaces the secret under the same kid verifies the token again,
    // with the new secret, and refuses it.
    let mut replaced = keyring.clone();
    replaced
        .add_hs256("hs", b"another-secret-of-at-least-32-bytes!!")
        .unwrap();
    assert_eq!(replaced.cached_tokens(), 0);
    assert!(replaced.verify(&t).is_err());
    assert!(keyring.verify(&t).is_ok(), "the original keeps its keys");
}

/// A credential's token verified once is cached, and its revocation still refuses it at
/// once: the cache holds signatures, the credential's state is read on every call.
#[tokio::test]
async fn a_revoked_credential_is_refused_although_its_token_is_cached() {
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;

    let dir = std::env::temp_dir().join(format!("mailplane-auth-{}", uuid::Uuid::now_v7()));
    let cp = crate::ControlPlane::open(
        &crate::DatabaseLocation::Sqlite(dir.join("m.db")),
        crate::PolicySet::builtin(),
        crate::ControlPlaneConfig::default(),
    )
    .await
    .unwrap();
    let provider = Actor::provider("ops", &["provider-admin"]);
    let tenant = cp
        .tenant_create(
            &provider,
            crate::input::TenantCreate {
                name: "Acme".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let admin = Actor::customer("alice", tenant, &["tenant-admin"]);
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let credential = cp
        .credential_register(
            &admin,
            tenant,
            crate::input::CredentialCreate {
                name: "bot".into(),
                public_key: key
                    .verifying_key()
                    .to_public_key_pem(LineEnding::LF)
                    .unwrap(),
                roles: vec!["tenant-admin".into()],
                expires_at: None,
            },
        )
        .await
        .unwrap()
        .done()
        .expect("automation fulfils the registration");
    let private_pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let t = TokenIssuer::credential(credential.id.uuid(), private_pem.as_bytes())
        .unwrap()
        .issue(&Actor::customer("bot", tenant, &["tenant-admin"]), 600)
        .unwrap();
    let keyring = Keyring::new(DEFAULT_ISSUER, DEFAULT_AUDIENCE);
    cp.authenticate(&keyring, &t).await.unwrap();
    assert_eq!(
        keyring.cached_tokens(),
        1,
        "the credential's token is cached"
    );
    cp.authenticate(&keyring, &t).await.unwrap();

    cp.credential_revoke(&admin, tenant, credential.id)
        .await
        .unwrap()
        .done()
        .expect("automation fulfils the revocation");
    match cp.authenticate(&keyring, &t).await {
        Err(Error::Unauthenticated(why)) => assert!(why.contains("revoked"), "{why}"),
        other => panic!("a revoked credential's cached token was accepted: {other:?}"),
    }
    std::fs::remove_dir_all(&dir).ok();
}

//! Bearer authentication: keys pinned to algorithms, claims checked, failures are 401
//! problem documents that say why.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use mailplane::Actor;
use mailplane::auth::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, Keyring, TokenIssuer};
use mailplane::types::{Error, Party};
use mailplane_tests::{Harness, TEST_SECRET};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({
        "sub": "tester", "party": "provider", "org": "provider", "roles": ["provider-admin"],
        "iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE,
        "exp": now() + 600, "nbf": now() - 10, "iat": now() - 10,
    })
}

fn hs256(kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(TEST_SECRET)).unwrap()
}

fn unauthenticated(keyring: &Keyring, token: &str) -> String {
    match keyring.verify(token) {
        Err(Error::Unauthenticated(why)) => why,
        other => panic!("expected unauthenticated, got {other:?}"),
    }
}

fn keyring_with_ed25519() -> (Keyring, TokenIssuer) {
    let dir = std::env::temp_dir().join(format!("mailplane-key-{}", uuid::Uuid::now_v7().simple()));
    let key = mailplane::auth::ensure_signing_key(&dir).unwrap();
    assert!(key.created);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("signing-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the private key is readable by its owner only"
        );
    }
    assert!(
        !mailplane::auth::ensure_signing_key(&dir).unwrap().created,
        "the key is reused"
    );
    let mut keyring = Keyring::new(DEFAULT_ISSUER, DEFAULT_AUDIENCE);
    keyring
        .add_public_pem("ed", key.public_pem.as_bytes())
        .unwrap();
    keyring.add_hs256("hs256", TEST_SECRET).unwrap();
    let issuer = TokenIssuer::ed25519("ed", key.private_pem.as_bytes()).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    (keyring, issuer)
}

#[test]
fn eddsa_and_hs256_tokens_verify_into_actors() {
    let (keyring, issuer) = keyring_with_ed25519();
    let tenant = mailplane::types::TenantId::new();
    let actor = Actor::customer("alice", tenant, &["tenant-admin"]);
    let verified = keyring.verify(&issuer.issue(&actor, 60).unwrap()).unwrap();
    assert_eq!(verified, actor);
    let provider = keyring.verify(&hs256("hs256", &claims())).unwrap();
    assert_eq!(provider.party(), Party::Provider);
}

#[test]
fn algorithm_confusion_and_none_are_refused() {
    let (keyring, _) = keyring_with_ed25519();
    // An HS256 token that names the Ed25519 key's kid.
    let why = unauthenticated(&keyring, &hs256("ed", &claims()));
    assert!(why.contains("verifies EdDSA only"), "{why}");
    // An unsigned token.
    let header = base64url(r#"{"alg":"none","typ":"JWT","kid":"hs256"}"#);
    let payload = base64url(&claims().to_string());
    let why = unauthenticated(&keyring, &format!("{header}.{payload}."));
    assert!(
        why.contains("well-formed") || why.contains("HS256"),
        "{why}"
    );
    // A token for a key nobody trusts, and one without kid.
    assert!(unauthenticated(&keyring, &hs256("other", &claims())).contains("not trusted"));
    let no_kid = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(TEST_SECRET),
    )
    .unwrap();
    assert!(unauthenticated(&keyring, &no_kid).contains("kid"));
}

fn base64url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn claims_are_checked() {
    let (keyring, _) = keyring_with_ed25519();
    let with = |field: &str, value: Value| {
        let mut c = claims();
        c[field] = value;
        hs256("hs256", &c)
    };
    assert!(unauthenticated(&keyring, &with("exp", json!(now() - 3600))).contains("expired"));
    assert!(unauthenticated(&keyring, &with("nbf", json!(now() + 3600))).contains("not valid yet"));
    assert!(unauthenticated(&keyring, &with("aud", json!("someone-else"))).contains("audience"));
    assert!(unauthenticated(&keyring, &with("iss", json!("evil"))).contains("issuer"));
    let mut c = claims();
    c["party"] = json!("customer");
    c["org"] = json!("provider");
    assert!(unauthenticated(&keyring, &hs256("hs256", &c)).contains("tenant id"));
    let mut wrong_secret_header = Header::new(Algorithm::HS256);
    wrong_secret_header.kid = Some("hs256".into());
    let forged = jsonwebtoken::encode(
        &wrong_secret_header,
        &claims(),
        &EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!"),
    )
    .unwrap();
    assert!(unauthenticated(&keyring, &forged).contains("signature"));
}

#[test]
fn rs256_public_keys_are_pinned_to_rs256() {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let private_pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let mut keyring = Keyring::new(DEFAULT_ISSUER, DEFAULT_AUDIENCE);
    keyring
        .add_public_pem("rsa", public_pem.as_bytes())
        .unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(keyring.verify(&token).unwrap().subject(), "tester");
    // The RSA public key used as an HMAC secret: the classic confusion attack.
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some("rsa".into());
    let forged = jsonwebtoken::encode(
        &confused,
        &claims(),
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    assert!(unauthenticated(&keyring, &forged).contains("verifies RS256 only"));
}

#[tokio::test]
async fn http_answers_401_problems() {
    let h = Harness::sqlite().await;
    let r = h.anonymous().get("/v1/tenants").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(
        r.body["type"],
        "https://mailplane.dev/problems/unauthenticated"
    );
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("Authorization header is missing")
    );
    let r = h
        .client_with_token(Some("not-a-jwt".into()))
        .get("/v1/tenants")
        .await;
    assert_eq!(r.status, 401);
    let mut c = claims();
    c["exp"] = json!(now() - 3600);
    let r = h
        .client_with_token(Some(hs256("hs256", &c)))
        .get("/v1/tenants")
        .await;
    assert_eq!(r.status, 401);
    assert!(r.body["detail"].as_str().unwrap().contains("expired"));
}

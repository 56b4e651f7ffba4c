//! Bearer tokens: verifying them into an [`Actor`], and minting them.
//!
//! Tokens are JWTs verified with jsonwebtoken. Every trusted key is paired with the one
//! algorithm it may verify (HS256 for a shared secret, EdDSA for Ed25519 keys, RS256 for
//! RSA keys): the token's `kid` picks the key, and a token whose header names another
//! algorithm is refused, so neither `none` nor algorithm confusion can pass. `iss`, `aud`,
//! `exp` and `nbf` are checked. Claims name the party, the organisation and the roles.
//!
//! Verifying an EdDSA or RS256 signature costs tens of microseconds, more than the rest of
//! a read. A client sends the same token with every request until it expires, so a keyring
//! keeps a bounded cache of the tokens it has verified (see [`Keyring::with_token_cache`]):
//! keyed by the SHA-256 of the token, consulted before any signature is checked, holding
//! only successful verifications, and serving each one until the token's `exp` and never
//! longer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ed25519_dalek::pkcs8::{
    DecodePrivateKey, EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use mailplane_types::recent::RecentMap;
use mailplane_types::{Error, OrgId, PartnerId, Party, Result, TenantId};

use crate::Actor;

/// The claims of a Mailplane token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The subject.
    pub sub: String,
    /// The party: `provider`, `partner` or `customer`.
    pub party: Party,
    /// The organisation: `provider`, a partner id or a tenant id.
    pub org: String,
    /// Role names.
    pub roles: Vec<String>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Not before (seconds since the epoch).
    pub nbf: u64,
    /// Issued at (seconds since the epoch); optional.
    #[serde(default)]
    pub iat: u64,
}

impl Claims {
    /// The actor these claims describe; the organisation must match the party.
    pub fn actor(&self) -> Result<Actor> {
        let roles: Vec<&str> = self.roles.iter().map(String::as_str).collect();
        let org = match self.party {
            Party::Provider if self.org == "provider" => OrgId::Provider,
            Party::Partner => OrgId::Partner(self.org.parse::<PartnerId>().map_err(|_| {
                Error::Unauthenticated("a partner token's `org` must be a partner id".into())
            })?),
            Party::Customer => OrgId::Tenant(self.org.parse::<TenantId>().map_err(|_| {
                Error::Unauthenticated("a customer token's `org` must be a tenant id".into())
            })?),
            Party::Provider => {
                return Err(Error::Unauthenticated(
                    "a provider token's `org` must be `provider`".into(),
                ));
            }
        };
        if roles.is_empty() {
            return Err(Error::Unauthenticated("the token names no role".into()));
        }
        // Subjects and roles are written to audit rows: they must be printable and short.
        let printable = |s: &str| {
            !s.is_empty()
                && s.len() <= 256
                && mailplane_types::text::check(s, mailplane_types::TextKind::Line).is_ok()
        };
        if !printable(&self.sub) || !roles.iter().all(|r| printable(r)) {
            return Err(Error::Unauthenticated(
                "`sub` and `roles` must be 1 to 256 printable characters".into(),
            ));
        }
        Ok(Actor::new(self.sub.clone(), org, &roles))
    }
}

/// The keys a deployment trusts, each pinned to one algorithm.
///
/// Clones share one cache of verified tokens. Trusting another key gives the keyring a
/// cache of its own, so that a token verified under the old set of keys is verified again.
#[derive(Clone)]
pub struct Keyring {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    issuer: String,
    audience: String,
    cache: Arc<TokenCache>,
    clock: Clock,
}

/// Seconds since the epoch, as the keyring reads them: `exp` and `nbf` are checked, and
/// cached tokens expire, against this clock.
type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

fn system_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How many verified tokens a keyring remembers unless told otherwise: a few MB at most.
pub const DEFAULT_TOKEN_CACHE: usize = 10_000;

/// How far `exp` and `nbf` may be off, in seconds, to allow for clock skew between the
/// issuer and this deployment. A cached token is never served past its `exp`, leeway or
/// not: after it, the token is verified again, and refused once the leeway is over too.
const LEEWAY: u64 = 30;

/// Which check a cached token passed: the keyring's own keys, or one customer credential's
/// key. A token is served from the cache only to the same check.
type Verifier = [u8; 32];

/// The verifier of tokens checked with the keyring's own keys.
const KEYRING_VERIFIER: Verifier = [0; 32];

/// The verifier of tokens signed with a customer credential's key: its kid and its key.
fn credential_verifier(kid: &str, public_pem: &str) -> Verifier {
    let mut h = Sha256::new();
    h.update(b"credential\0");
    h.update(kid.as_bytes());
    h.update(b"\0");
    h.update(public_pem.as_bytes());
    h.finalize().into()
}

/// A token that verified, as the cache keeps it.
#[derive(Clone)]
struct VerifiedToken {
    verifier: Verifier,
    claims: Claims,
}

/// A bounded cache of verified tokens, keyed by the SHA-256 of the token: a
/// [`RecentMap`], so tokens in use stay while tokens nobody sends any more leave. Never more
/// than `capacity` entries are held, and no entry is served at or after its token's `exp`.
struct TokenCache {
    capacity: usize,
    tokens: Mutex<RecentMap<[u8; 32], VerifiedToken>>,
}

impl TokenCache {
    fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            tokens: Mutex::new(RecentMap::new(capacity)),
        }
    }

    fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The claims of a token verified earlier by `verifier`, if it is still before the
    /// token's `exp` at `now`.
    fn get(&self, token: &str, verifier: &Verifier, now: u64) -> Option<Claims> {
        if self.capacity == 0 {
            return None;
        }
        let key = Self::key(token);
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let entry = tokens.get(&key)?;
        if entry.usable(verifier, now) {
            return Some(entry.claims.clone());
        }
        if now >= entry.claims.exp {
            tokens.remove(&key);
        }
        None
    }

    /// Remembers a token that has just verified at `now`; one already at its `exp` (still
    /// accepted within the leeway) is not worth remembering.
    fn insert(&self, token: &str, verifier: Verifier, claims: &Claims, now: u64) {
        if self.capacity == 0 || now >= claims.exp {
            return;
        }
        let entry = VerifiedToken {
            verifier,
            claims: claims.clone(),
        };
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.insert(Self::key(token), entry);
    }

    fn len(&self) -> usize {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl VerifiedToken {
    /// Whether the entry may answer for `verifier` at `now`: only before the token's
    /// `exp`, and not before its `nbf` allows.
    fn usable(&self, verifier: &Verifier, now: u64) -> bool {
        &self.verifier == verifier
            && now < self.claims.exp
            && self.claims.nbf <= now.saturating_add(LEEWAY)
    }
}

/// The issuer every Mailplane deployment uses unless configured otherwise.
pub const DEFAULT_ISSUER: &str = "mailplane";
/// The audience every Mailplane deployment uses unless configured otherwise.
pub const DEFAULT_AUDIENCE: &str = "mailplane-api";

impl Keyring {
    /// An empty keyring for an issuer and audience.
    pub fn new(issuer: &str, audience: &str) -> Keyring {
        Keyring {
            keys: HashMap::new(),
            issuer: issuer.into(),
            audience: audience.into(),
            cache: Arc::new(TokenCache::new(DEFAULT_TOKEN_CACHE)),
            clock: Arc::new(system_seconds),
        }
    }

    /// The same keyring remembering at most `capacity` verified tokens (0: none, every
    /// token is verified every time). The default is [`DEFAULT_TOKEN_CACHE`].
    pub fn with_token_cache(mut self, capacity: usize) -> Keyring {
        self.cache = Arc::new(TokenCache::new(capacity));
        self
    }

    /// How many verified tokens the cache holds now.
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }

    /// Starts a new cache of the same capacity: the keys changed, so what was verified
    /// under the old ones must be verified again.
    fn keys_changed(&mut self) {
        self.cache = Arc::new(TokenCache::new(self.cache.capacity));
    }

    /// Trusts an HS256 shared secret under `kid` (at least 32 bytes).
    pub fn add_hs256(&mut self, kid: &str, secret: &[u8]) -> Result<()> {
        if secret.len() < 32 {
            return Err(Error::invalid("hs256_secret", "must be at least 32 bytes"));
        }
        self.keys.insert(
            kid.into(),
            (DecodingKey::from_secret(secret), Algorithm::HS256),
        );
        self.keys_changed();
        Ok(())
    }

    /// Trusts a public key in PEM under `kid`: Ed25519 keys verify EdDSA, RSA keys RS256.
    pub fn add_public_pem(&mut self, kid: &str, pem: &[u8]) -> Result<()> {
        let (key, alg) = if let Ok(k) = DecodingKey::from_ed_pem(pem) {
            (k, Algorithm::EdDSA)
        } else if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
            (k, Algorithm::RS256)
        } else {
            return Err(Error::invalid(
                "public_key",
                format!("key `{kid}` is neither an Ed25519 nor an RSA public key in PEM"),
            ));
        };
        self.keys.insert(kid.into(), (key, alg));
        self.keys_changed();
        Ok(())
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid` a token names, before any verification.
    pub fn kid_of(token: &str) -> Result<String> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            Error::Unauthenticated("the bearer token is not a well-formed JWT".into())
        })?;
        header
            .kid
            .ok_or_else(|| Error::Unauthenticated("the token has no `kid` header".into()))
    }

    /// Verifies a token and returns the actor it names. A token this keyring verified
    /// before is taken from the cache until its `exp`.
    pub fn verify(&self, token: &str) -> Result<Actor> {
        let now = (self.clock)();
        if let Some(claims) = self.cache.get(token, &KEYRING_VERIFIER, now) {
            return claims.actor();
        }
        let kid = Self::kid_of(token)?;
        let (key, alg) = self
            .keys
            .get(&kid)
            .ok_or_else(|| Error::Unauthenticated(format!("the key `{kid}` is not trusted")))?;
        let claims = self.claims(token, &kid, key, *alg, &self.issuer, now)?;
        self.cache.insert(token, KEYRING_VERIFIER, &claims, now);
        claims.actor()
    }

    /// Verifies a token signed by a customer-managed credential's Ed25519 key: the token's
    /// issuer must be the credential itself (`credential:<id>`, also its `kid`).
    ///
    /// Only the signature and the claims are checked here, so only they are cached, under
    /// the credential's kid and key: whether the credential is revoked or expired is read
    /// from its row on every call ([`crate::ControlPlane::authenticate`]), so a revocation
    /// takes effect at once, cache or not.
    pub fn verify_credential(&self, token: &str, kid: &str, public_pem: &str) -> Result<Claims> {
        let now = (self.clock)();
        let verifier = credential_verifier(kid, public_pem);
        if let Some(claims) = self.cache.get(token, &verifier, now) {
            return Ok(claims);
        }
        let key = DecodingKey::from_ed_pem(public_pem.as_bytes())
            .map_err(|_| Error::internal(format!("credential `{kid}` holds no Ed25519 key")))?;
        let claims = self.claims(token, kid, &key, Algorithm::EdDSA, kid, now)?;
        self.cache.insert(token, verifier, &claims, now);
        Ok(claims)
    }

    fn claims(
        &self,
        token: &str,
        kid: &str,
        key: &DecodingKey,
        alg: Algorithm,
        issuer: &str,
        now: u64,
    ) -> Result<Claims> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            Error::Unauthenticated("the bearer token is not a well-formed JWT".into())
        })?;
        if header.alg != alg {
            return Err(Error::Unauthenticated(format!(
                "key `{kid}` verifies {alg:?} only; the token says {:?}",
                header.alg
            )));
        }
        let mut v = Validation::new(alg);
        v.set_issuer(&[issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // `exp` and `nbf` are checked below against the keyring's clock, the one the cache
        // expires tokens by.
        v.validate_exp = false;
        v.validate_nbf = false;
        let data = jsonwebtoken::decode::<Claims>(token, key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            let why = match e.kind() {
                K::ExpiredSignature => "the token has expired",
                K::ImmatureSignature => "the token is not valid yet (nbf)",
                K::InvalidIssuer => "the token's issuer is not trusted",
                K::InvalidAudience => "the token is for another audience",
                K::InvalidSignature => "the token's signature does not verify",
                K::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is invalid",
            };
            Error::Unauthenticated(why.into())
        })?;
        let claims = data.claims;
        if now > claims.exp.saturating_add(LEEWAY) {
            return Err(Error::Unauthenticated("the token has expired".into()));
        }
        if claims.nbf > now.saturating_add(LEEWAY) {
            return Err(Error::Unauthenticated(
                "the token is not valid yet (nbf)".into(),
            ));
        }
        Ok(claims)
    }
}

/// Signs tokens with one key.
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    alg: Algorithm,
    kid: String,
    issuer: String,
    audience: String,
}

impl TokenIssuer {
    /// An EdDSA issuer from an Ed25519 private key in PKCS#8 PEM.
    pub fn ed25519(kid: &str, private_pem: &[u8]) -> Result<TokenIssuer> {
        Ok(TokenIssuer {
            key: EncodingKey::from_ed_pem(private_pem).map_err(|e| {
                Error::invalid("signing_key", format!("is not an Ed25519 PEM key: {e}"))
            })?,
            alg: Algorithm::EdDSA,
            kid: kid.into(),
            issuer: DEFAULT_ISSUER.into(),
            audience: DEFAULT_AUDIENCE.into(),
        })
    }

    /// An issuer for a customer-managed credential: signs with the customer's Ed25519 private
    /// key, naming the credential as `kid` and as issuer. What a customer's own tooling does.
    pub fn credential(id: uuid::Uuid, private_pem: &[u8]) -> Result<TokenIssuer> {
        let kid = format!("{CREDENTIAL_KID_PREFIX}{id}");
        let mut issuer = TokenIssuer::ed25519(&kid, private_pem)?;
        issuer.issuer = kid;
        Ok(issuer)
    }

    /// An HS256 issuer from a shared secret (at least 32 bytes, as [`Keyring::add_hs256`]
    /// requires).
    pub fn hs256(kid: &str, secret: &[u8]) -> Result<TokenIssuer> {
        if secret.len() < 32 {
            return Err(Error::invalid("hs256_secret", "must be at least 32 bytes"));
        }
        Ok(TokenIssuer {
            key: EncodingKey::from_secret(secret),
            alg: Algorithm::HS256,
            kid: kid.into(),
            issuer: DEFAULT_ISSUER.into(),
            audience: DEFAULT_AUDIENCE.into(),
        })
    }

    /// Mints a token for an actor, valid from now for `ttl_secs`.
    pub fn issue(&self, actor: &Actor, ttl_secs: u64) -> Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(Error::internal)?
            .as_secs();
        let org = match actor.org() {
            OrgId::Provider => "provider".to_string(),
            OrgId::Partner(p) => p.to_string(),
            OrgId::Tenant(t) => t.to_string(),
        };
        let claims = Claims {
            sub: actor.subject().into(),
            party: actor.party(),
            org,
            roles: actor.roles().to_vec(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + ttl_secs,
            nbf: now,
            iat: now,
        };
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(Error::internal)
    }
}

/// The deployment's own Ed25519 signing key, kept in the data directory.
pub struct SigningKey {
    /// The private key, PKCS#8 PEM.
    pub private_pem: String,
    /// The public key, SPKI PEM.
    pub public_pem: String,
    /// Whether this call created it.
    pub created: bool,
}

/// How a token names a customer-managed credential as its `kid`: `credential:<id>`.
pub const CREDENTIAL_KID_PREFIX: &str = "credential:";

/// The key id of the deployment's own signing key.
pub const LOCAL_KID: &str = "local-ed25519";

/// Loads `signing-key.pem` from `data_dir`, creating it (mode 0600) when missing.
pub fn ensure_signing_key(data_dir: &Path) -> Result<SigningKey> {
    let path = data_dir.join("signing-key.pem");
    let (private_pem, created) = if path.exists() {
        (
            std::fs::read_to_string(&path)
                .map_err(|e| Error::internal(format!("{}: {e}", path.display())))?,
            false,
        )
    } else {
        mailplane_store::create_private_dir(data_dir)?;
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(Error::internal)?
            .to_string();
        write_private(&path, pem.as_bytes())?;
        (pem, true)
    };
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&private_pem)
        .map_err(|e| Error::internal(format!("{}: not an Ed25519 key: {e}", path.display())))?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(Error::internal)?;
    Ok(SigningKey {
        private_pem,
        public_pem,
        created,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| Error::internal(format!("{}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::internal(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
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
}

//! Bearer tokens: verifying them into an [`Actor`], and minting them.
//!
//! Tokens are JWTs verified with jsonwebtoken. Every trusted key is paired with the one
//! algorithm it may verify (HS256 for a shared secret, EdDSA for Ed25519 keys, RS256 for
//! RSA keys): the token's `kid` picks the key, and a token whose header names another
//! algorithm is refused, so neither `none` nor algorithm confusion can pass. `iss`, `aud`,
//! `exp` and `nbf` are checked. Claims name the party, the organisation and the roles.

use std::collections::HashMap;
use std::path::Path;

use ed25519_dalek::pkcs8::{
    DecodePrivateKey, EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

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
        let printable =
            |s: &str| !s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control);
        if !printable(&self.sub) || !roles.iter().all(|r| printable(r)) {
            return Err(Error::Unauthenticated(
                "`sub` and `roles` must be 1 to 256 printable characters".into(),
            ));
        }
        Ok(Actor::new(self.sub.clone(), org, &roles))
    }
}

/// The keys a deployment trusts, each pinned to one algorithm.
#[derive(Clone)]
pub struct Keyring {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    issuer: String,
    audience: String,
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
        }
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

    /// Verifies a token and returns the actor it names.
    pub fn verify(&self, token: &str) -> Result<Actor> {
        let kid = Self::kid_of(token)?;
        let (key, alg) = self
            .keys
            .get(&kid)
            .ok_or_else(|| Error::Unauthenticated(format!("the key `{kid}` is not trusted")))?;
        self.claims(token, &kid, key, *alg, &self.issuer)?.actor()
    }

    /// Verifies a token signed by a customer-managed credential's Ed25519 key: the token's
    /// issuer must be the credential itself (`credential:<id>`, also its `kid`).
    pub fn verify_credential(&self, token: &str, kid: &str, public_pem: &str) -> Result<Claims> {
        let key = DecodingKey::from_ed_pem(public_pem.as_bytes())
            .map_err(|_| Error::internal(format!("credential `{kid}` holds no Ed25519 key")))?;
        self.claims(token, kid, &key, Algorithm::EdDSA, kid)
    }

    fn claims(
        &self,
        token: &str,
        kid: &str,
        key: &DecodingKey,
        alg: Algorithm,
        issuer: &str,
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
        v.validate_nbf = true;
        v.leeway = 30;
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
        Ok(data.claims)
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

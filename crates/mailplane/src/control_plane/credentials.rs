//! Customer-managed API credentials (`access.control-plane`).
//!
//! The customer is accountable for access to the control plane and the provider carries it
//! out, so a customer's registration is a request that provider automation fulfils at once
//! where the profile marks the activity `automated`. A credential is the public half of an
//! Ed25519 key pair: the customer keeps the private half and signs its own tokens with it
//! (`kid` and `iss` = `credential:<id>`). No secret passes through Mailplane, so a request
//! fulfilled by a person later is as safe as one fulfilled by automation at once.

use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use mailplane_policy::Profile;
use mailplane_store::{NewCredential, Page};
use mailplane_types::resources::Credential;
use mailplane_types::{
    AuditOutcome, AuditTarget, CredentialId, Error, OrgId, Party, Result, TenantId,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{ControlPlane, activity, page_request};
use crate::Actor;
use crate::auth::{CREDENTIAL_KID_PREFIX, Keyring};
use crate::input::{CredentialCreate, Problems};

/// How long a credential lives when the request does not say.
const DEFAULT_LIFETIME: Duration = Duration::days(90);
/// The longest a credential may live.
const MAX_LIFETIME: Duration = Duration::days(366);

/// Checks that `pem` is an Ed25519 public key in SPKI PEM.
pub(super) fn check_public_key(p: &mut Problems, pem: &str) {
    if pem.len() > 4096 || ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim()).is_err() {
        p.add(
            "public_key",
            "must be an Ed25519 public key in SPKI PEM (-----BEGIN PUBLIC KEY-----)",
        );
    }
}

/// Checks that every role is a customer role of the profile, so that a credential can
/// never act above the party it belongs to.
pub(super) fn check_roles(p: &mut Problems, profile: &Profile, roles: &[String]) {
    for role in roles {
        if profile
            .roles
            .get(role)
            .is_none_or(|r| r.party != Party::Customer)
        {
            p.add(
                "roles",
                format!(
                    "`{role}` is not a customer role of profile {}",
                    profile.key()
                ),
            );
        }
    }
}

/// Who may ask for a credential with which roles. A credential cannot register another (a
/// leaked key must not outlive its revocation through a replacement), and a customer asks
/// only for roles that do no more than its own, so no credential acts above the person who
/// asked.
pub(super) fn may_register(
    actor: &Actor,
    profile: &Profile,
    decision: &mailplane_policy::Decision,
    input: &CredentialCreate,
) -> Result<()> {
    let refuse = |reason: String| {
        let mut refusal = decision.refusal();
        refusal.reason = reason;
        Err(Error::Forbidden(Box::new(refusal)))
    };
    if actor.subject().starts_with(CREDENTIAL_KID_PREFIX) {
        return refuse(
            "an API credential cannot register another; a person of the tenant registers credentials".into(),
        );
    }
    // What the credential's roles let it do, activity by activity, must be within what the
    // requester's roles let it do: a tenant admin may create a reader, not the reverse.
    if actor.party() == Party::Customer {
        let letters = |roles: &[String], activity: &str| {
            roles.iter().fold(mailplane_types::Letters::NONE, |acc, r| {
                acc.union(profile.exercisable(Party::Customer, r, activity))
            })
        };
        for a in &profile.activities {
            let wanted = letters(&input.roles, a.id.as_str());
            let held = letters(actor.roles(), a.id.as_str());
            if wanted.intersect(held) != wanted {
                return refuse(format!(
                    "a credential may not do more than its requester: the roles asked for exercise {wanted} on `{}`, yours {held}",
                    a.id
                ));
            }
        }
    }
    Ok(())
}

/// Checks that an expiry lies in the future and at most [`MAX_LIFETIME`] ahead.
pub(super) fn check_expiry(p: &mut Problems, at: OffsetDateTime, now: OffsetDateTime) {
    if at <= now {
        p.add("expires_at", "must lie in the future");
    } else if at > now + MAX_LIFETIME {
        p.add("expires_at", "must lie at most 366 days ahead");
    }
}

/// The row of a new credential: every role must be a customer role of the tenant's
/// profile, so a credential can never act above the party it belongs to.
pub(super) fn new_credential(
    profile: &Profile,
    tenant: TenantId,
    input: &CredentialCreate,
    now: OffsetDateTime,
) -> Result<NewCredential> {
    let mut p = Problems::default();
    let name = p.name("name", &input.name);
    check_roles(&mut p, profile, &input.roles);
    let key = ed25519_dalek::VerifyingKey::from_public_key_pem(input.public_key.trim()).ok();
    if key.is_none() {
        check_public_key(&mut p, &input.public_key);
    }
    let expires_at = input.expires_at.unwrap_or(now + DEFAULT_LIFETIME);
    check_expiry(&mut p, expires_at, now);
    p.finish()?;
    let key = key.expect("checked above");
    let der = key.to_public_key_der().map_err(Error::internal)?;
    let public_key = key
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(Error::internal)?;
    let mut roles = input.roles.clone();
    roles.sort();
    roles.dedup();
    Ok(NewCredential {
        tenant_id: tenant,
        name,
        roles,
        public_key,
        fingerprint: hex::encode(Sha256::digest(der.as_bytes())),
        expires_at,
    })
}

impl ControlPlane {
    /// A credential of a tenant.
    pub async fn credential_view(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: CredentialId,
    ) -> Result<Credential> {
        self.tenant_for_read(actor, tenant, activity::CONTROL_PLANE_ACCESS)
            .await?;
        self.store
            .credential_view(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("credential", id))
    }

    /// Credentials of a tenant, revoked and expired ones included.
    pub async fn credential_list(
        &self,
        actor: &Actor,
        tenant: TenantId,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<Credential>> {
        let page = page_request(cursor, limit)?;
        self.tenant_for_read(actor, tenant, activity::CONTROL_PLANE_ACCESS)
            .await?;
        self.store.credential_list(tenant, page).await
    }

    /// Registers a credential: as the matrix routes `access.control-plane` (a request that
    /// automation fulfils at once in the shipped profiles).
    pub async fn credential_register(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: CredentialCreate,
    ) -> Result<super::Outcome<Credential>> {
        self.run(
            actor,
            tenant,
            super::Operation::CredentialRegister(input),
            None,
        )
        .await
    }

    /// Revokes a credential: tokens signed with it stop working at once.
    pub async fn credential_revoke(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: CredentialId,
    ) -> Result<super::Outcome<Credential>> {
        let op = super::Operation::CredentialRevoke { credential_id: id };
        self.run(actor, tenant, op, None).await
    }

    /// Verifies a bearer token into an actor: with the deployment's keyring, or, when the
    /// token names a credential (`kid` = `credential:<id>`), with that credential's public
    /// key, provided it is neither revoked nor expired. A credential's token acts for its
    /// tenant as `credential:<id>`, with the roles it asks for, each of which the credential
    /// must allow.
    pub async fn authenticate(&self, keyring: &Keyring, token: &str) -> Result<Actor> {
        let kid = Keyring::kid_of(token)?;
        let Some(id) = kid.strip_prefix(CREDENTIAL_KID_PREFIX) else {
            return keyring.verify(token);
        };
        let unknown = || Error::Unauthenticated(format!("the key `{kid}` is not trusted"));
        // One spelling per credential (lower-case, hyphenated), so that audit rows name a
        // credential one way only.
        let id = Uuid::parse_str(id)
            .ok()
            .filter(|u| u.hyphenated().to_string() == id)
            .ok_or_else(unknown)?;
        let credential = self
            .store
            .credential_by_id(id.into())
            .await?
            .ok_or_else(unknown)?;
        // The signature first: a caller without the private key learns nothing about the
        // credential's state.
        let claims = keyring
            .verify_credential(token, &kid, &credential.public_key)
            .map_err(|e| match e {
                // jsonwebtoken checks the signature before the claims: only a bad signature
                // hides the credential; an expired token with a good one says so.
                Error::Unauthenticated(m) if m.contains("signature") => unknown(),
                other => other,
            })?;
        if credential.revoked_at.is_some() {
            return Err(Error::Unauthenticated(format!(
                "the credential `{kid}` was revoked"
            )));
        }
        if credential.expires_at <= self.clock.now() {
            return Err(Error::Unauthenticated(format!(
                "the credential `{kid}` has expired"
            )));
        }
        if claims.party != Party::Customer || claims.org != credential.tenant_id.to_string() {
            return Err(Error::Unauthenticated(
                "a credential's token must name party `customer` and the credential's tenant as `org`"
                    .into(),
            ));
        }
        if let Some(role) = claims.roles.iter().find(|r| !credential.roles.contains(r)) {
            return Err(Error::Unauthenticated(format!(
                "the credential `{kid}` does not allow the role `{role}`"
            )));
        }
        let roles: Vec<&str> = claims.roles.iter().map(String::as_str).collect();
        if roles.is_empty() {
            return Err(Error::Unauthenticated("the token names no role".into()));
        }
        Ok(Actor::new(
            kid.clone(),
            OrgId::Tenant(credential.tenant_id),
            &roles,
        ))
    }
}

// The credential's operations (`credential.register`, `credential.revoke`): their input
// rules and the changes they make, reached by the dispatchers through `parse` and
// `credentials_apply`.

use super::Operation;
use super::workflow::{Applied, Made};
use mailplane_store::WriteTx;
use mailplane_types::resources::Tenant;

/// A credential operation whose input passed its check, with the values the check parsed (or
/// borrowed as they are).
pub(super) enum Checked<'a> {
    CredentialRegister(&'a CredentialCreate),
    CredentialRevoke(CredentialId),
}

/// Parses a credential operation's input into `p`'s problems and a checked value: `None` when `p`
/// holds a problem, or for another resource's operation, which the dispatcher never routes here.
pub(super) fn parse<'a>(
    op: &'a Operation,
    p: &mut Problems,
    profile: &Profile,
    now: OffsetDateTime,
) -> Option<Checked<'a>> {
    match op {
        Operation::CredentialRegister(i) => credential_register_check(p, profile, now, i),
        Operation::CredentialRevoke { credential_id } => {
            Some(Checked::CredentialRevoke(*credential_id))
        }
        _ => None,
    }
}

impl ControlPlane {
    /// Makes the change of a credential operation whose input passed its check.
    pub(super) async fn credentials_apply(
        &self,
        tx: &WriteTx,
        _actor: &Actor,
        t: &Tenant,
        checked: Checked<'_>,
    ) -> Result<Made> {
        match checked {
            Checked::CredentialRegister(i) => self.credential_register_apply(tx, t, i).await,
            Checked::CredentialRevoke(id) => self.credential_revoke_apply(tx, t, id).await,
        }
    }
}

/// Checks `credential.register`: a name, a public key, 1 to 16 roles of the profile, an
/// expiry ahead.
fn credential_register_check<'a>(
    p: &mut Problems,
    profile: &Profile,
    now: OffsetDateTime,
    input: &'a CredentialCreate,
) -> Option<Checked<'a>> {
    p.name("name", &input.name);
    check_public_key(p, &input.public_key);
    if input.roles.is_empty() || input.roles.len() > mailplane_types::limits::CREDENTIAL_ROLES {
        p.add("roles", "must name 1 to 16 roles");
    }
    check_roles(p, profile, &input.roles);
    if let Some(at) = input.expires_at {
        check_expiry(p, at, now);
    }
    Some(Checked::CredentialRegister(input))
}

impl ControlPlane {
    /// Applies `credential.register`.
    async fn credential_register_apply(
        &self,
        tx: &mailplane_store::WriteTx,
        tenant: &mailplane_types::resources::Tenant,
        input: &CredentialCreate,
    ) -> Result<Made> {
        let profile = self.profile_of(tenant)?;
        let c = tx
            .credential_insert(new_credential(profile, tenant.id, input, self.clock.now())?)
            .await?;
        let id = c.id;
        Ok(Made::new(
            Applied::Credential(c),
            AuditTarget::Credential,
            id,
            AuditOutcome::Created,
        ))
    }

    /// Applies `credential.revoke`.
    async fn credential_revoke_apply(
        &self,
        tx: &mailplane_store::WriteTx,
        tenant: &mailplane_types::resources::Tenant,
        credential_id: CredentialId,
    ) -> Result<Made> {
        let now = self.clock.now();
        let (c, revoked) = tx
            .credential_revoke(tenant.id, credential_id, now)
            .await?
            .ok_or_else(|| Error::not_found("credential", credential_id))?;
        if !revoked {
            return Err(Error::conflict(None, "the credential was revoked already"));
        }
        Ok(Made::new(
            Applied::Credential(c),
            AuditTarget::Credential,
            credential_id,
            AuditOutcome::Revoked,
        ))
    }
}

//! Idempotency keys: the answer of a create stored under the caller's key for 24 hours, so
//! that a retried call gets the first call's answer instead of creating twice.
//!
//! The HTTP layer claims a key with the change's transaction (`Idempotency-Key` on every
//! `POST`) and records the answer once the change committed; the mailbox batch keeps its own
//! key space. Both are scoped to one principal, so that two principals never meet each
//! other's keys.

use sha2::{Digest, Sha256};

use mailplane_types::{Error, Result};

use super::ControlPlane;
use crate::Actor;

/// The key space of one principal for one kind of call: the store's key is this scope and
/// the caller's key, so a stored answer is found only by the principal that made the first
/// call, and two principals never meet each other's keys.
///
/// The principal is its party, organisation, subject and roles (sorted, without repeats:
/// the same grant however the token lists it). A token with other roles is another
/// principal, authorized afresh, since its decisions may differ; a customer credential's
/// token names the credential as its subject. The principal is kept as a SHA-256 of an
/// unambiguous encoding (JSON), so that the scope has a bounded length whatever the token
/// holds, with the organisation in clear in front for an operator reading the table.
///
/// Keys stored before the principal was part of the scope (`<org>|http`,
/// `<org>|mailbox.batch|<tenant>`) match no principal: they are never replayed, and the
/// sweep forgets them after 24 hours.
pub(super) fn key_scope(actor: &Actor, call: &str) -> String {
    let mut roles: Vec<&str> = actor.roles().iter().map(String::as_str).collect();
    roles.sort_unstable();
    roles.dedup();
    let principal = serde_json::json!([
        actor.party(),
        actor.org().to_string(),
        actor.subject(),
        roles
    ]);
    let digest = hex::encode(Sha256::digest(principal.to_string().as_bytes()));
    format!("{}|{call}|{digest}", actor.org())
}

/// The scope of the HTTP layer's keys (`Idempotency-Key` on every `POST`): one principal's,
/// whatever the operation, since the request's method and path are part of its digest.
fn http_scope(actor: &Actor) -> String {
    key_scope(actor, "http")
}

/// A key is 1 to 255 visible ASCII characters.
pub(super) fn key_rule(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Error::invalid(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(())
}

impl ControlPlane {
    /// Forgets the answers stored under idempotency keys more than 24 hours ago; `serve`
    /// runs it with the request expiry sweep. Returns how many were forgotten.
    pub async fn idempotency_purge(&self) -> Result<u64> {
        self.store
            .idempotency_purge(self.clock.now() - time::Duration::days(1))
            .await
    }

    /// The answer stored under a caller's key in the last 24 hours, if any: the HTTP
    /// layer's `Idempotency-Key` on every create. A pending answer (status 0) is a call
    /// whose change committed and whose answer is not recorded yet.
    pub async fn idempotency_lookup(
        &self,
        actor: &Actor,
        key: &str,
    ) -> Result<Option<mailplane_store::StoredAnswer>> {
        key_rule(key)?;
        let now = self.clock.now();
        Ok(self
            .store
            .idempotency_get(&http_scope(actor), key)
            .await?
            .filter(|stored| stored.created_at > now - time::Duration::days(1)))
    }

    /// The claim to attach to a create's transaction (see [`mailplane_store::guard`]).
    pub fn idempotency_claim(
        &self,
        actor: &Actor,
        key: &str,
        request_hash: String,
    ) -> mailplane_store::guard::IdempotencyClaim {
        mailplane_store::guard::IdempotencyClaim {
            scope: http_scope(actor),
            key: key.to_string(),
            request_hash,
            created_at: self.clock.now(),
            nonce: uuid::Uuid::now_v7().to_string(),
        }
    }

    /// Records the answer of a call whose key was claimed with its change; false when the
    /// change rolled back and took the claim with it.
    pub async fn idempotency_record(
        &self,
        claim: &mailplane_store::guard::IdempotencyClaim,
        status: u16,
        response: String,
    ) -> Result<bool> {
        self.store
            .idempotency_record(&claim.scope, &claim.key, &claim.nonce, status, response)
            .await
    }
}

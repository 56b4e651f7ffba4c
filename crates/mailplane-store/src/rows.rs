//! Conversions from rows to the resource types callers see.
//!
//! A stored value that no longer parses (a hand-edited status, a malformed name) is an
//! internal error, never a panic.

use mailplane_types::resources::{
    AuditEntry, Credential, Domain, Event, Mailbox, MailboxKind, MailboxStatus, Partner, Request,
    RequestKind, RequestState, Subscription, Tenant, TenantStatus,
};
use mailplane_types::{DomainName, EmailAddress, Error, Party, Result};

use crate::entity::{
    api_credential, audit_log, domain, event, mailbox, partner, request, subscription, tenant,
};

pub(crate) fn partner(r: partner::Model) -> Partner {
    Partner {
        id: r.id.into(),
        name: r.name,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

pub(crate) fn tenant(r: tenant::Model) -> Result<Tenant> {
    Ok(Tenant {
        id: r.id.into(),
        status: TenantStatus::parse(&r.status)
            .ok_or_else(|| Error::internal(format!("tenant {} has status {}", r.id, r.status)))?,
        name: r.name,
        profile: r.profile,
        profile_version: r.profile_version as u32,
        partner_id: r.partner_id.map(Into::into),
        slug: r.slug,
        region: r.region,
        region_preference: r.region_preference,
        offer: r.offer,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

pub(crate) fn domain(r: domain::Model) -> Result<Domain> {
    Ok(Domain {
        id: r.id.into(),
        tenant_id: r.tenant_id.into(),
        name: DomainName::parse(&r.name)
            .map_err(|e| Error::internal(format!("domain {} name {}: {e}", r.id, r.name)))?,
        default: r.kind == DEFAULT_DOMAIN,
        verified: r.verified_at.is_some(),
        verification_token: r.verification_token,
        verified_at: r.verified_at,
        checked_at: r.checked_at,
        created_at: r.created_at,
    })
}

/// The `kind` of a tenant's default domain.
pub(crate) const DEFAULT_DOMAIN: &str = "default";

pub(crate) fn subscription(r: subscription::Model) -> Subscription {
    let count = |v: i32| u32::try_from(v).unwrap_or(0);
    Subscription {
        id: r.id.into(),
        tenant_id: r.tenant_id.into(),
        sku: r.sku,
        seats: count(r.seats),
        minimum_seats: count(r.minimum_seats),
        assigned: count(r.assigned),
        free: count(r.seats - r.assigned),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

pub(crate) fn mailbox(r: mailbox::Model) -> Result<Mailbox> {
    Ok(Mailbox {
        id: r.id.into(),
        tenant_id: r.tenant_id.into(),
        domain_id: r.domain_id.into(),
        address: EmailAddress::parse(&r.address)
            .map_err(|e| Error::internal(format!("mailbox {} address: {e}", r.id)))?,
        display_name: r.display_name,
        quota_bytes: r.quota_bytes,
        status: MailboxStatus::parse(&r.status)
            .ok_or_else(|| Error::internal(format!("mailbox {} has status {}", r.id, r.status)))?,
        kind: MailboxKind::parse(&r.kind)
            .ok_or_else(|| Error::internal(format!("mailbox {} has kind {}", r.id, r.kind)))?,
        forward_to: r
            .forward_to
            .as_deref()
            .map(EmailAddress::parse)
            .transpose()
            .map_err(|e| Error::internal(format!("mailbox {} forwarding: {e}", r.id)))?,
        password_set_at: r.password_set_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

pub(crate) fn audit(r: audit_log::Model) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.seq,
        id: r.id.into(),
        at: r.at,
        actor: r.actor,
        party: r.party,
        org: r.org,
        roles: r.roles,
        activity: r.activity,
        letters: r
            .letters
            .parse()
            .map_err(|e| Error::internal(format!("audit row {}: {e}", r.seq)))?,
        tenant_id: r.tenant_id.map(Into::into),
        target_kind: r
            .target_kind
            .parse()
            .map_err(|e| Error::internal(format!("audit row {}: {e}", r.seq)))?,
        target_id: r.target_id,
        outcome: r
            .outcome
            .parse()
            .map_err(|e| Error::internal(format!("audit row {}: {e}", r.seq)))?,
        prev_hash: r.prev_hash,
        hash: r.hash,
        request_id: r.request_id.map(Into::into),
    })
}

pub(crate) fn event(r: event::Model) -> Result<Event> {
    let audience = [
        (r.for_customer, Party::Customer),
        (r.for_partner, Party::Partner),
        (r.for_provider, Party::Provider),
    ]
    .into_iter()
    .filter_map(|(on, p)| on.then_some(p))
    .collect();
    Ok(Event {
        seq: r.seq,
        id: r.id.into(),
        at: r.at,
        tenant_id: r.tenant_id.map(Into::into),
        actor_party: r
            .actor_party
            .parse()
            .map_err(|e| Error::internal(format!("event {}: {e}", r.seq)))?,
        activity: r.activity,
        actor: r.actor,
        target_kind: r
            .target_kind
            .parse()
            .map_err(|e| Error::internal(format!("event {}: {e}", r.seq)))?,
        target_id: r.target_id,
        outcome: r
            .outcome
            .parse()
            .map_err(|e| Error::internal(format!("event {}: {e}", r.seq)))?,
        audience,
        request_id: r.request_id.map(Into::into),
    })
}

pub(crate) fn request(r: request::Model) -> Result<Request> {
    let bad = |what: &str| Error::internal(format!("request {}: bad {what}", r.id));
    Ok(Request {
        id: r.id.into(),
        tenant_id: r.tenant_id.into(),
        activity: r.activity.clone(),
        profile: r.profile.clone(),
        profile_version: r.profile_version as u32,
        payload: serde_json::from_str(&r.payload).map_err(|_| bad("payload"))?,
        note: r.note.clone(),
        state: RequestState::parse(&r.state).ok_or_else(|| bad("state"))?,
        requester: r.requester.clone(),
        requester_party: r.requester_party.parse().map_err(|_| bad("party"))?,
        requester_org: r.requester_org.clone(),
        requester_roles: r
            .requester_roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        responsible: parties(&r.responsible).ok_or_else(|| bad("responsible"))?,
        addressed_to: parties(&r.addressed_to).ok_or_else(|| bad("addressed_to"))?,
        kind: RequestKind::parse(&r.kind).ok_or_else(|| bad("kind"))?,
        operation: r.operation.clone(),
        decided_by: r.decided_by.clone(),
        reason: r.reason.clone(),
        result: r
            .result
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|_| bad("result"))?,
        answers: serde_json::from_str(&r.answers).map_err(|_| bad("answers"))?,
        expires_at: r.expires_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// Parties stored comma-separated; `None` when one does not parse.
fn parties(s: &str) -> Option<Vec<Party>> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<Party>().ok())
        .collect()
}

pub(crate) fn credential(r: api_credential::Model) -> Credential {
    Credential {
        id: r.id.into(),
        tenant_id: r.tenant_id.into(),
        name: r.name,
        roles: r
            .roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        public_key: r.public_key,
        fingerprint: r.fingerprint,
        created_at: r.created_at,
        expires_at: r.expires_at,
        revoked_at: r.revoked_at,
    }
}

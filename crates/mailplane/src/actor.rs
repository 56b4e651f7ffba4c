//! The acting principal.
//!
//! An [`Actor`] is who calls: a subject, a party, an organisation and roles. Its party and
//! organisation always agree (a customer belongs to a tenant, a partner to a partner
//! organisation, the provider to itself), because the constructors are the only way to
//! build one. Its scope, the tenants it may touch at all, follows from the organisation.

use mailplane_store::Scope;
use mailplane_types::{OrgId, PartnerId, Party, TenantId};

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    subject: String,
    org: OrgId,
    roles: Vec<String>,
}

impl Actor {
    /// A provider principal (staff or automation).
    pub fn provider(subject: impl Into<String>, roles: &[&str]) -> Actor {
        Actor::new(subject, OrgId::Provider, roles)
    }

    /// A principal of a partner organisation.
    pub fn partner(subject: impl Into<String>, partner: PartnerId, roles: &[&str]) -> Actor {
        Actor::new(subject, OrgId::Partner(partner), roles)
    }

    /// A principal of a customer tenant.
    pub fn customer(subject: impl Into<String>, tenant: TenantId, roles: &[&str]) -> Actor {
        Actor::new(subject, OrgId::Tenant(tenant), roles)
    }

    /// An actor from an organisation and role names.
    pub fn new(subject: impl Into<String>, org: OrgId, roles: &[&str]) -> Actor {
        Actor {
            subject: subject.into(),
            org,
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// The subject (a user id, an e-mail address, a job name).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The party, which follows from the organisation.
    pub fn party(&self) -> Party {
        match self.org {
            OrgId::Provider => Party::Provider,
            OrgId::Partner(_) => Party::Partner,
            OrgId::Tenant(_) => Party::Customer,
        }
    }

    /// The organisation.
    pub fn org(&self) -> OrgId {
        self.org
    }

    /// The roles.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The tenants this actor may touch at all.
    pub(crate) fn scope(&self) -> Scope {
        match self.org {
            OrgId::Provider => Scope::All,
            OrgId::Partner(p) => Scope::Partner(p),
            OrgId::Tenant(t) => Scope::Tenant(t),
        }
    }
}

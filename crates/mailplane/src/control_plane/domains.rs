//! Custom domains: the DNS records a customer publishes at its own DNS host, and the check
//! that proves it controls the domain.
//!
//! The provider is not the customer's DNS host. Adding a domain yields a verification token;
//! Mailplane tells the customer exactly which records to publish (the verification TXT
//! record, MX, SPF and autodiscover) and checks them with a real resolver against the
//! configured name servers. The domain is verified once its TXT record is found; the other
//! records are reported so that the customer knows when mail will flow. Mailbox addresses,
//! aliases and groups use verified domains only.
//!
//! Domains are added and removed as operations (`domain.create`, `domain.delete`) and read
//! under `directory.administer`, like mailboxes.
//!
//! The lookups run outside any database transaction: a slow name server never holds the
//! writer. Only the result is written, with its audit row when the domain becomes verified.

use serde::Serialize;

use mailplane_types::catalogue::Catalogue;
use mailplane_types::dns::{DnsRecord, RecordCheck, RecordKind, RecordPurpose, RecordStatus};
use mailplane_types::resources::Domain;
use mailplane_types::{AuditOutcome, AuditTarget, DomainId, Error, Result, TenantId};

use super::{ControlPlane, activity};
use crate::Actor;
use crate::dns::{DnsChecker, DnsSettings};

/// The records a customer publishes for a domain.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainRecords {
    /// The domain.
    pub domain: Domain,
    /// The records to publish at the customer's DNS host.
    pub records: Vec<DnsRecord>,
}

/// The outcome of checking a domain's records.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainVerification {
    /// The domain after the check.
    pub domain: Domain,
    /// Whether the domain is verified (its verification TXT record was found, now or
    /// before).
    pub verified: bool,
    /// Whether every record is found, so that mail to the domain reaches the service.
    pub mail_ready: bool,
    /// Each record: found, missing or wrong, with what DNS returned.
    pub checks: Vec<RecordCheck>,
}

/// The prefix of the verification TXT record's value.
pub const VERIFICATION_PREFIX: &str = "mailplane-verification=";

/// The records a customer publishes for a custom domain with its token.
pub fn expected_records(catalogue: &Catalogue, domain: &str, token: &str) -> Vec<DnsRecord> {
    let dns = &catalogue.dns;
    vec![
        DnsRecord {
            purpose: RecordPurpose::Verification,
            kind: RecordKind::Txt,
            name: format!("{}.{domain}", dns.verification_label),
            value: format!("{VERIFICATION_PREFIX}{token}"),
            priority: None,
        },
        DnsRecord {
            purpose: RecordPurpose::Mx,
            kind: RecordKind::Mx,
            name: domain.to_string(),
            value: dns.mx_host.clone(),
            priority: Some(dns.mx_priority),
        },
        DnsRecord {
            purpose: RecordPurpose::Spf,
            kind: RecordKind::Txt,
            name: domain.to_string(),
            value: format!("v=spf1 include:{} ~all", dns.spf_include),
            priority: None,
        },
        DnsRecord {
            purpose: RecordPurpose::Autodiscover,
            kind: RecordKind::Cname,
            name: format!("autodiscover.{domain}"),
            value: dns.autodiscover_host.clone(),
            priority: None,
        },
    ]
}

/// The resolver a control plane checks domains with, or why there is none.
#[derive(Clone, Debug)]
pub(super) enum Resolver {
    Ready(Box<DnsChecker>),
    Unavailable(String),
}

impl Resolver {
    pub(super) fn from_settings(settings: &DnsSettings) -> Resolver {
        match DnsChecker::new(settings) {
            Ok(c) => Resolver::Ready(Box::new(c)),
            Err(e) => Resolver::Unavailable(e.to_string()),
        }
    }
}

// A tenant's domains: added and removed as operations, read under `directory.administer`.
impl ControlPlane {
    /// Adds a domain to a tenant (`directory.administer`).
    pub async fn domain_create(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: crate::input::DomainCreate,
    ) -> Result<super::Outcome<Domain>> {
        self.run(actor, tenant, super::Operation::DomainCreate(input), None)
            .await
    }

    /// A domain of a tenant.
    pub async fn domain_view(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: DomainId,
    ) -> Result<Domain> {
        self.tenant_for_read(actor, tenant, activity::DIRECTORY)
            .await?;
        self.store
            .domain_view(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("domain", id))
    }

    /// Domains of a tenant.
    pub async fn domain_list(
        &self,
        actor: &Actor,
        tenant: TenantId,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<mailplane_store::Page<Domain>> {
        let page = super::page_request(cursor, limit)?;
        self.tenant_for_read(actor, tenant, activity::DIRECTORY)
            .await?;
        self.store.domain_list(tenant, page).await
    }

    /// Removes a domain that no mailbox uses.
    pub async fn domain_delete(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: DomainId,
    ) -> Result<super::Outcome<()>> {
        self.run(
            actor,
            tenant,
            super::Operation::DomainDelete { domain_id: id },
            None,
        )
        .await
    }
}

impl ControlPlane {
    /// Refuses a custom domain that is the provider's: the mail domain that holds tenants'
    /// default domains (and anything under it), and the hosts customers' records point to.
    pub(super) fn not_the_providers(&self, name: &mailplane_types::DomainName) -> Result<()> {
        let c = self.catalogue_view();
        let n = name.as_str();
        let under = |parent: &str| n == parent || n.ends_with(&format!(".{parent}"));
        if under(&c.mail_domain) {
            return Err(Error::invalid(
                "name",
                format!(
                    "{n} is under the provider's mail domain {}, which holds tenants' default domains",
                    c.mail_domain
                ),
            ));
        }
        if [&c.dns.mx_host, &c.dns.spf_include, &c.dns.autodiscover_host]
            .iter()
            .any(|h| under(h))
        {
            return Err(Error::invalid(
                "name",
                format!("{n} is one of the provider's own hosts"),
            ));
        }
        Ok(())
    }

    /// The same control plane checking customers' DNS records with `settings` (name
    /// servers and timeout). The default is the system's resolver configuration.
    pub fn with_dns(mut self, settings: &DnsSettings) -> Result<Self> {
        self.dns = std::sync::Arc::new(Resolver::Ready(Box::new(DnsChecker::new(settings)?)));
        Ok(self)
    }

    /// The records the customer publishes for a custom domain. The default domain needs
    /// none: the provider serves it.
    pub async fn domain_records_view(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: DomainId,
    ) -> Result<DomainRecords> {
        let domain = self.domain_view(actor, tenant, id).await?;
        let records = match (&domain.verification_token, domain.default) {
            (Some(token), false) => {
                expected_records(self.catalogue_view(), domain.name.as_str(), token)
            }
            _ => vec![],
        };
        Ok(DomainRecords { domain, records })
    }

    /// Checks a custom domain's records with the resolver and records the result: the
    /// domain becomes verified when its verification record is found. Checking is work on
    /// the directory: the caller's party must hold R and A on `directory.administer`.
    pub async fn domain_verify(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: DomainId,
    ) -> Result<DomainVerification> {
        let (_, decision) = self
            .tenant_for_read(actor, tenant, activity::DIRECTORY)
            .await?;
        // The check changes what the domain may carry, so it is the directory work of the
        // party that holds R and A; it is a fact to record, never a request to file.
        if decision.verdict != mailplane_policy::Verdict::Execute {
            return Err(Error::Forbidden(Box::new(decision.refusal())));
        }
        let domain = self
            .store
            .domain_view(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("domain", id))?;
        if domain.default {
            return Err(Error::conflict(
                None,
                format!(
                    "{} is the tenant's default domain: the provider serves it, and it needs no verification",
                    domain.name
                ),
            ));
        }
        let token = domain.verification_token.clone().ok_or_else(|| {
            Error::internal(format!("domain {} has no verification token", domain.id))
        })?;
        let checker = match self.dns.as_ref() {
            Resolver::Ready(c) => c,
            Resolver::Unavailable(why) => {
                return Err(Error::Unavailable(format!(
                    "no DNS resolver is configured: {why}"
                )));
            }
        };
        let expected = expected_records(self.catalogue_view(), domain.name.as_str(), &token);
        let checks = checker.check(&expected).await;
        let found = |purpose: RecordPurpose| {
            checks
                .iter()
                .any(|c| c.record.purpose == purpose && c.status == RecordStatus::Found)
        };
        let txt_found = found(RecordPurpose::Verification);
        let mail_ready = checks.iter().all(|c| c.status == RecordStatus::Found);
        let tx = self.store.begin().await?;
        let now = self.clock.now();
        super::lifecycle::frozen(tx.termination_current(tenant).await?.as_ref(), now, false)?;
        self.customer_not_suspended_in(&tx, actor, tenant).await?;
        let (updated, newly_verified) = tx.domain_checked(tenant, id, txt_found, now).await?;
        if newly_verified {
            let change = Self::change(
                actor,
                &decision,
                Some(tenant),
                mailplane_types::AuditTarget::Domain,
                id,
                mailplane_types::AuditOutcome::Verified,
            );
            Self::record_and_commit(tx, change).await?;
        } else {
            tx.commit().await?;
        }
        Ok(DomainVerification {
            verified: updated.verified,
            domain: updated,
            mail_ready,
            checks,
        })
    }
}

// The domain's operations (`domain.create`, `domain.delete`): their input rules and the
// changes they make, reached by the dispatchers through `parse` and `domains_apply`.

use super::Operation;
use super::workflow::{Applied, Made};
use crate::input::Problems;
use mailplane_store::WriteTx;
use mailplane_types::DomainName;
use mailplane_types::resources::Tenant;

/// A domain operation whose input passed its check, with the values the check parsed (or borrowed
/// as they are).
pub(super) enum Checked {
    DomainCreate(DomainName),
    DomainDelete(DomainId),
}

/// Parses a domain operation's input into `p`'s problems and a checked value: `None` when `p` holds
/// a problem, or for another resource's operation, which the dispatcher never routes here.
pub(super) fn parse(op: &Operation, p: &mut Problems) -> Option<Checked> {
    match op {
        Operation::DomainCreate(i) => domain_create_check(p, i),
        Operation::DomainDelete { domain_id } => Some(Checked::DomainDelete(*domain_id)),
        _ => None,
    }
}

impl ControlPlane {
    /// Makes the change of a domain operation whose input passed its check.
    pub(super) async fn domains_apply(
        &self,
        tx: &WriteTx,
        _actor: &Actor,
        t: &Tenant,
        checked: Checked,
    ) -> Result<Made> {
        match checked {
            Checked::DomainCreate(name) => self.domain_create_apply(tx, t, name).await,
            Checked::DomainDelete(id) => self.domain_delete_apply(tx, t, id).await,
        }
    }
}

/// Checks `domain.create`: the name parses, once, into the domain name the change uses.
fn domain_create_check(p: &mut Problems, input: &crate::input::DomainCreate) -> Option<Checked> {
    match DomainName::parse(&input.name) {
        Ok(name) => Some(Checked::DomainCreate(name)),
        Err(rule) => {
            p.add("name", rule);
            None
        }
    }
}

impl ControlPlane {
    /// Applies `domain.create`.
    async fn domain_create_apply(
        &self,
        tx: &mailplane_store::WriteTx,
        tenant: &mailplane_types::resources::Tenant,
        name: mailplane_types::DomainName,
    ) -> Result<Made> {
        self.not_the_providers(&name)?;
        let d = tx
            .domain_insert(tenant.id, &name, &verification_token())
            .await?;
        let id = d.id;
        Ok(Made::new(
            Applied::Domain(d),
            AuditTarget::Domain,
            id,
            AuditOutcome::Created,
        ))
    }

    /// Applies `domain.delete`.
    async fn domain_delete_apply(
        &self,
        tx: &mailplane_store::WriteTx,
        tenant: &mailplane_types::resources::Tenant,
        domain_id: DomainId,
    ) -> Result<Made> {
        let tid = tenant.id;
        let d = tx
            .domain_view(tid, domain_id)
            .await?
            .ok_or_else(|| Error::not_found("domain", domain_id))?;
        if d.default {
            return Err(Error::conflict(
                None,
                format!(
                    "{} is the tenant's default domain: it goes only with the tenant",
                    d.name
                ),
            ));
        }
        tx.domain_delete(tid, domain_id).await?;
        Ok(Made::new(
            Applied::Deleted,
            AuditTarget::Domain,
            domain_id,
            AuditOutcome::Deleted,
        ))
    }
}

/// A domain verification token: 128 random bits, hex.
fn verification_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

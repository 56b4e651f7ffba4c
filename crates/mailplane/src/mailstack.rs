//! The mail stack's lookups: what Postfix asks to route mail and what Dovecot asks to sign a
//! mailbox in and deliver to it, answered from the control plane's state at the moment of
//! the question.
//!
//! Mailplane serves these lookups itself ([`MailstackServer`]) instead of letting the mail
//! servers read its tables: the rules (which domains receive mail, who may sign in, where a
//! group goes) are written once, here, in Rust, and a lookup that cannot be answered becomes
//! "try again later" for the mail server, never "no such user". Two protocols carry them:
//! Postfix's `socketmap` tables ([`socketmap`]) and Dovecot's dict protocol ([`dict`]),
//! both on loopback or a local socket only. The book's chapter "Running a mail stack" has the
//! table of what each answer means.
//!
//! Every lookup is keyed by a domain name or an address, which the platform keeps unique, so
//! it is tenant-blind only where it must be: an answer names addresses and, for Dovecot, the
//! ids that place a mailbox's files, and nothing else of the tenant.

mod config;
mod dict;
mod listeners;
mod socketmap;

use std::sync::Arc;

use mailplane_store::{DataStore, RouteOwner, SignInRecord};
use mailplane_types::passwords::{SignIn, SignInRefusal};
use mailplane_types::resources::{MailboxKind, MailboxStatus, TenantStatus};
use mailplane_types::{EmailAddress, MailboxId, Result, TenantId};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::data_plane::{DataPlane, RegionalDataPlane};

pub use config::{DOVEADM_PASSWORD, MailstackConfig};
pub use listeners::{MailstackServer, MailstackSettings, SocketmapListen};

/// Answers the mail stack's lookups from the control plane's store. Cheap to clone.
#[derive(Clone)]
pub struct MailLookups {
    store: DataStore,
    clock: Arc<dyn Clock>,
    data_planes: Option<Arc<RegionalDataPlane>>,
}

/// Where mail to an address goes, beyond the mailbox of the same address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The address is not rewritten: it is a mailbox's own address without forwarding, or
    /// not hosted at all (the mailbox lookup then decides).
    Unchanged,
    /// Mail goes to these addresses instead (an alias's mailbox, a group's members, a
    /// forwarding target).
    To(Vec<EmailAddress>),
}

/// What Dovecot needs to sign a mailbox in: its password hash, and whether it may sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRecord {
    /// The Argon2id PHC string, as stored.
    pub hash: String,
    /// Whether the right password signs in now, and why not.
    pub sign_in: SignIn,
}

/// What Dovecot needs to deliver to a mailbox and open it: where its files are and its quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRecord {
    /// The tenant, the first level of the mailbox's home directory.
    pub tenant_id: TenantId,
    /// The mailbox, the second level.
    pub mailbox_id: MailboxId,
    /// The storage quota in bytes.
    pub quota_bytes: i64,
}

/// What Dovecot's userdb gets for a user: the mailbox's place, its quota and the password
/// of its storage keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The tenant, the first level of the mailbox's home directory.
    pub tenant_id: TenantId,
    /// The mailbox, the second level.
    pub mailbox_id: MailboxId,
    /// The storage quota in bytes; `None` for the data plane's own sessions, which are
    /// never refused for space.
    pub quota_bytes: Option<i64>,
    /// The password Dovecot's `mail_crypt` opens the mailbox's private key with, derived
    /// from the tenant's data key by the data plane; `None` without a data plane that gives
    /// one (Dovecot then stores nothing for the mailbox), and after the tenant's erase.
    pub mail_crypt_password: Option<String>,
}

impl MailLookups {
    /// Lookups over `store`, judging password age by `clock`, with the mailboxes' storage
    /// passwords and the regions' mail hosts from `data_planes`.
    pub fn new(
        store: DataStore,
        clock: Arc<dyn Clock>,
        data_planes: Option<Arc<RegionalDataPlane>>,
    ) -> MailLookups {
        MailLookups {
            store,
            clock,
            data_planes,
        }
    }

    /// Whether mail to this domain is received here: a verified custom domain or a default
    /// domain of a tenant whose configuration still exists.
    pub async fn domain(&self, name: &str) -> Result<bool> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        Ok(self
            .store
            .mailstack_domain(&name)
            .await?
            .is_some_and(|d| d.tenant_status != TenantStatus::Terminated))
    }

    /// Where Postfix delivers mail for this domain or an address of it: the LMTP of the
    /// Dovecot back end its tenant is placed on (placing the tenant if its region has several
    /// and it was never placed), or `None` for the mail stack's default transport (a region
    /// without a back end of its own, or a domain not hosted). A tenant placed on a back end
    /// the mail hosts file no longer lists is an error, which Postfix defers.
    pub async fn transport(&self, name: &str) -> Result<Option<std::net::SocketAddr>> {
        let Some(planes) = self.data_planes.as_ref().filter(|p| p.has_mail_hosts()) else {
            return Ok(None);
        };
        // Postfix asks a socketmap (a pattern table to it) with the whole address only: the
        // domain decides.
        let name = name.rsplit_once('@').map_or(name, |(_, domain)| domain);
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let Some(d) = self
            .store
            .mailstack_domain(&name)
            .await?
            .filter(|d| d.tenant_status != TenantStatus::Terminated)
        else {
            return Ok(None);
        };
        planes
            .lmtp_of(d.tenant_id, d.region.as_deref(), d.mail_backend.as_deref())
            .await
    }

    /// Where mail to `address` goes instead of the address itself, if anywhere.
    pub async fn route(&self, address: &str) -> Result<Route> {
        let Some(address) = parse(address) else {
            return Ok(Route::Unchanged);
        };
        let Some(record) = self.store.mailstack_route(address.as_str()).await? else {
            return Ok(Route::Unchanged);
        };
        if record.tenant_status == TenantStatus::Terminated {
            return Ok(Route::Unchanged);
        }
        Ok(match record.owner {
            // Forwarding keeps no copy: it is how a mailbox migrating away hands its mail to
            // the new system.
            RouteOwner::Mailbox(Some(target)) => Route::To(vec![target]),
            RouteOwner::Mailbox(None) => Route::Unchanged,
            RouteOwner::Alias(mailbox) => Route::To(vec![mailbox]),
            RouteOwner::Group(members) if members.is_empty() => Route::Unchanged,
            RouteOwner::Group(members) => Route::To(members),
        })
    }

    /// The mailbox whose own address this is, if mail to it is delivered here. Disabled
    /// mailboxes, shared mailboxes and suspended tenants' mailboxes receive mail; a
    /// terminated tenant's do not exist.
    pub async fn mailbox(&self, address: &str) -> Result<Option<MailboxRecord>> {
        let Some(address) = parse(address) else {
            return Ok(None);
        };
        Ok(self
            .store
            .mailstack_mailbox(address.as_str())
            .await?
            .filter(|r| r.tenant_status != TenantStatus::Terminated)
            .map(|r| MailboxRecord {
                tenant_id: r.tenant_id,
                mailbox_id: r.mailbox_id,
                quota_bytes: r.quota_bytes,
            }))
    }

    /// What Dovecot's userdb answers for `user`: a mailbox's own address, as
    /// [`Self::mailbox`] finds it, or the name Mailplane's Dovecot data plane gives a mailbox
    /// ([`crate::data_plane::dovecot_user`]), which is found by its ids alone, whatever the
    /// state of the mailbox and its tenant, so that its storage can be read for an export
    /// and destroyed at the end; the data plane's own sessions have no quota.
    pub async fn userdb(&self, user: &str) -> Result<Option<UserRecord>> {
        let (tenant_id, mailbox_id, quota_bytes) = match crate::data_plane::parse_dovecot_user(user)
        {
            Some((tenant, mailbox)) => (tenant, mailbox, None),
            None => match self.mailbox(user).await? {
                Some(m) => (m.tenant_id, m.mailbox_id, Some(m.quota_bytes)),
                None => return Ok(None),
            },
        };
        let mail_crypt_password = match &self.data_planes {
            None => None,
            Some(plane) => match plane.mail_crypt_password(tenant_id, mailbox_id).await {
                Ok(password) => password,
                // The tenant's key is erased: its storage is only destroyed, never opened.
                Err(mailplane_types::Error::Conflict { .. }) if quota_bytes.is_none() => None,
                Err(e) => return Err(e),
            },
        };
        Ok(Some(UserRecord {
            tenant_id,
            mailbox_id,
            quota_bytes,
            mail_crypt_password,
        }))
    }

    /// The password record of the mailbox whose own address this is, if it has a password.
    pub async fn password(&self, address: &str) -> Result<Option<PasswordRecord>> {
        let Some(record) = self.sign_in_record(address).await? else {
            return Ok(None);
        };
        let sign_in = sign_in(&record, self.clock.now())?;
        Ok(record
            .password
            .map(|(hash, _)| PasswordRecord { hash, sign_in }))
    }

    /// What a Dovecot front proxy's passdb gets for `address`: the password record, and the
    /// IMAP address of the back end the mailbox's tenant is placed on (placing it at need), or
    /// `None` when the tenant's region has no back end of its own (the proxy then has nowhere
    /// to send the client). A back end the mail hosts file no longer lists is an error.
    pub async fn proxy(
        &self,
        address: &str,
    ) -> Result<Option<(PasswordRecord, Option<std::net::SocketAddr>)>> {
        let Some(record) = self.password(address).await? else {
            return Ok(None);
        };
        let Some(planes) = self.data_planes.as_ref().filter(|p| p.has_mail_hosts()) else {
            return Ok(Some((record, None)));
        };
        let Some(mailbox) = self.mailbox(address).await? else {
            return Ok(None);
        };
        let imap = planes.imap_of(mailbox.tenant_id).await?;
        Ok(Some((record, imap)))
    }

    /// Whether the mailbox whose own address this is signs in now, and why not; `None` for
    /// an address that is no mailbox's.
    pub(crate) async fn sign_in_now(&self, address: &str) -> Result<Option<SignIn>> {
        match self.sign_in_record(address).await? {
            Some(record) => Ok(Some(sign_in(&record, self.clock.now())?)),
            None => Ok(None),
        }
    }

    async fn sign_in_record(&self, address: &str) -> Result<Option<SignInRecord>> {
        let Some(address) = parse(address) else {
            return Ok(None);
        };
        Ok(self
            .store
            .mailstack_sign_in(address.as_str())
            .await?
            .filter(|r| r.tenant_status != TenantStatus::Terminated))
    }
}

/// Whether a mailbox signs in at `now`, and why not: the one rule behind Dovecot's password
/// lookup and the API's answer.
pub(crate) fn sign_in(record: &SignInRecord, now: OffsetDateTime) -> Result<SignIn> {
    let refused = match (record.tenant_status, record.kind, record.status) {
        (TenantStatus::Terminated, _, _) => Some(SignInRefusal::TenantTerminated),
        // A deleted mailbox is refused for that first: a restore is what would let it in.
        (_, _, MailboxStatus::Deleted) => Some(SignInRefusal::MailboxDeleted),
        (_, _, MailboxStatus::Inactive) => Some(SignInRefusal::MailboxInactive),
        (TenantStatus::Suspended, _, _) => Some(SignInRefusal::TenantSuspended),
        _ if record.mailbox_suspended => Some(SignInRefusal::MailboxSuspended),
        (_, MailboxKind::Shared, _) => Some(SignInRefusal::SharedMailbox),
        (_, _, MailboxStatus::Disabled) => Some(SignInRefusal::MailboxDisabled),

        _ => None,
    };
    if let Some(why) = refused {
        return Ok(SignIn::refused(why));
    }
    let Some((_, set_at)) = &record.password else {
        return Ok(SignIn::refused(SignInRefusal::NoPassword));
    };
    let policy = crate::passwords::parse_policy(record.password_policy.clone())?;
    if crate::passwords::status(&policy, *set_at, now).rotation_due {
        return Ok(SignIn::refused(SignInRefusal::PasswordExpired));
    }
    Ok(SignIn::allowed())
}

/// A lookup key as an address, or `None` for the keys Postfix also tries (`@domain`, a bare
/// local part) and anything else that is not one: those are never hosted addresses.
fn parse(key: &str) -> Option<EmailAddress> {
    EmailAddress::parse(key).ok()
}

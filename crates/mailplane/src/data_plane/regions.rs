//! Regions as mail hosts: each region of the catalogue keeps its tenants' mailboxes on its
//! own Dovecot back ends, or in the deployment's default data plane (the embedded file
//! store), and [`RegionalDataPlane`] sends each call to the back end the tenant is placed on.
//!
//! Which region has which back ends is the deployment's business, not the published
//! catalogue's (the catalogue is shown to every principal): it is a file of its own,
//! [`MailHosts`], whose entries name catalogue regions. Every data plane of a deployment
//! shares the tenants' data keys ([`super::TenantKeys`]), so a tenant moved between back ends
//! keeps the key its mail opens with, and one erase covers every back end.
//!
//! Placement: a tenant of a region with one back end is on it, with nothing stored. In a
//! region with several, the tenant is placed at its first need (the first call or lookup
//! that must know its back end: a delivery's routing, a mailbox's storage password, an
//! import), and the placement is stored (`tenants.mail_backend`): on a back end that holds
//! the tenant's mailboxes already (a tenant from before its region had several back ends),
//! or else on the back end taking new tenants with the fewest tenants, ties by name (see
//! `mailplane_store::DataStore::tenant_place_mail_backend`). A placed tenant moves only by a
//! relocation. A stored back end the mail hosts file no longer lists is an error naming it,
//! which the mail servers turn into a temporary failure, never an unknown user.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use time::OffsetDateTime;

use mailplane_store::DataStore;
use mailplane_types::{Error, MailboxId, Result, TenantId};

use super::{
    DataPlane, DovecotDataPlane, MailHosts, StoredMessage, TenantErasure, TenantKeys, Usage,
};

/// A Dovecot back end: its data plane and where Postfix delivers its tenants' mail.
#[derive(Clone)]
struct Backend {
    name: String,
    plane: Arc<dyn DataPlane>,
    lmtp: Option<SocketAddr>,
    /// Its IMAP address, where a front proxy sends the clients of its tenants.
    imap: Option<SocketAddr>,
    /// Takes no new tenants.
    draining: bool,
}

/// The data planes of a deployment: the default one and the back ends of each region that
/// has its own. As a [`DataPlane`], it sends each call to the tenant's back end.
#[derive(Clone)]
pub struct RegionalDataPlane {
    store: DataStore,
    default: Arc<dyn DataPlane>,
    /// Each region's back ends, in the order the mail hosts file lists them.
    regions: BTreeMap<String, Vec<Backend>>,
}

impl RegionalDataPlane {
    /// Every region on `default`.
    pub(crate) fn new(store: DataStore, default: Arc<dyn DataPlane>) -> RegionalDataPlane {
        RegionalDataPlane {
            store,
            default,
            regions: BTreeMap::new(),
        }
    }

    /// The same, with the back end `name` added to `region`'s: its data plane, where Postfix
    /// delivers its mail (`lmtp`) and where a front proxy sends its clients (`imap`).
    pub(crate) fn with_backend(
        mut self,
        region: &str,
        name: &str,
        plane: Arc<dyn DataPlane>,
        (lmtp, imap): (Option<SocketAddr>, Option<SocketAddr>),
        draining: bool,
    ) -> RegionalDataPlane {
        self.regions
            .entry(region.to_owned())
            .or_default()
            .push(Backend {
                name: name.to_owned(),
                plane,
                lmtp,
                imap,
                draining,
            });
        self
    }

    /// The same, with every back end of `hosts`, sharing `keys`.
    pub(crate) fn with_mail_hosts(
        mut self,
        hosts: &MailHosts,
        keys: &TenantKeys,
    ) -> Result<RegionalDataPlane> {
        for host in &hosts.regions {
            for (name, d) in host.named() {
                let plane = DovecotDataPlane::new(keys.clone(), d.settings()?)?;
                self = self.with_backend(
                    &host.region,
                    &name,
                    Arc::new(plane),
                    (Some(d.lmtp), Some(d.imap)),
                    d.draining,
                );
            }
        }
        Ok(self)
    }

    /// The data plane of `region`'s first back end, or the default one for a region
    /// without back ends.
    pub fn for_region(&self, region: &str) -> &Arc<dyn DataPlane> {
        self.regions
            .get(region)
            .and_then(|b| b.first())
            .map(|b| &b.plane)
            .unwrap_or(&self.default)
    }

    /// The data plane of the back end named `name`, if the mail hosts list it.
    pub fn backend(&self, name: &str) -> Option<&Arc<dyn DataPlane>> {
        self.named(name).map(|b| &b.plane)
    }

    /// The names of `region`'s back ends, in the order listed, each with whether it takes
    /// new tenants.
    pub fn backends_of(&self, region: &str) -> Vec<(&str, bool)> {
        self.regions
            .get(region)
            .map(|b| b.iter().map(|b| (b.name.as_str(), !b.draining)).collect())
            .unwrap_or_default()
    }

    /// The data plane of `region`, or the default one for a tenant without a region.
    pub fn plane_of(&self, region: Option<&str>) -> &Arc<dyn DataPlane> {
        region.map_or(&self.default, |r| self.for_region(r))
    }

    /// The data plane of the back end `backend` when it is named, or else of `region`'s
    /// first back end (a region's one back end is not stored).
    pub fn plane_at(
        &self,
        region: Option<&str>,
        backend: Option<&str>,
    ) -> Result<&Arc<dyn DataPlane>> {
        match backend {
            Some(name) => self
                .backend(name)
                .ok_or_else(|| Error::Unavailable(unlisted(name))),
            None => Ok(self.plane_of(region)),
        }
    }

    /// Whether any region has a mail host of its own.
    pub fn has_mail_hosts(&self) -> bool {
        !self.regions.is_empty()
    }

    fn named(&self, name: &str) -> Option<&Backend> {
        self.regions.values().flatten().find(|b| b.name == name)
    }

    /// The back end the tenant's mail is on, or `None` for the default data plane: the one
    /// stored for it (`stored`), its region's only one, one of its region's back ends that
    /// holds its mailboxes already, or, with `place`, the one it is placed on now (see the
    /// module header). Without `place`, a tenant of a region with several back ends that
    /// none of them holds is on none yet (`None`).
    async fn resolve(
        &self,
        tenant: TenantId,
        region: Option<&str>,
        stored: Option<&str>,
        place: bool,
    ) -> Result<Option<&Backend>> {
        if let Some(name) = stored {
            return self
                .named(name)
                .map(Some)
                .ok_or_else(|| Error::Unavailable(format!("tenant {tenant}: {}", unlisted(name))));
        }
        let Some((region, backends)) = region.and_then(|r| self.regions.get_key_value(r)) else {
            return Ok(None);
        };
        if let [only] = backends.as_slice() {
            return Ok(Some(only));
        }
        let mut candidates = None;
        for b in backends {
            if b.plane.holds_tenant(tenant).await? {
                if !place {
                    return Ok(Some(b));
                }
                candidates = Some(vec![b.name.clone()]);
                break;
            }
        }
        if !place {
            return Ok(None);
        }
        let candidates = candidates.unwrap_or_else(|| {
            backends
                .iter()
                .filter(|b| !b.draining)
                .map(|b| b.name.clone())
                .collect()
        });
        let name = self
            .store
            .tenant_place_mail_backend(tenant, region, &candidates)
            .await?;
        self.named(&name)
            .map(Some)
            .ok_or_else(|| Error::Unavailable(format!("tenant {tenant}: {}", unlisted(&name))))
    }

    /// The name of the back end the tenant's mail is on now, placing it if its region has
    /// several and it was never placed; `None` for the default data plane or a tenant that
    /// is gone.
    pub async fn placement(&self, tenant: TenantId) -> Result<Option<String>> {
        Ok(self
            .tenant_backend(tenant, true)
            .await?
            .map(|b| b.name.clone()))
    }

    /// The same without placing: `None` also for a tenant that no back end of its region
    /// holds yet (it has no mail there).
    pub async fn current_backend(&self, tenant: TenantId) -> Result<Option<String>> {
        Ok(self
            .tenant_backend(tenant, false)
            .await?
            .map(|b| b.name.clone()))
    }

    async fn tenant_backend(&self, tenant: TenantId, place: bool) -> Result<Option<&Backend>> {
        if self.regions.is_empty() {
            return Ok(None);
        }
        let Some(p) = self.store.tenant_mail_placement(tenant).await? else {
            return Ok(None);
        };
        self.resolve(tenant, p.region.as_deref(), p.backend.as_deref(), place)
            .await
    }

    /// Where Postfix delivers the mail of a tenant of `region` placed on `stored` (as the
    /// domain lookup read them): its back end's LMTP, placing the tenant at need, or `None`
    /// for the default transport of the mail stack's configuration.
    pub async fn lmtp_of(
        &self,
        tenant: TenantId,
        region: Option<&str>,
        stored: Option<&str>,
    ) -> Result<Option<SocketAddr>> {
        Ok(self
            .resolve(tenant, region, stored, true)
            .await?
            .and_then(|b| b.lmtp))
    }

    /// Where a front proxy sends the IMAP clients of the tenant: its back end's IMAP address,
    /// placing the tenant at need; `None` for a tenant on the default data plane.
    pub async fn imap_of(&self, tenant: TenantId) -> Result<Option<SocketAddr>> {
        Ok(self
            .tenant_backend(tenant, true)
            .await?
            .and_then(|b| b.imap))
    }

    /// The back end of `region` a tenant moving there goes to, of those taking new tenants:
    /// the one with the fewest tenants in `counts`, ties by name; `None` for a region with one
    /// back end or none.
    pub fn arrival_backend(
        &self,
        region: &str,
        counts: &BTreeMap<String, u64>,
    ) -> Result<Option<String>> {
        let backends = self.regions.get(region).map(Vec::as_slice).unwrap_or(&[]);
        if backends.len() < 2 {
            return Ok(None);
        }
        let open: Vec<String> = backends
            .iter()
            .filter(|b| !b.draining)
            .map(|b| b.name.clone())
            .collect();
        mailplane_store::least_loaded(&open, counts)
            .map(Some)
            .ok_or_else(|| {
                Error::invalid(
                    "region",
                    format!("every mail back end of `{region}` is draining: it takes no tenant"),
                )
            })
    }

    /// The data plane of the tenant's back end (the default one for a tenant that is gone).
    async fn for_tenant(&self, tenant: TenantId) -> Result<&Arc<dyn DataPlane>> {
        Ok(match self.tenant_backend(tenant, true).await? {
            Some(b) => &b.plane,
            None => &self.default,
        })
    }

    /// Every back end's data plane and the default one, the default last.
    fn every_plane(&self) -> impl Iterator<Item = &Arc<dyn DataPlane>> {
        self.regions
            .values()
            .flatten()
            .map(|b| &b.plane)
            .chain(std::iter::once(&self.default))
    }
}

/// Why a back end name the mail hosts file does not list cannot be reached.
fn unlisted(name: &str) -> String {
    format!(
        "the mail back end `{name}` is not in the mail hosts file (was it renamed or removed while tenants are placed on it?)"
    )
}

#[async_trait::async_trait]
impl DataPlane for RegionalDataPlane {
    async fn provision_mailbox(&self, tenant: TenantId, mailbox: MailboxId) -> Result<()> {
        self.for_tenant(tenant)
            .await?
            .provision_mailbox(tenant, mailbox)
            .await
    }

    async fn import(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        message: &[u8],
        at: OffsetDateTime,
    ) -> Result<StoredMessage> {
        self.for_tenant(tenant)
            .await?
            .import(tenant, mailbox, message, at)
            .await
    }

    async fn usage(&self, tenant: TenantId, mailbox: MailboxId) -> Result<Usage> {
        self.for_tenant(tenant).await?.usage(tenant, mailbox).await
    }

    async fn export(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        sink: &mut (dyn for<'m> FnMut(&'m StoredMessage, &'m [u8]) -> Result<()> + Send),
    ) -> Result<()> {
        self.for_tenant(tenant)
            .await?
            .export(tenant, mailbox, sink)
            .await
    }

    async fn read(&self, tenant: TenantId, mailbox: MailboxId, id: uuid::Uuid) -> Result<Vec<u8>> {
        self.for_tenant(tenant)
            .await?
            .read(tenant, mailbox, id)
            .await
    }

    async fn delete_older_than(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        before: OffsetDateTime,
    ) -> Result<Usage> {
        self.for_tenant(tenant)
            .await?
            .delete_older_than(tenant, mailbox, before)
            .await
    }

    /// Destroys the mailbox on its tenant's back end and wherever else a copy of it is: a
    /// relocation under way may have copied it to the back end the tenant is moving to.
    async fn destroy_mailbox(&self, tenant: TenantId, mailbox: MailboxId) -> Result<Usage> {
        let mut removed = self
            .for_tenant(tenant)
            .await?
            .destroy_mailbox(tenant, mailbox)
            .await?;
        for plane in self.every_plane() {
            let r = plane.destroy_mailbox(tenant, mailbox).await?;
            removed.messages += r.messages;
            removed.bytes += r.bytes;
        }
        Ok(removed)
    }

    /// Erases the tenant's key on its back end: the key is shared, so one erase covers every
    /// back end.
    async fn crypto_erase_tenant(&self, tenant: TenantId) -> Result<TenantErasure> {
        self.for_tenant(tenant)
            .await?
            .crypto_erase_tenant(tenant)
            .await
    }

    async fn purge_tenant(&self, tenant: TenantId) -> Result<Usage> {
        // Every data plane: a tenant relocated before its end may have left files anywhere
        // its erase made unreadable. The back ends first: the default one, the
        // file store, removes the tenant's folder beside its key, where the others record
        // the tenant's mailboxes.
        let mut removed = Usage::default();
        for backend in self.regions.values().flatten() {
            let r = backend.plane.purge_tenant(tenant).await?;
            removed.messages += r.messages;
            removed.bytes += r.bytes;
        }
        let r = self.default.purge_tenant(tenant).await?;
        removed.messages += r.messages;
        removed.bytes += r.bytes;
        Ok(removed)
    }

    async fn tenant_readable(&self, tenant: TenantId) -> Result<bool> {
        if self.default.tenant_readable(tenant).await? {
            return Ok(true);
        }
        for backend in self.regions.values().flatten() {
            if backend.plane.tenant_readable(tenant).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn mail_crypt_password(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
    ) -> Result<Option<String>> {
        self.for_tenant(tenant)
            .await?
            .mail_crypt_password(tenant, mailbox)
            .await
    }

    async fn export_key(&self, tenant: TenantId) -> Result<crate::sealed::SealingKey> {
        self.for_tenant(tenant).await?.export_key(tenant).await
    }

    async fn describe(
        &self,
        tenant: TenantId,
    ) -> Result<Option<crate::certificate::CertifiedStore>> {
        self.for_tenant(tenant).await?.describe(tenant).await
    }

    async fn end_sessions(&self, tenant: TenantId, users: &[String]) -> Result<()> {
        self.for_tenant(tenant)
            .await?
            .end_sessions(tenant, users)
            .await
    }

    fn export_link_key(&self) -> Result<[u8; 32]> {
        self.default.export_link_key()
    }
}

//! Regions as mail hosts: each region of the catalogue keeps its tenants' mailboxes in its
//! own data plane (a Dovecot back end), or in the deployment's default one (the embedded file
//! store), and [`RegionalDataPlane`] sends each call to the data plane of the tenant's region.
//!
//! Which region has which back end is the deployment's business, not the published
//! catalogue's (the catalogue is shown to every principal): it is a file of its own,
//! [`MailHosts`], whose entries name catalogue regions. Every data plane of a deployment
//! shares the tenants' data keys ([`super::TenantKeys`]), so a tenant moved between regions
//! keeps the key its mail opens with, and one erase covers every region.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;

use mailplane_store::{DataStore, Scope};
use mailplane_types::catalogue::Catalogue;
use mailplane_types::{Error, FieldError, MailboxId, Result, TenantId};

use super::{
    DataPlane, DovecotDataPlane, DovecotSettings, StoredMessage, TenantErasure, TenantKeys, Usage,
};

/// The deployment's mail hosts: the Dovecot back end of each region that has one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailHosts {
    /// One entry per region with a back end; a region not listed keeps its mailboxes in the
    /// default data plane.
    #[serde(default)]
    pub regions: Vec<RegionMailHost>,
}

/// A region's mail host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionMailHost {
    /// The catalogue region (`eu`).
    pub region: String,
    /// Its Dovecot back end.
    pub dovecot: DovecotHost,
}

/// How to reach a Dovecot back end, as `mailplane mailstack config` lays it out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DovecotHost {
    /// The doveadm HTTP API, `http://host:port`.
    pub doveadm: String,
    /// IMAP, for the data plane's master user.
    pub imap: SocketAddr,
    /// LMTP, where Postfix delivers the region's mail.
    pub lmtp: SocketAddr,
    /// The doveadm TCP listener, where another back end's dsync connects to copy a
    /// relocated tenant's mailboxes here. Without it, mail is copied to this back end by
    /// export and import (which loses nothing but is slower).
    #[serde(default)]
    pub dsync: Option<SocketAddr>,
    /// The folder holding `doveadm-api-key` and `master-password` (the `dovecot` folder
    /// `mailplane mailstack config` writes).
    pub secrets: PathBuf,
    /// Dovecot's mail root, when its files are on this machine: destroyed mailboxes' homes
    /// are then removed too.
    #[serde(default)]
    pub mail_root: Option<PathBuf>,
    /// The limit of each request to the back end, in seconds (30).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    30
}

/// The master user `mailplane mailstack config` writes.
const MASTER_USER: &str = "mailplane";

impl MailHosts {
    /// Reads a mail hosts file (TOML), naming the field of each problem.
    pub fn load(path: &Path) -> Result<MailHosts> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid("mail_hosts", format!("{}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| Error::invalid("mail_hosts", format!("{}: {e}", path.display())))
    }

    /// The problems of these hosts against the catalogue, each naming its field.
    pub fn check(&self, catalogue: &Catalogue) -> Result<()> {
        let mut errors = Vec::new();
        for (i, host) in self.regions.iter().enumerate() {
            let at = |field: &str| format!("regions[{i}].{field}");
            if catalogue.region(&host.region).is_none() {
                errors.push(FieldError {
                    field: at("region"),
                    rule: format!("`{}` is not a region of the catalogue", host.region),
                });
            }
            if self.regions[..i].iter().any(|h| h.region == host.region) {
                errors.push(FieldError {
                    field: at("region"),
                    rule: format!(
                        "`{}` is listed twice: a region has one mail host",
                        host.region
                    ),
                });
            }
            let d = &host.dovecot;
            if !(d.doveadm.starts_with("http://") || d.doveadm.starts_with("https://")) {
                errors.push(FieldError {
                    field: at("dovecot.doveadm"),
                    rule: "must be an http:// or https:// address".into(),
                });
            }
            if !d.secrets.is_absolute() {
                errors.push(FieldError {
                    field: at("dovecot.secrets"),
                    rule: "must be an absolute path".into(),
                });
            }
            if d.timeout_seconds == 0 {
                errors.push(FieldError {
                    field: at("dovecot.timeout_seconds"),
                    rule: "must be at least 1".into(),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(errors))
        }
    }
}

impl DovecotHost {
    /// The data plane's settings, with the secrets read from their folder.
    pub fn settings(&self) -> Result<DovecotSettings> {
        let read = |name: &str| {
            let path = self.secrets.join(name);
            std::fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| Error::invalid("dovecot.secrets", format!("{}: {e}", path.display())))
        };
        Ok(DovecotSettings {
            doveadm_url: self.doveadm.clone(),
            api_key: read("doveadm-api-key")?,
            imap: self.imap,
            master_user: MASTER_USER.into(),
            master_password: read("master-password")?,
            mail_root: self.mail_root.clone(),
            dsync: self.dsync,
            timeout: Duration::from_secs(self.timeout_seconds),
        })
    }
}

/// A region's data plane and where Postfix delivers its mail.
#[derive(Clone)]
struct RegionPlane {
    plane: Arc<dyn DataPlane>,
    lmtp: Option<SocketAddr>,
}

/// The data planes of a deployment: the default one and one per region that has its own.
/// As a [`DataPlane`], it sends each call to the data plane of the tenant's region.
#[derive(Clone)]
pub struct RegionalDataPlane {
    store: DataStore,
    default: Arc<dyn DataPlane>,
    regions: BTreeMap<String, RegionPlane>,
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

    /// The same, with `region` on `plane`, whose mail Postfix delivers over LMTP to `lmtp`.
    pub(crate) fn with_region(
        mut self,
        region: &str,
        plane: Arc<dyn DataPlane>,
        lmtp: Option<SocketAddr>,
    ) -> RegionalDataPlane {
        self.regions
            .insert(region.to_owned(), RegionPlane { plane, lmtp });
        self
    }

    /// The same, with every region of `hosts` on its Dovecot back end, sharing `keys`.
    pub(crate) fn with_mail_hosts(
        mut self,
        hosts: &MailHosts,
        keys: &TenantKeys,
    ) -> Result<RegionalDataPlane> {
        for host in &hosts.regions {
            let plane = DovecotDataPlane::new(keys.clone(), host.dovecot.settings()?)?;
            self = self.with_region(&host.region, Arc::new(plane), Some(host.dovecot.lmtp));
        }
        Ok(self)
    }

    /// The data plane of `region`.
    pub fn for_region(&self, region: &str) -> &Arc<dyn DataPlane> {
        self.regions
            .get(region)
            .map(|r| &r.plane)
            .unwrap_or(&self.default)
    }

    /// The data plane of `region`, or the default one for a tenant without a region.
    pub fn plane_of(&self, region: Option<&str>) -> &Arc<dyn DataPlane> {
        region.map_or(&self.default, |r| self.for_region(r))
    }

    /// Whether moving a tenant from region `from` to `to` moves its mail: their data planes
    /// differ.
    pub fn moves_mail(&self, from: Option<&str>, to: &str) -> bool {
        !Arc::ptr_eq(self.plane_of(from), self.for_region(to))
    }

    /// Whether any region has a mail host of its own.
    pub fn has_mail_hosts(&self) -> bool {
        !self.regions.is_empty()
    }

    /// Where Postfix delivers the mail of `region`: its back end's LMTP, or `None` for the
    /// default transport of the mail stack's configuration.
    pub fn lmtp_of(&self, region: &str) -> Option<SocketAddr> {
        self.regions.get(region).and_then(|r| r.lmtp)
    }

    /// The data plane of the tenant's region (the default one for a tenant that is gone).
    async fn for_tenant(&self, tenant: TenantId) -> Result<&Arc<dyn DataPlane>> {
        if self.regions.is_empty() {
            return Ok(&self.default);
        }
        Ok(match self.store.tenant_view(Scope::All, tenant).await? {
            Some(t) => t
                .region
                .as_deref()
                .map_or(&self.default, |r| self.for_region(r)),
            None => &self.default,
        })
    }
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

    /// Destroys the mailbox in its tenant's region and wherever else a copy of it is: a
    /// relocation under way may have copied it to the region the tenant is moving to.
    async fn destroy_mailbox(&self, tenant: TenantId, mailbox: MailboxId) -> Result<Usage> {
        let mut removed = self
            .for_tenant(tenant)
            .await?
            .destroy_mailbox(tenant, mailbox)
            .await?;
        for plane in self
            .regions
            .values()
            .map(|r| &r.plane)
            .chain(std::iter::once(&self.default))
        {
            let r = plane.destroy_mailbox(tenant, mailbox).await?;
            removed.messages += r.messages;
            removed.bytes += r.bytes;
        }
        Ok(removed)
    }

    /// Erases the tenant's key in its region and removes what every other region still
    /// holds of the tenant: the key is shared, so one erase covers them all.
    async fn crypto_erase_tenant(&self, tenant: TenantId) -> Result<TenantErasure> {
        self.for_tenant(tenant)
            .await?
            .crypto_erase_tenant(tenant)
            .await
    }

    async fn purge_tenant(&self, tenant: TenantId) -> Result<Usage> {
        // Every data plane: a tenant relocated before its end may have left files anywhere
        // its erase made unreadable. The regions' back ends first: the default one, the
        // file store, removes the tenant's folder beside its key, where the others record
        // the tenant's mailboxes.
        let mut removed = Usage::default();
        for region in self.regions.values() {
            let r = region.plane.purge_tenant(tenant).await?;
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
        for region in self.regions.values() {
            if region.plane.tenant_readable(tenant).await? {
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

    fn export_link_key(&self) -> Result<[u8; 32]> {
        self.default.export_link_key()
    }
}

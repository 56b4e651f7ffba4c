//! Messages in mailboxes: importing RFC 5322 messages (a migration tool filling a mailbox)
//! and reading a mailbox's usage, through the configured [`DataPlane`].
//!
//! Importing is use of the data plane (`access.data-plane`, customer RA and provider I in the
//! reference matrix). A message is checked before it is stored: its size against the data
//! plane's limit (413), its form against RFC 5322 (422), and the mailbox's usage against its
//! quota (409). Message content is data-plane traffic, not configuration: an import writes no
//! audit row, and usage is what the control plane reports of it.

use std::sync::Arc;

use mailplane_types::{Error, MailboxId, Result, TenantId};

use super::{ControlPlane, Need, activity};
use crate::Actor;
use crate::data_plane::{DataPlane, StoredMessage, Usage, rfc5322_rule};

impl ControlPlane {
    /// The same control plane storing messages in `data_plane`, refusing messages larger
    /// than `max_message_bytes`.
    pub fn with_data_plane(
        mut self,
        data_plane: Arc<dyn DataPlane>,
        max_message_bytes: usize,
    ) -> Self {
        self.set_data_planes(crate::data_plane::RegionalDataPlane::new(
            self.store.clone(),
            data_plane,
        ));
        self.max_message_bytes = max_message_bytes;
        self
    }

    /// The same control plane keeping each region of `hosts` on its Dovecot back end, with
    /// the tenants' data keys of `keys` (the default data plane's: every data plane of a
    /// deployment shares them). Regions not listed stay on the default data plane, which
    /// [`Self::with_data_plane`] must have set first.
    pub fn with_mail_hosts(
        mut self,
        hosts: &crate::data_plane::MailHosts,
        keys: &crate::data_plane::TenantKeys,
    ) -> Result<Self> {
        hosts.check(&self.config.catalogue)?;
        let planes = self
            .data_planes
            .as_deref()
            .cloned()
            .ok_or_else(|| {
                Error::invalid("mail_hosts", "needs a default data plane to be set first")
            })?
            .with_mail_hosts(hosts, keys)?;
        self.set_data_planes(planes);
        Ok(self)
    }

    fn set_data_planes(&mut self, planes: crate::data_plane::RegionalDataPlane) {
        let planes = Arc::new(planes);
        self.data_plane = Some(planes.clone());
        self.data_planes = Some(planes);
    }

    /// The deployment's data planes by region, if a data plane is set.
    pub fn data_planes(&self) -> Option<&crate::data_plane::RegionalDataPlane> {
        self.data_planes.as_deref()
    }

    /// The largest message an import takes.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    pub(super) fn data_plane(&self) -> Result<&Arc<dyn DataPlane>> {
        self.data_plane
            .as_ref()
            .ok_or_else(|| Error::Unavailable("no data plane is configured".into()))
    }

    /// Imports one RFC 5322 message into a mailbox of the tenant.
    pub async fn message_import(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
        message: &[u8],
    ) -> Result<StoredMessage> {
        let found = self.store.tenant_view(actor.scope(), tenant).await?;
        let (_, profile) = self.visible(actor, found, tenant)?;
        self.authorize(actor, profile, activity::DATA_PLANE_ACCESS, Need::Execute)?;
        // After the export window the mail is kept as it is for its destruction.
        super::lifecycle::frozen(
            self.store.termination_current(tenant).await?.as_ref(),
            self.clock.now(),
            false,
        )?;
        let m = self
            .store
            .mailbox_view(tenant, mailbox)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox))?;
        // A deleted or inactive mailbox receives nothing, imports included.
        if m.status.is_deleted() {
            return Err(Error::conflict(
                None,
                format!(
                    "mailbox {} ({}) is {} and receives no mail: restore it first",
                    m.id,
                    m.address,
                    m.status.as_str()
                ),
            ));
        }
        if message.len() > self.max_message_bytes {
            return Err(Error::TooLarge {
                field: "message".into(),
                limit: self.max_message_bytes as u64,
            });
        }
        if let Some(rule) = rfc5322_rule(message) {
            return Err(Error::Unprocessable {
                field: "message".into(),
                message: rule,
            });
        }
        let data_plane = self.data_plane()?;
        let usage = data_plane.usage(tenant, mailbox).await?;
        let after = usage.bytes + message.len() as u64;
        if after > u64::try_from(m.quota_bytes).unwrap_or(0) {
            return Err(Error::conflict(
                Some("quota_bytes"),
                format!(
                    "the mailbox holds {} of its {} bytes: a message of {} bytes does not fit",
                    usage.bytes,
                    m.quota_bytes,
                    message.len()
                ),
            ));
        }
        data_plane
            .import(tenant, mailbox, message, self.clock.now())
            .await
    }

    /// How much a mailbox holds (`directory.administer`: anyone who sees the mailbox).
    pub async fn mailbox_usage_view(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
    ) -> Result<Usage> {
        self.tenant_for_read(actor, tenant, activity::DIRECTORY)
            .await?;
        self.store
            .mailbox_view(tenant, mailbox)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox))?;
        self.data_plane()?.usage(tenant, mailbox).await
    }
}

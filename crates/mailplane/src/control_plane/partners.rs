//! Partner organisations (resellers): created, renamed and removed by the provider under
//! the platform profile's `partner.manage`; each partner sees itself.
//!
//! Partners belong to no tenant, so their decisions come from the platform profile, not from
//! a tenant's matrix.

use mailplane_store::{Page, Scope};
use mailplane_types::resources::Partner;
use mailplane_types::{AuditOutcome, AuditTarget, Error, PartnerId, Result};

use super::{ControlPlane, Need, activity, page_request};
use crate::Actor;
use crate::input::{PartnerCreate, PartnerUpdate, Problems};

impl ControlPlane {
    /// Creates a partner organisation (`partner.manage`).
    pub async fn partner_create(&self, actor: &Actor, input: PartnerCreate) -> Result<Partner> {
        let decision = self.authorize(
            actor,
            self.platform_profile(),
            activity::PARTNER_MANAGE,
            Need::Execute,
        )?;
        let mut p = Problems::default();
        let name = p.name("name", &input.name);
        p.finish()?;
        let tx = self.store.begin().await?;
        let partner = tx.partner_insert(&name).await?;
        Self::record_and_commit(
            tx,
            Self::change(
                actor,
                &decision,
                None,
                AuditTarget::Partner,
                partner.id,
                AuditOutcome::Created,
            ),
        )
        .await?;
        Ok(partner)
    }

    /// A partner the actor may see: the provider sees all, a partner itself.
    pub async fn partner_view(&self, actor: &Actor, id: PartnerId) -> Result<Partner> {
        let partner = self
            .store
            .partner_view(actor.scope(), id)
            .await?
            .ok_or_else(|| Error::not_found("partner", id))?;
        self.authorize(
            actor,
            self.platform_profile(),
            activity::PARTNER_MANAGE,
            Need::View,
        )?;
        Ok(partner)
    }

    /// Partners the actor may see.
    pub async fn partner_list(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<Partner>> {
        let page = page_request(cursor, limit)?;
        if actor.scope() != Scope::All {
            // Outside the provider the list is at most the caller's own organisation; an
            // actor whose party holds no letter sees an empty list rather than an error.
            let visible = self
                .platform_profile()
                .decide(actor.party(), actor.roles(), activity::PARTNER_MANAGE)
                .can_view();
            if !visible {
                return Ok(Page {
                    items: vec![],
                    next_cursor: None,
                });
            }
        } else {
            self.authorize(
                actor,
                self.platform_profile(),
                activity::PARTNER_MANAGE,
                Need::View,
            )?;
        }
        self.store.partner_list(actor.scope(), page).await
    }

    /// Renames a partner.
    pub async fn partner_update(
        &self,
        actor: &Actor,
        id: PartnerId,
        input: PartnerUpdate,
    ) -> Result<Partner> {
        self.partner_view(actor, id).await?;
        let decision = self.authorize(
            actor,
            self.platform_profile(),
            activity::PARTNER_MANAGE,
            Need::Execute,
        )?;
        let mut p = Problems::default();
        let name = p.name("name", &input.name);
        p.finish()?;
        let tx = self.store.begin().await?;
        tx.partner_view(id)
            .await?
            .ok_or_else(|| Error::not_found("partner", id))?;
        let partner = tx.partner_update(id, &name).await?;
        Self::record_and_commit(
            tx,
            Self::change(
                actor,
                &decision,
                None,
                AuditTarget::Partner,
                id,
                AuditOutcome::Updated,
            ),
        )
        .await?;
        Ok(partner)
    }

    /// Deletes a partner that has no tenants.
    pub async fn partner_delete(&self, actor: &Actor, id: PartnerId) -> Result<()> {
        self.partner_view(actor, id).await?;
        let decision = self.authorize(
            actor,
            self.platform_profile(),
            activity::PARTNER_MANAGE,
            Need::Execute,
        )?;
        let tx = self.store.begin().await?;
        tx.partner_view(id)
            .await?
            .ok_or_else(|| Error::not_found("partner", id))?;
        tx.partner_delete(id).await?;
        Self::record_and_commit(
            tx,
            Self::change(
                actor,
                &decision,
                None,
                AuditTarget::Partner,
                id,
                AuditOutcome::Deleted,
            ),
        )
        .await
    }
}

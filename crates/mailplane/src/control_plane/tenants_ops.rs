//! The tenant's operations (`tenant.update`, `tenant.rebind`, `tenant.delete`,
//! `tenant.offer`, `tenant.relocate`): their input rules and the changes they make, which
//! the registry's dispatchers call.
//!
//! This file exists only because `tenants.rs` was being split out of `control_plane.rs` at
//! the same time; after the merge, its contents fold into `tenants.rs`.

use mailplane_policy::Profile;
use mailplane_store::WriteTx;
use mailplane_types::resources::{Tenant, TenantStatus};
use mailplane_types::{Error, Party, Result};

use super::ControlPlane;
use super::dispatch::Checked;
use super::workflow::{Applied, Made};
use crate::input::{
    OfferChoose, Problems, TenantRebind, TenantRelocate, TenantUpdate, TenantUpdateChecked,
};

/// Checks `tenant.update`: a valid name or a status, never `terminated`.
pub(super) fn tenant_update_check<'a>(
    p: &mut Problems,
    input: &'a TenantUpdate,
) -> Option<Checked<'a>> {
    let name = input.name.as_deref().map(|n| p.name("name", n));
    if input.name.is_none() && input.status.is_none() {
        p.add("name", "at least one of `name` and `status` must be given");
    }
    if input.status == Some(TenantStatus::Terminated) {
        p.add(
            "status",
            "must be `active` or `suspended`: a tenant is terminated by ending its contract (`termination_create`)",
        );
    }
    Some(Checked::TenantUpdate(TenantUpdateChecked {
        name,
        status: input.status,
    }))
}

/// Checks `tenant.rebind`: a profile is named.
pub(super) fn tenant_rebind_check<'a>(
    p: &mut Problems,
    input: &'a TenantRebind,
) -> Option<Checked<'a>> {
    if input.profile.trim().is_empty() {
        p.add("profile", "must name a profile");
    }
    Some(Checked::TenantRebind(input))
}

/// Checks `tenant.offer`: an offer is named.
pub(super) fn offer_choose_check<'a>(
    p: &mut Problems,
    input: &'a OfferChoose,
) -> Option<Checked<'a>> {
    if input.offer.trim().is_empty() {
        p.add("offer", "must name a catalogue offer");
    }
    Some(Checked::OfferChoose(input))
}

/// Checks `tenant.relocate`: a region is named.
pub(super) fn tenant_relocate_check<'a>(
    p: &mut Problems,
    input: &'a TenantRelocate,
) -> Option<Checked<'a>> {
    if input.region.trim().is_empty() {
        p.add("region", "must name a catalogue region");
    }
    Some(Checked::TenantRelocate(input))
}

impl ControlPlane {
    /// Applies `tenant.update`.
    pub(super) async fn tenant_update_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: TenantUpdateChecked,
    ) -> Result<Made> {
        let tid = tenant.id;
        let t = tx
            .tenant_update(tid, input.name.as_deref(), input.status)
            .await?;
        Ok(Made::new(Applied::Tenant(t), "tenant", tid, "updated"))
    }

    /// Applies `tenant.rebind`.
    pub(super) async fn tenant_rebind_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: &TenantRebind,
    ) -> Result<Made> {
        let tid = tenant.id;
        let target = self.rebind_target(tenant, input)?;
        let t = tx.tenant_rebind(tid, &target.id, target.version).await?;
        Ok(Made::new(Applied::Tenant(t), "tenant", tid, "rebound"))
    }

    /// Applies `tenant.delete`.
    pub(super) async fn tenant_delete_apply(&self, tx: &WriteTx, tenant: &Tenant) -> Result<Made> {
        let tid = tenant.id;
        // A legal hold outranks the deletion, whatever else is left.
        self.not_held(tx, tid, None, "deleting the tenant").await?;
        tx.tenant_delete(tid).await?;
        Ok(Made::new(Applied::Deleted, "tenant", tid, "deleted"))
    }

    /// Applies `tenant.offer`.
    pub(super) async fn offer_choose_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: &OfferChoose,
    ) -> Result<Made> {
        let offer = self.offer_change(tenant, input)?;
        let t = tx.tenant_set_offer(tenant.id, &offer.id).await?;
        Ok(Made::new(
            Applied::Tenant(t),
            "tenant",
            tenant.id,
            "offer_changed",
        ))
    }

    /// Applies `tenant.relocate`.
    pub(super) async fn tenant_relocate_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: &TenantRelocate,
    ) -> Result<Made> {
        let region = self.relocation(tenant, input)?;
        let t = tx.tenant_relocate(tenant.id, &region).await?;
        Ok(Made::new(
            Applied::Tenant(t),
            "tenant",
            tenant.id,
            "relocated",
        ))
    }

    /// The profile a tenant may be bound to instead of its own: a loaded tenant profile,
    /// not the current one, and one with partners when a partner resells the tenant.
    pub(super) fn rebind_target(&self, tenant: &Tenant, input: &TenantRebind) -> Result<&Profile> {
        let id = input.profile.trim();
        let target = self
            .policies
            .get(id)
            .map(|p| p.as_ref())
            .filter(|p| p.id != self.config.platform_profile)
            .ok_or_else(|| {
                Error::invalid("profile", format!("`{id}` is not a loaded tenant profile"))
            })?;
        if target.id == tenant.profile && target.version == tenant.profile_version {
            return Err(Error::invalid(
                "profile",
                format!("the tenant is bound to {} already", target.key()),
            ));
        }
        if tenant.partner_id.is_some() && !target.parties.contains(&Party::Partner) {
            return Err(Error::invalid(
                "profile",
                format!(
                    "the tenant is resold by a partner, and {} has no partner party",
                    target.key()
                ),
            ));
        }
        Ok(target)
    }
}

//! Tenants: creating one (bound to a profile, placed in a region, on an offer, with its
//! first subscription), reading them, and the changes that run as operations (update,
//! rebind, delete).
//!
//! Creating a tenant is the one change that is not an operation on an existing tenant: no
//! tenant's matrix decides it yet, so the chosen profile's `service.deliver` does, and the
//! other parties' choices it carries (offer, seats, region) are checked against their own
//! activities. It is written as named steps: choose the profile, refuse choices that belong
//! to another party, check the input, then write the tenant and its evidence.

use mailplane_policy::{Decision, Profile, Verdict};
use mailplane_store::{Page, WriteTx};
use mailplane_types::resources::{Tenant, TenantStatus};
use mailplane_types::{
    AuditOutcome, AuditTarget, DomainName, Error, OrgId, Party, Result, TenantId,
};
use uuid::Uuid;

use super::workflow::{Applied, Made};
use super::{
    ControlPlane, Need, Operation, OperationKind, Outcome, activity, catalogue, page_request,
};
use crate::Actor;
use crate::input::{
    OfferChoose, Problems, SubscriptionCreate, TenantCreate, TenantRebind, TenantRelocate,
    TenantUpdate, TenantUpdateChecked,
};

impl ControlPlane {
    /// Creates a tenant bound to a profile. The profile's `service.deliver` letters decide
    /// who may: in `hosted-exchange` the provider, in `master-hoster` the partner.
    pub async fn tenant_create(&self, actor: &Actor, input: TenantCreate) -> Result<Tenant> {
        let profile = self.tenant_profile(&input)?;
        let decision = self.authorize(actor, profile, activity::TENANT_DELIVER, Need::Execute)?;
        let places = Self::others_choices(actor, profile, &input)?;
        let checked = self.tenant_checked(actor, &input, places)?;
        let tx = self.store.begin().await?;
        let tenant = self
            .tenant_write(&tx, actor, profile, &decision, checked)
            .await?;
        tx.commit().await?;
        Ok(tenant)
    }

    /// The profile a new tenant binds to: the one named, else the default; never the
    /// platform profile.
    fn tenant_profile(&self, input: &TenantCreate) -> Result<&Profile> {
        let profile_id = input
            .profile
            .clone()
            .unwrap_or_else(|| self.config.default_profile.clone());
        self.policies
            .get(&profile_id)
            .map(|p| p.as_ref())
            .filter(|p| p.id != self.config.platform_profile)
            .ok_or_else(|| {
                let known: Vec<_> = self
                    .policies
                    .iter()
                    .filter(|p| p.id != self.config.platform_profile)
                    .map(|p| p.id.clone())
                    .collect();
                Error::invalid("profile", format!("must be one of: {}", known.join(", ")))
            })
    }

    /// Refuses the choices of a new tenant that belong to another party; returns whether
    /// the creator places tenants itself.
    ///
    /// Delivering the service does not carry the other parties' choices with it: the offer
    /// is chosen by the party that holds R and A on `service.sizing.choose` (the customer,
    /// who upgrades later), seats beyond the minimum by the party that provides licences,
    /// and a region is placed by the party that places tenants. Anyone else's `region` is
    /// a preference, kept; the tenant starts in the default region until the provider
    /// relocates it.
    fn others_choices(actor: &Actor, profile: &Profile, input: &TenantCreate) -> Result<bool> {
        let executes = |act: &str| {
            profile.decide(actor.party(), actor.roles(), act).verdict == Verdict::Execute
        };
        for (given, act, why) in [
            (
                input.offer.is_some(),
                activity::SIZING,
                "The tenant starts on the entry offer; its customer upgrades it.",
            ),
            (
                input.seats.is_some(),
                activity::LICENCES,
                "The tenant starts with the SKU's minimum of seats; the provider provides more.",
            ),
        ] {
            if given && !executes(act) {
                let mut refusal = profile.decide(actor.party(), actor.roles(), act).refusal();
                refusal.reason = format!("{} {why}", refusal.reason);
                return Err(Error::Forbidden(Box::new(refusal)));
            }
        }
        Ok(executes(activity::LOCATION))
    }

    /// Checks a new tenant's input, reporting every problem at once: its name, partner,
    /// slug, region, offer and seats.
    fn tenant_checked(
        &self,
        actor: &Actor,
        input: &TenantCreate,
        places: bool,
    ) -> Result<CheckedTenant> {
        let catalogue = self.catalogue_view();
        let mut p = Problems::default();
        let name = p.name("name", &input.name);
        let partner_id = match (actor.org(), input.partner_id) {
            (OrgId::Partner(own), None) => Some(own),
            (OrgId::Partner(own), Some(given)) if given == own => Some(own),
            (OrgId::Partner(_), Some(_)) => {
                p.add("partner_id", "must be your own partner id or absent");
                None
            }
            (_, given) => given,
        };
        let slug = input.slug.as_deref().map(str::trim);
        if let Some(rule) = slug.and_then(catalogue::slug_rule) {
            p.add("slug", rule);
        }
        let region = match input.region.as_deref() {
            Some(r) => {
                let preferred = self
                    .open_region(r)
                    .map_err(|e| p.absorb(e))
                    .unwrap_or_default();
                if places {
                    preferred
                } else {
                    catalogue.default_region.clone()
                }
            }
            None => catalogue.default_region.clone(),
        };
        let (offer, subscription) = self.tenant_offer(&mut p, input);
        p.finish()?;
        Ok(CheckedTenant {
            name,
            partner_id,
            slug: slug.map(str::to_string),
            region,
            region_preference: input.region.as_deref().map(|r| r.trim().to_string()),
            offer: offer.expect("problems were reported above"),
            subscription,
        })
    }

    /// A new tenant's offer (the one chosen, open, else the default) and the subscription
    /// to its licences it starts with, if the offer needs one.
    fn tenant_offer(
        &self,
        p: &mut Problems,
        input: &TenantCreate,
    ) -> (Option<String>, Option<SubscriptionCreate>) {
        let catalogue = self.catalogue_view();
        let offer = match input.offer.as_deref() {
            Some(o) => match catalogue.offer(o.trim()) {
                Some(o) if o.open => Some(o),
                Some(o) => {
                    p.add("offer", format!("`{}` is closed to new choices", o.id));
                    None
                }
                None => {
                    let known: Vec<&str> = catalogue.offers.iter().map(|o| o.id.as_str()).collect();
                    p.add(
                        "offer",
                        format!(
                            "`{}` is not in the catalogue; must be one of: {}",
                            o.trim(),
                            known.join(", ")
                        ),
                    );
                    None
                }
            },
            None => catalogue.offer(&catalogue.default_offer),
        };
        let subscription = offer
            .filter(|o| o.licence_required)
            .and_then(|o| o.sku.clone())
            .map(|sku| SubscriptionCreate {
                sku,
                seats: input.seats,
            });
        if let Some(s) = &subscription
            && catalogue.sku(&s.sku).is_some_and(|k| !k.open)
        {
            p.add(
                "offer",
                format!(
                    "the offer's licences (`{}`) are closed to new subscriptions",
                    s.sku
                ),
            );
        }
        if input.seats.is_some() && subscription.is_none() && offer.is_some() {
            p.add(
                "seats",
                "the offer needs no licences; take a subscription instead",
            );
        }
        (offer.map(|o| o.id.clone()), subscription)
    }

    /// The slug a new tenant takes (the one given, else one derived from its name, made
    /// unique) and the default domain it gives.
    async fn tenant_slug(
        &self,
        tx: &WriteTx,
        given: Option<String>,
        name: &str,
    ) -> Result<(String, DomainName)> {
        let slug = match given {
            Some(s) => s,
            None => {
                let derived = catalogue::slug_from(name);
                if tx.slug_taken(&derived).await? {
                    let stem: String = derived.chars().take(33).collect();
                    format!(
                        "{}-{}",
                        stem.trim_end_matches('-'),
                        &Uuid::now_v7().simple().to_string()[26..]
                    )
                } else {
                    derived
                }
            }
        };
        let default_domain =
            DomainName::parse(&format!("{slug}.{}", self.catalogue_view().mail_domain)).map_err(
                |rule| Error::invalid("slug", format!("gives no valid default domain: {rule}")),
            )?;
        Ok((slug, default_domain))
    }

    /// Writes a checked tenant, its placement and its first subscription, each with its
    /// audit row and event, in the caller's transaction.
    async fn tenant_write(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        profile: &Profile,
        decision: &Decision,
        checked: CheckedTenant,
    ) -> Result<Tenant> {
        if let Some(pid) = checked.partner_id
            && tx.partner_view(pid).await?.is_none()
        {
            return Err(Error::invalid(
                "partner_id",
                "must name an existing partner",
            ));
        }
        let (slug, default_domain) = self.tenant_slug(tx, checked.slug, &checked.name).await?;
        let (tenant, _) = tx
            .tenant_insert(mailplane_store::NewTenant {
                name: checked.name,
                slug,
                profile: (profile.id.clone(), profile.version),
                partner_id: checked.partner_id,
                region: checked.region,
                region_preference: checked.region_preference,
                offer: checked.offer,
                default_domain,
            })
            .await?;
        tx.record(Self::change(
            actor,
            decision,
            Some(tenant.id),
            AuditTarget::Tenant,
            tenant.id,
            AuditOutcome::Created,
        ))
        .await?;
        // The placement is the provider's activity: recorded as the creator's when its party
        // may place tenants, else as the provider automation that placed it as asked.
        let (placer, placing) = catalogue::acting_for(actor, profile, activity::LOCATION);
        tx.record(Self::change(
            &placer,
            &placing,
            Some(tenant.id),
            AuditTarget::Tenant,
            tenant.id,
            AuditOutcome::Placed,
        ))
        .await?;
        if let Some(input) = checked.subscription {
            let s = self.subscribe(tx, tenant.id, &input).await?;
            let (provider, providing) = catalogue::acting_for(actor, profile, activity::LICENCES);
            tx.record(Self::change(
                &provider,
                &providing,
                Some(tenant.id),
                AuditTarget::Subscription,
                s.id,
                AuditOutcome::Created,
            ))
            .await?;
        }
        Ok(tenant)
    }

    /// A tenant the actor may see.
    pub async fn tenant_view(&self, actor: &Actor, id: TenantId) -> Result<Tenant> {
        Ok(self
            .tenant_for_read(actor, id, activity::TENANT_DELIVER)
            .await?
            .0)
    }

    /// Tenants in the actor's scope whose profile lets its party see them. The cursor is
    /// the id of the last tenant examined, so a page may hold fewer than `limit` items
    /// and still be followed by another.
    pub async fn tenant_list(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<Tenant>> {
        let page = page_request(cursor, limit)?;
        let mut result = self.store.tenant_list(actor.scope(), page).await?;
        let mut visible = Vec::with_capacity(result.items.len());
        for t in result.items {
            let profile = self.profile_of(&t)?;
            if profile.parties.contains(&actor.party())
                && profile
                    .decide(actor.party(), actor.roles(), activity::TENANT_DELIVER)
                    .can_view()
            {
                visible.push(t);
            }
        }
        result.items = visible;
        Ok(result)
    }

    /// Renames a tenant or changes its status (`service.deliver`). Filed as a request or
    /// proposal when the caller's party holds only A or only R.
    pub async fn tenant_update(
        &self,
        actor: &Actor,
        id: TenantId,
        input: TenantUpdate,
    ) -> Result<Outcome<Tenant>> {
        self.run(actor, id, Operation::TenantUpdate(input), None)
            .await
    }

    /// Binds a tenant to another profile (`profile.change`: customer A, provider R in the
    /// shipped profiles, so one party starts it and the other completes it). Requests filed
    /// before keep the profile version they were filed under.
    pub async fn tenant_rebind(
        &self,
        actor: &Actor,
        id: TenantId,
        input: crate::input::TenantRebind,
    ) -> Result<Outcome<Tenant>> {
        self.run(actor, id, Operation::TenantRebind(input), None)
            .await
    }

    /// Deletes a tenant that holds no domain (`configuration.destroy`). The audit row keeps
    /// the tenant's id; once the tenant is gone its customer and partner no longer reach it
    /// through their scope, and the provider still reads it.
    pub async fn tenant_delete(&self, actor: &Actor, id: TenantId) -> Result<Outcome<()>> {
        self.run(actor, id, Operation::TenantDelete {}, None).await
    }
}

/// A new tenant's input once checked: what [`ControlPlane::tenant_write`] writes.
struct CheckedTenant {
    name: String,
    partner_id: Option<mailplane_types::PartnerId>,
    slug: Option<String>,
    region: String,
    region_preference: Option<String>,
    offer: String,
    subscription: Option<SubscriptionCreate>,
}

/// A tenant operation whose input passed its check, with the values the check parsed (or borrowed
/// as they are).
pub(super) enum Checked<'a> {
    TenantUpdate(TenantUpdateChecked),
    TenantRebind(&'a TenantRebind),
    TenantDelete,
    OfferChoose(&'a OfferChoose),
    TenantRelocate(&'a TenantRelocate),
}

/// Parses a tenant operation's input into `p`'s problems and a checked value: `None` when `p` holds
/// a problem, or for another resource's operation, which the dispatcher never routes here.
pub(super) fn parse<'a>(op: &'a Operation, p: &mut Problems) -> Option<Checked<'a>> {
    match op {
        Operation::TenantUpdate(i) => tenant_update_check(p, i),
        Operation::TenantRebind(i) => tenant_rebind_check(p, i),
        Operation::TenantDelete {} => Some(Checked::TenantDelete),
        Operation::OfferChoose(i) => offer_choose_check(p, i),
        Operation::TenantRelocate(i) => tenant_relocate_check(p, i),
        _ => None,
    }
}

impl ControlPlane {
    /// Makes the change of a tenant operation whose input passed its check.
    pub(super) async fn tenants_apply(
        &self,
        tx: &WriteTx,
        _actor: &Actor,
        t: &Tenant,
        checked: Checked<'_>,
    ) -> Result<Made> {
        match checked {
            Checked::TenantUpdate(i) => self.tenant_update_apply(tx, t, i).await,
            Checked::TenantRebind(i) => self.tenant_rebind_apply(tx, t, i).await,
            Checked::TenantDelete => self.tenant_delete_apply(tx, t).await,
            Checked::OfferChoose(i) => self.offer_choose_apply(tx, t, i).await,
            Checked::TenantRelocate(i) => self.tenant_relocate_apply(tx, t, i).await,
        }
    }
}

/// Checks `tenant.update`: a valid name or a status, never `terminated`.
fn tenant_update_check<'a>(p: &mut Problems, input: &'a TenantUpdate) -> Option<Checked<'a>> {
    let name = input.name.as_deref().map(|n| p.name("name", n));
    if input.name.is_none() && input.status.is_none() {
        p.add("name", "at least one of `name` and `status` must be given");
    }
    match input.status {
        Some(TenantStatus::Terminated) => p.add(
            "status",
            "must be `active`: a tenant is terminated by ending its contract (`termination_create`)",
        ),
        Some(TenantStatus::Suspended) => p.add(
            "status",
            "must be `active`: a tenant is suspended by placing a suspension with its reason (`suspension_place`)",
        ),
        _ => {}
    }
    Some(Checked::TenantUpdate(TenantUpdateChecked {
        name,
        status: input.status,
    }))
}

/// Checks `tenant.rebind`: a profile is named.
fn tenant_rebind_check<'a>(p: &mut Problems, input: &'a TenantRebind) -> Option<Checked<'a>> {
    if input.profile.trim().is_empty() {
        p.add("profile", "must name a profile");
    }
    Some(Checked::TenantRebind(input))
}

/// Checks `tenant.offer`: an offer is named.
fn offer_choose_check<'a>(p: &mut Problems, input: &'a OfferChoose) -> Option<Checked<'a>> {
    if input.offer.trim().is_empty() {
        p.add("offer", "must name a catalogue offer");
    }
    Some(Checked::OfferChoose(input))
}

/// Checks `tenant.relocate`: a region is named.
fn tenant_relocate_check<'a>(p: &mut Problems, input: &'a TenantRelocate) -> Option<Checked<'a>> {
    if input.region.trim().is_empty() {
        p.add("region", "must name a catalogue region");
    }
    Some(Checked::TenantRelocate(input))
}

impl ControlPlane {
    /// Applies `tenant.update`.
    async fn tenant_update_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: TenantUpdateChecked,
    ) -> Result<Made> {
        let tid = tenant.id;
        // The status is the sum of the tenant's suspensions: `active` clears only a status
        // stored before suspensions had reasons, never an active suspension.
        if input.status.is_some()
            && !tx
                .suspensions_active(tid)
                .await?
                .iter()
                .all(|s| s.mailbox_id.is_some())
        {
            return Err(Error::conflict(
                Some("status"),
                "the tenant is suspended with reasons: lift each suspension (`suspension_lift`) instead",
            ));
        }
        let t = tx
            .tenant_update(tid, input.name.as_deref(), input.status)
            .await?;
        Ok(Made::new(
            Applied::Tenant(t),
            AuditTarget::Tenant,
            tid,
            AuditOutcome::Updated,
        ))
    }

    /// Applies `tenant.rebind`.
    async fn tenant_rebind_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: &TenantRebind,
    ) -> Result<Made> {
        let tid = tenant.id;
        let target = self.rebind_target(tenant, input)?;
        let t = tx.tenant_rebind(tid, &target.id, target.version).await?;
        Ok(Made::new(
            Applied::Tenant(t),
            AuditTarget::Tenant,
            tid,
            AuditOutcome::Rebound,
        ))
    }

    /// Applies `tenant.delete`.
    async fn tenant_delete_apply(&self, tx: &WriteTx, tenant: &Tenant) -> Result<Made> {
        let tid = tenant.id;
        // A legal hold outranks the deletion, whatever else is left.
        self.not_held(tx, tid, None, "deleting the tenant").await?;
        tx.tenant_delete(tid, OperationKind::TenantDelete.name())
            .await?;
        Ok(Made::new(
            Applied::Deleted,
            AuditTarget::Tenant,
            tid,
            AuditOutcome::Deleted,
        ))
    }

    /// Applies `tenant.offer`.
    async fn offer_choose_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: &OfferChoose,
    ) -> Result<Made> {
        let offer = self.offer_change(tenant, input)?;
        let t = tx.tenant_set_offer(tenant.id, &offer.id).await?;
        Ok(Made::new(
            Applied::Tenant(t),
            AuditTarget::Tenant,
            tenant.id,
            AuditOutcome::OfferChanged,
        ))
    }

    /// The tenant's move to another region: where its mail is on its way (any letter of
    /// `service.location.choose`). Not found when the tenant never moved its mail.
    pub async fn tenant_relocation_view(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<mailplane_types::lifecycle::Relocation> {
        self.tenant_for_read(actor, tenant, activity::LOCATION)
            .await?;
        let job = self
            .store
            .job_get(super::jobs::RELOCATION_JOB, tenant.uuid())
            .await?
            .ok_or_else(|| Error::not_found("relocation", tenant))?;
        super::jobs::relocation::relocation_of(&job)
    }

    /// Applies `tenant.relocate`. When the tenant's mail is on another data plane (or back
    /// end) than the one it goes to, the move is a job (`control_plane/jobs/relocation.rs`)
    /// enqueued with the operation: the region changes once the mail is copied, and the
    /// answer is the tenant as it is until then. Otherwise no mail moves and the region
    /// changes at once.
    async fn tenant_relocate_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: &TenantRelocate,
    ) -> Result<Made> {
        use super::jobs::relocation::FIRST_STEP;
        let job = super::jobs::RELOCATION_JOB;
        if let Some(j) = self.store.job_get(job, tenant.id.uuid()).await?
            && j.state == mailplane_store::JOB_PENDING
        {
            return Err(Error::conflict(
                Some("region"),
                "the tenant is moving to another region already: wait for the move to end (GET /v1/tenants/{tenant}/relocation)",
            ));
        }
        let (progress, moves_mail) = self.relocation_target(tx, tenant, input).await?;
        if moves_mail {
            let now = self.clock.now();
            let progress = serde_json::to_value(&progress)
                .map_err(|e| Error::internal(format!("serialising a job record: {e}")))?;
            tx.job_insert(
                job,
                tenant.id.uuid(),
                Some(tenant.id),
                &FIRST_STEP.to_string(),
                now,
                &progress,
                now,
            )
            .await?;
            return Ok(Made::new(
                Applied::Tenant(tenant.clone()),
                AuditTarget::Tenant,
                tenant.id,
                AuditOutcome::Relocated,
            ));
        }
        let t = tx
            .tenant_relocate_to(tenant.id, &progress.to, progress.to_backend.as_deref())
            .await?;
        Ok(Made::new(
            Applied::Tenant(t),
            AuditTarget::Tenant,
            tenant.id,
            AuditOutcome::Relocated,
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

//! The [`ControlPlane`] facade: every operation on partners, tenants, domains, mailboxes
//! and the audit log, each authorized against the RACI profile of the tenant it touches.
//!
//! The pattern of every tenant-scoped operation is the same: find the tenant within the
//! actor's scope (absent: `NotFound`), decide the operation's activity with the tenant's
//! profile (no usable letter: `Forbidden`), then read or change data. Changes and their
//! audit rows share one transaction.

use std::sync::Arc;

use mailplane_policy::{Decision, PolicySet, Profile, Verdict};
use mailplane_store::{
    AuditRecord, DataStore, DatabaseLocation, Page, PageRequest, ReadCacheStats, Scope, WriteTx,
};
use mailplane_types::catalogue::Catalogue;
use mailplane_types::resources::{AuditEntry, Domain, Event, Mailbox, Partner, Tenant};
use mailplane_types::{
    DomainId, Duty, Error, MailboxId, OrgId, PartnerId, Party, Result, TenantId,
};
use uuid::Uuid;

use crate::Actor;

mod bulk;
mod catalogue;
mod credentials;
mod directory;
mod dispatch;
mod domains;
mod inventory;
mod jobs;
mod lifecycle;
mod mailboxes_ops;
mod messages;
mod operations;
mod passwords;
mod requests;
mod retention;
mod tenants_ops;
mod tickets;
mod webhooks;
mod workflow;
pub use bulk::{BatchAnswer, BatchItem, MAX_BATCH, MailboxBatch, MailboxBatchCreate};
pub use domains::{DomainRecords, DomainVerification, expected_records};
pub use jobs::{JobReport, JobSettings};
pub use lifecycle::{DEFAULT_LINK_TTL, LifecycleSettings};
pub use operations::{Operation, OperationKind};
pub use retention::SweepReport;
pub use webhooks::{PumpReport, WebhookSettings};
pub use workflow::{AUTOMATION_ROLE, AUTOMATION_SUBJECT, Applied, Outcome};

use crate::clock::{Clock, SystemClock};
use crate::input::{
    DomainCreate, MailboxCreate, MailboxUpdate, PartnerCreate, PartnerUpdate, Problems,
    TenantCreate, TenantUpdate,
};

/// Which activity of the profile governs each kind of operation. The letters live in
/// `policies/`; this table only names the activity an operation is an instance of.
mod activity {
    /// Managing partner organisations (platform activity).
    pub const PARTNER_MANAGE: &str = "partner.manage";
    /// Creating, viewing, changing a tenant: delivering the preconfigured service.
    pub const TENANT_DELIVER: &str = "service.deliver";
    /// Deleting a tenant, and destroying its configuration at end of service.
    pub const TENANT_DESTROY: &str = "configuration.destroy";
    /// Domains and mailboxes: directory administration.
    pub const DIRECTORY: &str = "directory.administer";
    /// Customer-managed API credentials: access to the control plane.
    pub const CONTROL_PLANE_ACCESS: &str = "access.control-plane";
    /// Binding a tenant to another profile: both parties to the contract take part.
    pub const PROFILE_CHANGE: &str = "profile.change";
    /// Reporting incidents, and adding to a report: opening and commenting on tickets.
    pub const INCIDENT_REPORT: &str = "incident.report";
    /// Qualifying, updating and closing incidents: handling tickets.
    pub const INCIDENT_HANDLE: &str = "incident.handle";
    /// Reading the audit trail (platform activity).
    pub const AUDIT_REVIEW: &str = "audit.review";
    /// Choosing the tenant's offer (mailbox size): upgrades only.
    pub const SIZING: &str = "service.sizing.choose";
    /// Placing a tenant in a region, and moving it.
    pub const LOCATION: &str = "service.location.choose";
    /// Providing licence subscriptions.
    pub const LICENCES: &str = "licenses.provide";
    /// Customising the service: seat counts ("number of accounts") and password policy.
    pub const CUSTOMIZE: &str = "service.customize";
    /// Providing the inventory of the service in use.
    pub const INVENTORY: &str = "inventory.provide";
    /// Access to the data plane: importing messages, setting mailbox passwords.
    pub const DATA_PLANE_ACCESS: &str = "access.data-plane";
    /// Retention policies.
    pub const RETENTION: &str = "retention.manage";
    /// Legal holds.
    pub const HOLDS: &str = "legal-hold.manage";
    /// Delivering an export at the customer's request.
    pub const EXPORT: &str = "export.pst.deliver";
    /// Terminating the contract, and cancelling the termination.
    pub const TERMINATE: &str = "contract.terminate";
    /// Destroying the customer's data at end of service.
    pub const DATA_DESTROY: &str = "data.destroy";
}

/// The default page size of list operations.
pub const DEFAULT_PAGE: u64 = 50;
/// The largest page size of list operations.
pub const MAX_PAGE: u64 = 1000;

/// Settings of a control plane.
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    /// The profile new tenants bind to when the caller names none.
    pub default_profile: String,
    /// The profile whose activities (`partner.manage`, `audit.review`) govern objects that
    /// belong to no tenant. Tenants never bind to it.
    pub platform_profile: String,
    /// The provider's catalogue: regions, offers, SKUs and DNS guidance.
    pub catalogue: Catalogue,
}

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        ControlPlaneConfig {
            default_profile: "hosted-exchange".into(),
            platform_profile: "platform".into(),
            catalogue: crate::catalogue::builtin(),
        }
    }
}

/// What an operation needs from the decision.
#[derive(Clone, Copy)]
enum Need {
    /// Any usable letter: the caller may see the objects.
    View,
    /// R with its party accountable: the caller may change them now.
    Execute,
}

/// The embeddable control plane.
#[derive(Clone)]
pub struct ControlPlane {
    store: DataStore,
    policies: Arc<PolicySet>,
    // Shared, not copied: every request works on a clone of the control plane.
    config: Arc<ControlPlaneConfig>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    webhook_settings: WebhookSettings,
    dns: Arc<domains::Resolver>,
    data_plane: Option<Arc<dyn crate::data_plane::DataPlane>>,
    max_message_bytes: usize,
    lifecycle: Option<Arc<LifecycleSettings>>,
    jobs: JobSettings,
    /// Set when the worker must claim no more steps (a stopping server).
    jobs_stopped: Arc<std::sync::atomic::AtomicBool>,
}

impl ControlPlane {
    /// Opens the database (running pending migrations) and builds a control plane over it
    /// and a set of linted profiles. The store stays inside: every read and change goes
    /// through the authorized operations, so an embedder cannot skip a decision or an
    /// audit row.
    pub async fn open(
        location: &DatabaseLocation,
        policies: PolicySet,
        config: ControlPlaneConfig,
    ) -> Result<Self> {
        let store = DataStore::open(location).await?;
        // Stored data must still find every catalogue entry it names: an entry removed from
        // the file instead of closed would silently loosen the rules for its tenants.
        let (offers, regions, skus) = store.catalogue_references().await?;
        let c = &config.catalogue;
        let mut missing = Vec::new();
        missing.extend(
            offers
                .iter()
                .filter(|o| c.offer(o).is_none())
                .map(|o| format!("offer `{o}`")),
        );
        missing.extend(
            regions
                .iter()
                .filter(|r| c.region(r).is_none())
                .map(|r| format!("region `{r}`")),
        );
        missing.extend(
            skus.iter()
                .filter(|s| c.sku(s).is_none())
                .map(|s| format!("SKU `{s}`")),
        );
        if !missing.is_empty() {
            return Err(Error::invalid(
                "catalogue",
                format!(
                    "stored tenants use {}, which the catalogue no longer defines: restore them with `open = false` instead of deleting them",
                    missing.join(", ")
                ),
            ));
        }
        Self::new(store, policies, config)
    }

    fn new(store: DataStore, policies: PolicySet, config: ControlPlaneConfig) -> Result<Self> {
        for (field, id) in [
            ("default_profile", &config.default_profile),
            ("platform_profile", &config.platform_profile),
        ] {
            if policies.get(id).is_none() {
                return Err(Error::invalid(
                    field,
                    format!("`{id}` is not a loaded profile"),
                ));
            }
        }
        let problems = config.catalogue.problems();
        if !problems.is_empty() {
            return Err(Error::invalid("catalogue", problems.join("; ")));
        }
        if config.default_profile == config.platform_profile {
            return Err(Error::invalid(
                "default_profile",
                "must be a tenant profile, not the platform profile",
            ));
        }
        Ok(ControlPlane {
            store,
            policies: Arc::new(policies),
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
            // Deliveries follow no redirect and reach public addresses only.
            http: webhooks::http_client(false)?,
            webhook_settings: WebhookSettings::default(),
            dns: Arc::new(domains::Resolver::from_settings(
                &crate::dns::DnsSettings::default(),
            )),
            data_plane: None,
            max_message_bytes: crate::data_plane::DEFAULT_MAX_MESSAGE_BYTES,
            lifecycle: None,
            jobs: JobSettings::default(),
            jobs_stopped: Arc::default(),
        })
    }

    /// The same control plane delivering webhooks with `settings`.
    pub fn with_webhook_settings(mut self, settings: WebhookSettings) -> Result<Self> {
        self.http = webhooks::http_client(settings.allow_private_addresses)?;
        self.webhook_settings = settings;
        Ok(self)
    }

    /// The same control plane reading time from `clock`: deadlines of requests and
    /// consultations are computed and checked with it. The system clock is the default.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same control plane remembering at most `capacity` tenants and `capacity`
    /// mailboxes read from SQLite (0: none, every read asks the database). The default is
    /// [`crate::DEFAULT_READ_CACHE`]. Answers are the same either way: a
    /// remembered row is served only while the file has not changed since it was read.
    /// PostgreSQL deployments remember nothing.
    pub fn with_read_cache(mut self, capacity: usize) -> Result<Self> {
        self.store = self.store.with_read_cache(capacity)?;
        Ok(self)
    }

    /// How the read cache has done since the control plane opened; None without one.
    pub fn read_cache_stats(&self) -> Option<ReadCacheStats> {
        self.store.read_cache_stats()
    }

    /// Whether the database answers; returns the backend's name (`sqlite`, `postgres`).
    /// The store itself is not handed out: every read and change goes through the
    /// authorized operations below.
    pub async fn ready(&self) -> Result<&'static str> {
        self.store.ping().await?;
        Ok(self.store.backend_name())
    }

    /// The loaded profiles.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// The id of the profile that governs objects above tenants.
    pub fn platform_profile_id(&self) -> &str {
        &self.config.platform_profile
    }

    fn platform_profile(&self) -> &Profile {
        self.policies
            .get(&self.config.platform_profile)
            .expect("checked in new()")
    }

    /// The profile version a tenant is bound to. A tenant bound to a version that is not
    /// loaded is an operator's error, reported rather than decided by another version.
    fn profile_of(&self, tenant: &Tenant) -> Result<&Profile> {
        self.policies
            .get_version(&tenant.profile, tenant.profile_version)
            .map(|p| p.as_ref())
            .ok_or_else(|| {
                Error::internal(format!(
                    "tenant {} is bound to profile {}@{}, which is not loaded",
                    tenant.id, tenant.profile, tenant.profile_version
                ))
            })
    }

    /// Finds a tenant the actor may see: in its scope, and under a profile in which the
    /// actor's party holds some letter. A party outside the tenant's contract (a partner
    /// under a two-party profile) does not see the tenant at all: not found, not forbidden.
    fn visible(
        &self,
        actor: &Actor,
        tenant: Option<Tenant>,
        id: TenantId,
    ) -> Result<(Tenant, &Profile)> {
        let tenant = tenant.ok_or_else(|| Error::not_found("tenant", id))?;
        let profile = self.profile_of(&tenant)?;
        if !profile.parties.contains(&actor.party()) {
            return Err(Error::not_found("tenant", id));
        }
        Ok((tenant, profile))
    }

    /// Decides an activity for the actor and turns a decision short of `need` into an error.
    fn authorize(
        &self,
        actor: &Actor,
        profile: &Profile,
        act: &str,
        need: Need,
    ) -> Result<Decision> {
        let decision = profile.decide(actor.party(), actor.roles(), act);
        let ok = match need {
            Need::View => decision.can_view(),
            Need::Execute => decision.verdict == Verdict::Execute,
        };
        if ok {
            Ok(decision)
        } else {
            Err(Error::Forbidden(Box::new(decision.refusal())))
        }
    }

    /// Finds a tenant in the actor's scope (else not found) and authorizes the activity.
    async fn tenant_for_read(
        &self,
        actor: &Actor,
        id: TenantId,
        act: &str,
    ) -> Result<(Tenant, Decision)> {
        let found = self.store.tenant_get(actor.scope(), id).await?;
        self.authorize_read(actor, found, id, act)
    }

    /// The read decision on a tenant already looked up in the actor's scope (else not
    /// found): for reads that fetch the tenant together with what they read.
    fn authorize_read(
        &self,
        actor: &Actor,
        found: Option<Tenant>,
        id: TenantId,
        act: &str,
    ) -> Result<(Tenant, Decision)> {
        let (tenant, profile) = self.visible(actor, found, id)?;
        let decision = self.authorize(actor, profile, act, Need::View)?;
        Ok((tenant, decision))
    }

    /// Appends the audit row of a change and its event, then commits: the change, its
    /// evidence and the news of it land together or not at all.
    async fn audit_and_commit(tx: WriteTx, change: Change) -> Result<()> {
        let entry = tx.audit_append(change.record).await?;
        tx.event_append(&entry, &change.audience).await?;
        tx.commit().await
    }

    /// What a change records: its audit row and the parties owed an event. Those are the
    /// parties holding I for the activity, and the accountable party when another party
    /// acted under its A.
    fn record(
        actor: &Actor,
        decision: &Decision,
        tenant_id: Option<TenantId>,
        target_kind: &'static str,
        target_id: impl ToString,
        outcome: &'static str,
    ) -> Change {
        let mut audience: Vec<Party> = Party::ALL
            .into_iter()
            .filter(|p| decision.letters[p.index()].has(Duty::I))
            .collect();
        if let Some(accountable) = decision.accountable()
            && accountable != actor.party()
            && !audience.contains(&accountable)
        {
            audience.push(accountable);
        }
        Change {
            record: AuditRecord {
                actor: actor.subject().to_string(),
                party: actor.party().to_string(),
                org: actor.org().to_string(),
                roles: actor.roles().to_vec(),
                activity: decision.activity.to_string(),
                letters: decision.letters_used(),
                tenant_id,
                target_kind,
                target_id: target_id.to_string(),
                outcome,
                request_id: None,
            },
            audience,
        }
    }

    /// The tenant profiles that name the actor's party and pass `keep`: a partner reads
    /// feeds and audit rows only of its customers' tenants bound to one of them.
    fn profiles_naming_party(&self, actor: &Actor, keep: impl Fn(&Profile) -> bool) -> Vec<String> {
        self.policies
            .iter()
            .filter(|p| p.id != self.config.platform_profile && p.parties.contains(&actor.party()))
            .filter(|p| keep(p))
            .map(|p| p.id.clone())
            .collect()
    }

    // ----- partners -------------------------------------------------------------------

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
        Self::audit_and_commit(
            tx,
            Self::record(actor, &decision, None, "partner", partner.id, "created"),
        )
        .await?;
        Ok(partner)
    }

    /// A partner the actor may see: the provider sees all, a partner itself.
    pub async fn partner_get(&self, actor: &Actor, id: PartnerId) -> Result<Partner> {
        let partner = self
            .store
            .partner_get(actor.scope(), id)
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
        self.partner_get(actor, id).await?;
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
        tx.partner_get(id)
            .await?
            .ok_or_else(|| Error::not_found("partner", id))?;
        let partner = tx.partner_update(id, &name).await?;
        Self::audit_and_commit(
            tx,
            Self::record(actor, &decision, None, "partner", id, "updated"),
        )
        .await?;
        Ok(partner)
    }

    /// Deletes a partner that has no tenants.
    pub async fn partner_delete(&self, actor: &Actor, id: PartnerId) -> Result<()> {
        self.partner_get(actor, id).await?;
        let decision = self.authorize(
            actor,
            self.platform_profile(),
            activity::PARTNER_MANAGE,
            Need::Execute,
        )?;
        let tx = self.store.begin().await?;
        tx.partner_get(id)
            .await?
            .ok_or_else(|| Error::not_found("partner", id))?;
        tx.partner_delete(id).await?;
        Self::audit_and_commit(
            tx,
            Self::record(actor, &decision, None, "partner", id, "deleted"),
        )
        .await
    }

    // ----- tenants --------------------------------------------------------------------

    /// Creates a tenant bound to a profile. The profile's `service.deliver` letters decide
    /// who may: in `hosted-exchange` the provider, in `master-hoster` the partner.
    pub async fn tenant_create(&self, actor: &Actor, input: TenantCreate) -> Result<Tenant> {
        let profile_id = input
            .profile
            .clone()
            .unwrap_or_else(|| self.config.default_profile.clone());
        let profile = self
            .policies
            .get(&profile_id)
            .filter(|p| p.id != self.config.platform_profile)
            .ok_or_else(|| {
                let known: Vec<_> = self
                    .policies
                    .iter()
                    .filter(|p| p.id != self.config.platform_profile)
                    .map(|p| p.id.clone())
                    .collect();
                Error::invalid("profile", format!("must be one of: {}", known.join(", ")))
            })?;
        let decision = self.authorize(actor, profile, activity::TENANT_DELIVER, Need::Execute)?;
        // Delivering the service does not carry the other parties' choices with it: the offer
        // is chosen by the party that holds R and A on `service.sizing.choose` (the customer,
        // who upgrades later), seats beyond the minimum by the party that provides licences,
        // and a region is placed by the party that places tenants. Anyone else's `region` is
        // a preference, kept; the tenant starts in the default region until the provider
        // relocates it.
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
        let places = executes(activity::LOCATION);
        let catalogue = self.catalogue();
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
            .map(|sku| crate::input::SubscriptionCreate {
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
        p.finish()?;
        let offer = offer.expect("problems were reported above").id.clone();
        let tx = self.store.begin().await?;
        if let Some(pid) = partner_id
            && tx.partner_get(pid).await?.is_none()
        {
            return Err(Error::invalid(
                "partner_id",
                "must name an existing partner",
            ));
        }
        let slug = match slug {
            Some(s) => s.to_string(),
            None => {
                let derived = catalogue::slug_from(&name);
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
            mailplane_types::DomainName::parse(&format!("{slug}.{}", catalogue.mail_domain))
                .map_err(|rule| {
                    Error::invalid("slug", format!("gives no valid default domain: {rule}"))
                })?;
        let (tenant, _) = tx
            .tenant_insert(mailplane_store::NewTenant {
                name,
                slug,
                profile: (profile.id.clone(), profile.version),
                partner_id,
                region: region.clone(),
                region_preference: input.region.as_deref().map(|r| r.trim().to_string()),
                offer,
                default_domain,
            })
            .await?;
        let created = Self::record(
            actor,
            &decision,
            Some(tenant.id),
            "tenant",
            tenant.id,
            "created",
        );
        let entry = tx.audit_append(created.record).await?;
        tx.event_append(&entry, &created.audience).await?;
        // The placement is the provider's activity: recorded as the creator's when its party
        // may place tenants, else as the provider automation that placed it as asked.
        let (placer, placing) = catalogue::acting_for(actor, profile, activity::LOCATION);
        let placed = Self::record(
            &placer,
            &placing,
            Some(tenant.id),
            "tenant",
            tenant.id,
            "placed",
        );
        let entry = tx.audit_append(placed.record).await?;
        tx.event_append(&entry, &placed.audience).await?;
        if let Some(input) = subscription {
            let s = self.subscribe(&tx, tenant.id, &input).await?;
            let (provider, providing) = catalogue::acting_for(actor, profile, activity::LICENCES);
            let change = Self::record(
                &provider,
                &providing,
                Some(tenant.id),
                "subscription",
                s.id,
                "created",
            );
            let entry = tx.audit_append(change.record).await?;
            tx.event_append(&entry, &change.audience).await?;
        }
        tx.commit().await?;
        Ok(tenant)
    }

    /// A tenant the actor may see.
    pub async fn tenant_get(&self, actor: &Actor, id: TenantId) -> Result<Tenant> {
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

    // ----- domains --------------------------------------------------------------------

    /// Adds a domain to a tenant (`directory.administer`).
    pub async fn domain_create(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: DomainCreate,
    ) -> Result<Outcome<Domain>> {
        self.run(actor, tenant, Operation::DomainCreate(input), None)
            .await
    }

    /// A domain of a tenant.
    pub async fn domain_get(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: DomainId,
    ) -> Result<Domain> {
        self.tenant_for_read(actor, tenant, activity::DIRECTORY)
            .await?;
        self.store
            .domain_get(tenant, id)
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
    ) -> Result<Page<Domain>> {
        let page = page_request(cursor, limit)?;
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
    ) -> Result<Outcome<()>> {
        self.run(
            actor,
            tenant,
            Operation::DomainDelete { domain_id: id },
            None,
        )
        .await
    }

    // ----- mailboxes ------------------------------------------------------------------

    /// Creates a mailbox on a domain of the same tenant (`directory.administer`).
    pub async fn mailbox_create(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: MailboxCreate,
    ) -> Result<Outcome<Mailbox>> {
        self.run(actor, tenant, Operation::MailboxCreate(input), None)
            .await
    }

    /// A mailbox of a tenant.
    pub async fn mailbox_get(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<Mailbox> {
        // The tenant and the mailbox come from one statement: a read costs one round trip.
        let (found, mailbox) = match self
            .store
            .tenant_and_mailbox(actor.scope(), tenant, id)
            .await?
        {
            Some((t, m)) => (Some(t), m),
            None => (None, None),
        };
        self.authorize_read(actor, found, tenant, activity::DIRECTORY)?;
        mailbox.ok_or_else(|| Error::not_found("mailbox", id))
    }

    /// Mailboxes of a tenant.
    pub async fn mailbox_list(
        &self,
        actor: &Actor,
        tenant: TenantId,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<Mailbox>> {
        let page = page_request(cursor, limit)?;
        self.tenant_for_read(actor, tenant, activity::DIRECTORY)
            .await?;
        self.store.mailbox_list(tenant, page).await
    }

    /// Changes a mailbox's display name, quota or status.
    pub async fn mailbox_update(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: MailboxId,
        input: MailboxUpdate,
    ) -> Result<Outcome<Mailbox>> {
        let op = Operation::MailboxUpdate {
            mailbox_id: id,
            changes: input,
        };
        self.run(actor, tenant, op, None).await
    }

    /// Deletes a mailbox.
    pub async fn mailbox_delete(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<Outcome<()>> {
        let outcome = self
            .run(
                actor,
                tenant,
                Operation::MailboxDelete { mailbox_id: id },
                None,
            )
            .await?;
        // Once the mailbox is gone from the directory, its messages go from the data plane
        // at once. The durable job committed with the deletion repeats this (a no-op then)
        // and is what removes them after a crash, or when the deletion was approved or
        // fulfilled later.
        if matches!(outcome, Outcome::Done(_) | Outcome::Automated { .. })
            && let Some(data_plane) = &self.data_plane
            && let Err(e) = data_plane.destroy_mailbox(tenant, id).await
        {
            tracing::warn!(%tenant, mailbox = %id, error = %e, "removing a deleted mailbox's messages failed");
        }
        Ok(outcome)
    }

    // ----- audit ----------------------------------------------------------------------

    /// Audit rows the actor may read (`audit.review`): the provider all of them, a partner
    /// those of its customers' tenants, a customer those of its own tenant.
    pub async fn audit_list(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<AuditEntry>> {
        let after = seq_cursor(cursor)?;
        let limit = page_limit(limit)?;
        let profile = match actor.org() {
            OrgId::Tenant(t) => {
                let found = self.store.tenant_get(actor.scope(), t).await?;
                self.visible(actor, found, t)?.1
            }
            _ => self.platform_profile(),
        };
        self.authorize(actor, profile, activity::AUDIT_REVIEW, Need::View)?;
        // A partner reads its customers' rows only under profiles that make it a party
        // informed of the audit trail; a resold tenant under a two-party profile stays
        // invisible to it, as it does everywhere else.
        let partner_profiles: Vec<String> = self
            .policies
            .iter()
            .filter(|p| p.id != self.config.platform_profile && p.parties.contains(&actor.party()))
            .filter(|p| {
                p.decide(actor.party(), actor.roles(), activity::AUDIT_REVIEW)
                    .can_view()
            })
            .map(|p| p.id.clone())
            .collect();
        self.store
            .audit_list(actor.scope(), &partner_profiles, after, limit)
            .await
    }

    // ----- events ---------------------------------------------------------------------

    /// The actor's organisation's feed: the changes its party is owed news of, within its
    /// scope (a customer: its tenant; a partner: its customers' tenants under profiles that
    /// name partners; the provider: all).
    pub async fn event_list(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<Event>> {
        let after = seq_cursor(cursor)?;
        let limit = page_limit(limit)?;
        if let OrgId::Tenant(t) = actor.org() {
            let found = self.store.tenant_get(actor.scope(), t).await?;
            self.visible(actor, found, t)?;
        }
        let partner_profiles = self.profiles_naming_party(actor, |_| true);
        self.store
            .event_list(
                actor.scope(),
                actor.party(),
                &partner_profiles,
                after,
                limit,
            )
            .await
    }

    /// Verifies the whole audit chain. Not tenant-scoped: an operator's command.
    pub async fn audit_verify(&self) -> Result<mailplane_store::AuditReport> {
        self.store.audit_verify().await
    }
}

/// A cursor over a sequence (audit rows, events): the last `seq` seen.
fn seq_cursor(cursor: Option<&str>) -> Result<Option<i64>> {
    cursor
        .map(|c| {
            c.parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(|| {
                Error::invalid("cursor", "must be a cursor returned by a previous page")
            })
        })
        .transpose()
}

/// What a change writes beside itself: the audit record and the event's audience.
struct Change {
    record: AuditRecord,
    audience: Vec<Party>,
}

fn page_limit(limit: Option<u64>) -> Result<u64> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        l @ 1..=MAX_PAGE => Ok(l),
        _ => Err(Error::invalid(
            "limit",
            format!("must be from 1 to {MAX_PAGE}"),
        )),
    }
}

fn page_request(cursor: Option<&str>, limit: Option<u64>) -> Result<PageRequest> {
    let after = cursor
        .map(|c| {
            Uuid::parse_str(c).map_err(|_| {
                Error::invalid("cursor", "must be a cursor returned by a previous page")
            })
        })
        .transpose()?;
    Ok(PageRequest {
        after,
        limit: page_limit(limit)?,
    })
}

//! The [`ControlPlane`] facade: its construction, the authorization helpers every operation
//! shares, and the list of the modules that hold the operations, one per resource.
//!
//! The pattern of every tenant-scoped operation is the same: find the tenant within the
//! actor's scope (absent: `NotFound`), decide the operation's activity with the tenant's
//! profile (no usable letter: `Forbidden`), then read or change data. Changes and their
//! audit rows share one transaction. The operations themselves live beside their resource:
//! `partners`, `tenants`, `domains`, `mailboxes`, `audit` and the others below; this file
//! keeps only what they all use.

use std::sync::Arc;

use mailplane_policy::{Decision, PolicySet, Profile, Verdict};
use mailplane_store::{DataStore, DatabaseLocation, PageRequest, ReadCacheStats};
use mailplane_types::catalogue::Catalogue;
use mailplane_types::resources::Tenant;
use mailplane_types::{Error, Result, TenantId};
use uuid::Uuid;

use crate::Actor;

pub mod activity;
mod audit;
mod catalogue;
mod credentials;
pub mod directory;
mod dispatch;
mod domains;
mod dunning;
mod idempotency;
mod inventory;
mod jobs;
mod lifecycle;
mod mailbox_deletions;
mod mailboxes;
mod messages;
mod operations;
mod partners;
mod passwords;
mod requests;
mod retention;
mod suspensions;
mod tenants;
mod tickets;
mod webhooks;
mod workflow;
pub use domains::{DomainRecords, DomainVerification, expected_records};
pub use jobs::{JobReport, JobSettings};
pub use lifecycle::{DEFAULT_LINK_TTL, LifecycleSettings};
pub use mailboxes::{BatchAnswer, BatchItem, MAX_BATCH, MailboxBatch, MailboxBatchCreate};
pub use operations::{Operation, OperationKind};
pub use retention::SweepReport;
pub use webhooks::{PumpReport, WebhookSettings};
pub use workflow::{AUTOMATION_ROLE, AUTOMATION_SUBJECT, Applied, Outcome};

use crate::clock::{Clock, SystemClock};

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
    /// The data plane every call goes through: [`Self::data_planes`], which sends each call
    /// to the data plane of the tenant's region.
    data_plane: Option<Arc<dyn crate::data_plane::DataPlane>>,
    data_planes: Option<Arc<crate::data_plane::RegionalDataPlane>>,
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
        // A profile that lacks an activity the code decides would refuse its operations to
        // every party, one call at a time: it is refused here, at start, by name.
        activity::check_profiles(&policies, &config.platform_profile)?;
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
            data_planes: None,
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

    /// The job queue and webhook deliveries by state, for `/metrics`: like [`Self::ready`]
    /// and [`Self::read_cache_stats`], an answer about the deployment, not about a tenant.
    pub async fn operational_counts(&self) -> Result<mailplane_store::OperationalCounts> {
        self.store.operational_counts(self.clock.now()).await
    }

    /// The mail stack's lookups over this control plane's store and clock: like
    /// [`Self::ready`], a service to the deployment's mail servers, not to a tenant's caller.
    /// Serve them with [`crate::mailstack::MailstackServer`].
    pub fn mail_lookups(&self) -> crate::mailstack::MailLookups {
        crate::mailstack::MailLookups::new(
            self.store.clone(),
            self.clock.clone(),
            self.data_planes.clone(),
        )
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
        let found = self.store.tenant_view(actor.scope(), id).await?;
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

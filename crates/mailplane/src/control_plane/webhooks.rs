//! Webhooks: each organisation registers URLs, and a pump delivers its feed to them.
//!
//! The feed an organisation reads at `GET /v1/events` is exactly what its webhooks receive:
//! the same audience and scope rules, copied from the `events` outbox. The pump runs in the
//! server every two seconds (and in tests on demand): it queues new events per webhook,
//! leases due deliveries, POSTs each with a signature (see [`crate::webhooks`]), and records
//! every attempt. A failed attempt is retried with exponential backoff until the attempts
//! run out; the log keeps every try.

use std::net::IpAddr;
use std::time::Instant;

use mailplane_store::{AttemptResult, LeasedDelivery, Page, Scope};
use mailplane_types::resources::{Delivery, Webhook, WebhookCreated};
use mailplane_types::{
    ActivityId, AuditOutcome, AuditTarget, Duty, Error, Letters, OrgId, Result, WebhookId,
};

use super::{ControlPlane, page_request};
use crate::Actor;
use crate::input::{Problems, WebhookCreate};
use crate::special_purpose;
use crate::webhooks::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign};

/// The name audit rows give to managing webhooks. It is no activity of a matrix: an
/// organisation's administrators manage the delivery of its own feed.
const WEBHOOK_ACTIVITY: &str = "webhook.manage";

/// How many events one webhook takes per pump.
const ENQUEUE_BATCH: u64 = 500;
/// How many deliveries one pump sends.
const SEND_BATCH: u64 = 32;

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Attempts before a delivery is marked failed.
    pub max_attempts: i32,
    /// The wait after the first failed attempt; it doubles after each, up to an hour.
    pub backoff: time::Duration,
    /// How long one POST may take.
    pub timeout: std::time::Duration,
    /// How long a worker holds a delivery; a worker that died releases it after this.
    pub lease: time::Duration,
    /// Whether receivers may be on loopback, private, link-local or other non-public
    /// addresses. Off by default, so that a customer cannot make the control plane probe
    /// the provider's internal network; tests and single-host setups turn it on.
    pub allow_private_addresses: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            max_attempts: 10,
            backoff: time::Duration::seconds(10),
            timeout: std::time::Duration::from_secs(10),
            lease: time::Duration::seconds(60),
            allow_private_addresses: false,
        }
    }
}

/// What one pump did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PumpReport {
    /// Webhooks whose queue received new events.
    pub queued_for: usize,
    /// Deliveries the receiver accepted.
    pub delivered: usize,
    /// Attempts that failed (retried later or given up).
    pub failed_attempts: usize,
}

impl ControlPlane {
    /// The organisation whose webhooks the actor reads: its own, while a customer's tenant
    /// is still visible.
    async fn webhook_owner(&self, actor: &Actor) -> Result<String> {
        if let OrgId::Tenant(t) = actor.org() {
            let found = self.store.tenant_view(actor.scope(), t).await?;
            self.visible(actor, found, t)?;
        }
        Ok(actor.org().to_string())
    }

    /// Requires a role that may manage the organisation's webhooks: only a role that
    /// exercises A everywhere (an administrator) may. A change of one webhook asks this only
    /// once the webhook is found in the actor's organisation, so that another organisation's
    /// webhook is not found for everyone, exactly as an id that names none.
    fn webhook_admin(&self, actor: &Actor) -> Result<()> {
        let admin = self.policies.iter().any(|p| {
            actor.roles().iter().any(|r| {
                p.roles
                    .get(r)
                    .is_some_and(|def| def.party == actor.party() && def.everywhere.has(Duty::A))
            })
        });
        if admin {
            return Ok(());
        }
        Err(Error::Forbidden(Box::new(mailplane_types::Refusal {
            activity: ActivityId::parse(WEBHOOK_ACTIVITY).map_err(Error::internal)?,
            profile: self.config.platform_profile.clone(),
            party: actor.party(),
            roles: actor.roles().to_vec(),
            exercisable: Letters::NONE,
            letters: vec![],
            reason: format!(
                "managing an organisation's webhooks needs an administrator role (one that exercises A everywhere); the roles {} do not",
                actor.roles().join(", ")
            ),
        })))
    }

    /// Registers a webhook for the actor's organisation. It receives the events written
    /// from now on. The answer holds the signing secret, shown this once.
    pub async fn webhook_create(
        &self,
        actor: &Actor,
        input: WebhookCreate,
    ) -> Result<WebhookCreated> {
        let org = self.webhook_owner(actor).await?;
        self.webhook_admin(actor)?;
        let mut p = Problems::default();
        check_url(
            &mut p,
            &input.url,
            self.webhook_settings.allow_private_addresses,
        );
        let secret = match input.secret {
            Some(s) => {
                if !(mailplane_types::limits::WEBHOOK_SECRET_MIN_BYTES
                    ..=mailplane_types::limits::WEBHOOK_SECRET_MAX_BYTES)
                    .contains(&s.len())
                    || !s.chars().all(|c| c.is_ascii_graphic())
                {
                    p.add("secret", "must be 32 to 256 printable ASCII characters");
                }
                s
            }
            None => {
                use rand::RngCore;
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                hex::encode(bytes)
            }
        };
        p.finish()?;
        let tx = self.store.begin().await?;
        let webhook = tx.webhook_insert(&org, input.url.trim(), &secret).await?;
        self.webhook_audit(tx, actor, webhook.id, AuditOutcome::Created)
            .await?;
        Ok(WebhookCreated { webhook, secret })
    }

    /// The actor's organisation's webhooks.
    pub async fn webhook_list(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<Webhook>> {
        let page = page_request(cursor, limit)?;
        let org = self.webhook_owner(actor).await?;
        self.store.webhook_list(&org, page).await
    }

    /// One of the actor's organisation's webhooks.
    pub async fn webhook_view(&self, actor: &Actor, id: WebhookId) -> Result<Webhook> {
        let org = self.webhook_owner(actor).await?;
        self.store
            .webhook_view(&org, id)
            .await?
            .ok_or_else(|| Error::not_found("webhook", id))
    }

    /// Removes a webhook with its deliveries and their log. The webhook is found in the
    /// actor's organisation first (else not found), and only then is the actor's role asked.
    pub async fn webhook_delete(&self, actor: &Actor, id: WebhookId) -> Result<()> {
        let org = self.webhook_owner(actor).await?;
        let tx = self.store.begin().await?;
        if !tx.webhook_exists(&org, id).await? {
            return Err(Error::not_found("webhook", id));
        }
        self.webhook_admin(actor)?;
        if !tx.webhook_delete(&org, id).await? {
            return Err(Error::not_found("webhook", id));
        }
        self.webhook_audit(tx, actor, id, AuditOutcome::Deleted)
            .await
    }

    /// Writes the audit row of a webhook's registration or removal, in its transaction, and
    /// commits: who subscribed an organisation's feed is evidence too. The secret is never
    /// part of it.
    async fn webhook_audit(
        &self,
        tx: mailplane_store::WriteTx,
        actor: &Actor,
        id: WebhookId,
        outcome: AuditOutcome,
    ) -> Result<()> {
        // No event: the feed is what webhooks deliver, and a webhook's own registration
        // is no news to deliver to it.
        let change = mailplane_store::audit::Change {
            actor: actor.subject().to_string(),
            party: actor.party(),
            org: actor.org().to_string(),
            roles: actor.roles().to_vec(),
            activity: WEBHOOK_ACTIVITY.to_string(),
            letters: Letters::one(Duty::A),
            tenant_id: match actor.org() {
                OrgId::Tenant(t) => Some(t),
                _ => None,
            },
            target: AuditTarget::Webhook,
            target_id: id.to_string(),
            outcome,
            request_id: None,
            audience: Vec::new(),
        };
        Self::record_and_commit(tx, change).await
    }

    /// The delivery log of a webhook: each event sent or to send, with every attempt.
    pub async fn webhook_delivery_list(
        &self,
        actor: &Actor,
        id: WebhookId,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<Delivery>> {
        let page = page_request(cursor, limit)?;
        self.webhook_view(actor, id).await?;
        self.store.delivery_list(id, page).await
    }

    /// Queues new events for every active webhook, then sends the deliveries that are due.
    pub async fn webhooks_pump(&self) -> Result<PumpReport> {
        let mut report = PumpReport::default();
        for (id, org, cursor) in self.store.webhooks_active().await? {
            if self.enqueue(id, &org, cursor).await? {
                report.queued_for += 1;
            }
        }
        let now = self.clock.now();
        let leased = self
            .store
            .deliveries_lease(now, now + self.webhook_settings.lease, SEND_BATCH)
            .await?;
        let mut sends = tokio::task::JoinSet::new();
        for d in leased {
            let client = self.http.clone();
            let timeout = self.webhook_settings.timeout;
            let allow_private = self.webhook_settings.allow_private_addresses;
            sends.spawn(async move {
                let result = send(&client, &d, timeout, allow_private).await;
                (d, result)
            });
        }
        while let Some(joined) = sends.join_next().await {
            let (d, (status, error, duration_ms)) = joined.map_err(Error::internal)?;
            let delivered = status.is_some_and(|s| (200..300).contains(&s));
            let now = self.clock.now();
            let retry_at = (!delivered && d.attempt < self.webhook_settings.max_attempts)
                .then(|| now + self.backoff(d.attempt));
            if delivered {
                report.delivered += 1;
            } else {
                report.failed_attempts += 1;
            }
            let error = if delivered {
                None
            } else {
                error.or_else(|| status.map(|s| format!("the receiver answered {s}")))
            };
            self.store
                .delivery_record(
                    &d,
                    AttemptResult {
                        status,
                        error,
                        duration_ms,
                        delivered,
                        retry_at,
                    },
                    now,
                )
                .await?;
        }
        Ok(report)
    }

    /// The wait after `attempt` failed: the base doubled per earlier failure, at most an hour.
    fn backoff(&self, attempt: i32) -> time::Duration {
        let factor = 1i64 << (attempt - 1).clamp(0, 20);
        let wait = self.webhook_settings.backoff * factor as f64;
        wait.min(time::Duration::hours(1))
    }

    /// Copies the events after `cursor` that `org` is owed into the webhook's queue.
    async fn enqueue(&self, webhook: WebhookId, org: &str, cursor: i64) -> Result<bool> {
        let org: OrgId = org
            .parse()
            .map_err(|e| Error::internal(format!("webhook {webhook}: {e}")))?;
        let owner = Actor::new("webhook", org, &[]);
        let scope = match org {
            OrgId::Provider => Scope::All,
            OrgId::Partner(p) => Scope::Partner(p),
            OrgId::Tenant(t) => Scope::Tenant(t),
        };
        let partner_profiles = self.profiles_naming_party(&owner, |_| true);
        let page = self
            .store
            .event_list(
                scope,
                owner.party(),
                &partner_profiles,
                Some(cursor),
                ENQUEUE_BATCH,
            )
            .await?;
        let Some(last) = page.items.last().map(|e| e.seq) else {
            return Ok(false);
        };
        self.store
            .deliveries_enqueue(webhook, cursor, last, &page.items, self.clock.now())
            .await
    }
}

/// One POST of a delivery: (status, error, milliseconds). The signature's timestamp is the
/// wall clock, since receivers check it against theirs.
async fn send(
    client: &reqwest::Client,
    d: &LeasedDelivery,
    timeout: std::time::Duration,
    allow_private: bool,
) -> (Option<i32>, Option<String>, i64) {
    let started = Instant::now();
    // An address written in the URL is not resolved, so the resolver cannot refuse it.
    if !allow_private
        && let Some(ip) = url_ip(&d.url)
        && let Some(special) = special_purpose::classify(ip)
    {
        return (None, Some(format!("{NOT_PUBLIC}: {ip}, {special}")), 0);
    }
    let body = match serde_json::to_vec(&d.event) {
        Ok(b) => b,
        Err(e) => return (None, Some(format!("the event does not serialise: {e}")), 0),
    };
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let result = client
        .post(&d.url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, sign(&d.secret, timestamp, &body))
        .header(EVENT_HEADER, d.event.id.to_string())
        .header(DELIVERY_HEADER, d.id.to_string())
        .body(body)
        .send()
        .await;
    let ms = started.elapsed().as_millis() as i64;
    match result {
        Ok(resp) => (Some(resp.status().as_u16() as i32), None, ms),
        Err(e) => (None, Some(describe(&e)), ms),
    }
}

fn describe(e: &reqwest::Error) -> String {
    // The resolver's refusal is the innermost cause; its text says which address and why.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if text.starts_with(NOT_PUBLIC) {
            return text;
        }
        source = cause.source();
    }
    if e.is_timeout() {
        "the receiver did not answer in time".into()
    } else if e.is_connect() {
        "the receiver could not be reached".into()
    } else {
        format!("the request failed: {e}")
    }
}

const NOT_PUBLIC: &str = "the receiver's address is not a public address";

/// The address a URL names literally, if it names one.
fn url_ip(raw: &str) -> Option<IpAddr> {
    let url = reqwest::Url::parse(raw).ok()?;
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Resolves receivers' names at every connection and hands the connector only the
/// addresses that are public unicast ([`special_purpose`]). The connector dials exactly the
/// addresses returned here and resolves nothing itself, so the address checked is the
/// address connected to: a name that later points inside (DNS rebinding) is refused at that
/// connection, and cannot swap the address between the check and the connection.
pub(crate) struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let public: Vec<std::net::SocketAddr> = found
                .into_iter()
                .filter(|a| match special_purpose::classify(a.ip()) {
                    None => true,
                    Some(special) => {
                        refused.get_or_insert((a.ip(), special));
                        false
                    }
                })
                .collect();
            if public.is_empty() {
                let why = match refused {
                    Some((ip, special)) => {
                        format!("{NOT_PUBLIC}: {host} resolves to {ip}, {special}")
                    }
                    None => format!("{NOT_PUBLIC}: {host} resolves to no address"),
                };
                return Err(why.into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client deliveries use: no redirects, and public addresses only unless allowed.
/// No proxy is used then either, since a proxy would resolve and dial the receiver's name
/// itself, out of reach of the check.
pub(crate) fn http_client(allow_private: bool) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mailplane/", env!("CARGO_PKG_VERSION")));
    if !allow_private {
        builder = builder
            .dns_resolver(std::sync::Arc::new(PublicOnly))
            .no_proxy();
    }
    builder
        .build()
        .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))
}

/// An `http` or `https` URL with a host and no user information, without white space or
/// control characters (which URL parsing would drop silently); a literal address must be
/// public unicast unless private addresses are allowed. A name is checked at each
/// connection instead, once resolved, since what it resolves to may change.
fn check_url(p: &mut Problems, raw: &str, allow_private: bool) {
    let raw = raw.trim();
    if !allow_private
        && let Some(ip) = url_ip(raw)
        && let Some(special) = special_purpose::classify(ip)
    {
        p.add(
            "url",
            format!("must point at a public unicast address; {ip} is not: {special}"),
        );
        return;
    }
    let ok = raw.len() <= mailplane_types::limits::URL_CHARS
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
        && reqwest::Url::parse(raw).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| !h.is_empty())
                && u.username().is_empty()
                && u.password().is_none()
        });
    if !ok {
        p.add(
            "url",
            "must be an http or https URL with a host, without user information, white space or control characters, at most 2000 characters",
        );
    }
}

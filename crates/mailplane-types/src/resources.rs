//! The resources Mailplane manages, as callers see them.
//!
//! The store converts its rows into these, the library returns them, and the HTTP layer
//! serialises them; none of them knows where it came from.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    AuditId, AuditOutcome, AuditTarget, DomainId, DomainName, EmailAddress, Letters, MailboxId,
    PartnerId, Party, TenantId,
};

/// A partner: a reseller or managed-services provider with customers of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Partner {
    /// The partner's id.
    pub id: PartnerId,
    /// Display name, unique on the platform.
    pub name: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The lifecycle state of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// In service.
    Active,
    /// Temporarily blocked by the provider; data is kept.
    Suspended,
    /// Out of service for good: its contract ended and its configuration was destroyed at
    /// end of service. The row remains as the tombstone; only end of service sets this.
    Terminated,
}

impl TenantStatus {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Terminated => "terminated",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<TenantStatus> {
        match s {
            "active" => Some(TenantStatus::Active),
            "suspended" => Some(TenantStatus::Suspended),
            "terminated" => Some(TenantStatus::Terminated),
            _ => None,
        }
    }
}

/// A tenant: one customer organisation, bound to a RACI profile version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Lifecycle state.
    pub status: TenantStatus,
    /// The RACI profile the tenant is bound to (`hosted-exchange`).
    pub profile: String,
    /// The profile version the tenant is bound to.
    pub profile_version: u32,
    /// The partner that resells to this tenant, if any.
    pub partner_id: Option<PartnerId>,
    /// The left label of the tenant's default domain, unique on the platform. Absent only
    /// on tenants created before the catalogue existed.
    pub slug: Option<String>,
    /// The catalogue region the tenant's data lives in. It changes only through an
    /// audited relocation (`service.location.choose`). Absent only on tenants created
    /// before the catalogue existed.
    pub region: Option<String>,
    /// The region stated as a preference when the tenant was created, if any.
    pub region_preference: Option<String>,
    /// The catalogue offer the tenant is on (`service.sizing.choose`): upgraded, never
    /// downgraded. Absent only on tenants created before the catalogue existed.
    pub offer: Option<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A domain of a tenant, unique across the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Domain {
    /// The domain's id.
    pub id: DomainId,
    /// The tenant that owns it.
    pub tenant_id: TenantId,
    /// The name in lower-case A-label form.
    pub name: DomainName,
    /// Whether this is the tenant's default domain (`<slug>.<provider mail domain>`), given
    /// at creation, verified by construction, and removed only with the tenant.
    pub default: bool,
    /// Whether the tenant proved it controls the domain; mailbox addresses, aliases and
    /// groups may use only verified domains.
    pub verified: bool,
    /// The token the customer publishes in the verification TXT record (absent on the
    /// default domain).
    pub verification_token: Option<String>,
    /// When the domain was verified.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub verified_at: Option<OffsetDateTime>,
    /// When its DNS records were last checked.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub checked_at: Option<OffsetDateTime>,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A tenant's licences of one SKU: a seat count, never below the SKU's minimum, and the
/// seats assigned to mailboxes, never above the seat count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    /// The subscription's id.
    pub id: uuid::Uuid,
    /// The tenant that holds it.
    pub tenant_id: TenantId,
    /// The catalogue SKU.
    pub sku: String,
    /// Seats paid for.
    pub seats: u32,
    /// The fewest seats the subscription may hold (from the SKU when it was taken).
    pub minimum_seats: u32,
    /// Seats assigned to mailboxes.
    pub assigned: u32,
    /// Seats free to assign.
    pub free: u32,
    /// When it was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its seats last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The state of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailboxStatus {
    /// Receives and sends mail.
    Enabled,
    /// Kept, but neither receives nor sends.
    Disabled,
}

impl MailboxStatus {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxStatus::Enabled => "enabled",
            MailboxStatus::Disabled => "disabled",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<MailboxStatus> {
        match s {
            "enabled" => Some(MailboxStatus::Enabled),
            "disabled" => Some(MailboxStatus::Disabled),
            _ => None,
        }
    }
}

/// A mailbox of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mailbox {
    /// The mailbox's id.
    pub id: MailboxId,
    /// The tenant that owns it.
    pub tenant_id: TenantId,
    /// The domain of its address (a domain of the same tenant).
    pub domain_id: DomainId,
    /// The full address, unique across the platform.
    pub address: EmailAddress,
    /// The name shown to correspondents.
    pub display_name: String,
    /// The storage quota in bytes.
    pub quota_bytes: i64,
    /// Whether it is in use.
    pub status: MailboxStatus,
    /// A person's mailbox, or a shared one (no licence, no sign-in of its own).
    pub kind: MailboxKind,
    /// Where mail to this mailbox is forwarded, if anywhere (used while migrating in).
    pub forward_to: Option<EmailAddress>,
    /// When its password was last set, if ever.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub password_set_at: Option<OffsetDateTime>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Whose mailbox it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailboxKind {
    /// A person's mailbox: it needs a licence when the offer says so, and signs in with a
    /// password.
    User,
    /// A mailbox several people use (a team's inbox): no licence and no sign-in of its own.
    Shared,
}

impl MailboxKind {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxKind::User => "user",
            MailboxKind::Shared => "shared",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<MailboxKind> {
        match s {
            "user" => Some(MailboxKind::User),
            "shared" => Some(MailboxKind::Shared),
            _ => None,
        }
    }
}

/// An extra address of a mailbox, on a verified domain of the same tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alias {
    /// The alias's id.
    pub id: uuid::Uuid,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The mailbox that receives its mail.
    pub mailbox_id: MailboxId,
    /// The domain of the address.
    pub domain_id: DomainId,
    /// The address, unique across mailboxes, aliases and groups on the platform.
    pub address: EmailAddress,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A distribution group: mail to its address goes to every member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    /// The group's id.
    pub id: uuid::Uuid,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The domain of the address.
    pub domain_id: DomainId,
    /// The address, unique across mailboxes, aliases and groups on the platform.
    pub address: EmailAddress,
    /// The name shown to correspondents.
    pub display_name: String,
    /// The members, mailboxes first.
    pub members: Vec<GroupMember>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it or its membership last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A member of a group: a mailbox of the tenant, or an external address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupMember {
    /// The mailbox, when the member is one of the tenant's.
    pub mailbox_id: Option<MailboxId>,
    /// The member's address (the mailbox's, or the external one).
    pub address: EmailAddress,
}

/// One row of the hash-chained audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// The row's id.
    pub id: AuditId,
    /// When the change was committed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The acting principal (the token's subject).
    pub actor: String,
    /// The actor's party.
    pub party: String,
    /// The actor's organisation (`provider`, `partner:<id>`, `tenant:<id>`).
    pub org: String,
    /// The actor's roles, comma-separated.
    pub roles: String,
    /// The activity that was carried out.
    pub activity: String,
    /// The letters the actor used.
    pub letters: Letters,
    /// The tenant the change belongs to, when it belongs to one.
    pub tenant_id: Option<TenantId>,
    /// The kind of object changed (`mailbox`).
    pub target_kind: AuditTarget,
    /// The id of the object changed.
    pub target_id: String,
    /// What happened (`created`, `updated`, `deleted`).
    pub outcome: AuditOutcome,
    /// The hash of the previous row (hex SHA-256; zeros for the first row).
    pub prev_hash: String,
    /// The hash of this row: SHA-256 over the previous hash and this row's content.
    pub hash: String,
    /// The request or proposal this change carried out, if any.
    pub request_id: Option<uuid::Uuid>,
}

/// A change a party is owed news of: it holds I for the activity, or it is accountable and
/// another party acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Position in the feed: the audit row of the same change.
    pub seq: i64,
    /// The event's id.
    pub id: uuid::Uuid,
    /// When the change was committed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The tenant the change belongs to, when it belongs to one.
    pub tenant_id: Option<TenantId>,
    /// The activity that was carried out.
    pub activity: String,
    /// Who acted (the subject).
    pub actor: String,
    /// The actor's party.
    pub actor_party: Party,
    /// The kind of object changed.
    pub target_kind: AuditTarget,
    /// The id of the object changed.
    pub target_id: String,
    /// What happened.
    pub outcome: AuditOutcome,
    /// The parties the event is addressed to.
    pub audience: Vec<Party>,
    /// The request or proposal this change carried out, or that the event is about.
    pub request_id: Option<uuid::Uuid>,
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for the responsible party (a request) or the accountable party (a proposal).
    Pending,
    /// A request carried out by the responsible party.
    Fulfilled,
    /// A request refused by the responsible party, with a reason.
    Declined,
    /// Withdrawn by the party that filed it.
    Cancelled,
    /// Not decided before its deadline.
    Expired,
    /// A proposal approved by the accountable party, and carried out.
    Approved,
    /// A proposal rejected by the accountable party, with a reason.
    Rejected,
}

impl RequestState {
    /// Every state, in the order of the documentation.
    pub const ALL: [RequestState; 7] = [
        RequestState::Pending,
        RequestState::Fulfilled,
        RequestState::Declined,
        RequestState::Cancelled,
        RequestState::Expired,
        RequestState::Approved,
        RequestState::Rejected,
    ];
}

/// Which way a request goes between the parties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// The accountable party asks the responsible party to carry an activity out
    /// (A without R). The responsible party fulfils or declines it.
    Request,
    /// The responsible party proposes to carry an activity out (R without A). The
    /// accountable party approves it, and the activity runs as the proposer, or rejects it.
    Proposal,
    /// The accountable party's activity waits for the consulted parties (C). It runs when
    /// every one consented, or at the deadline; an objection hands the decision back to the
    /// accountable party, who approves it or cancels it.
    Consultation,
}

/// A consulted party's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsultationAnswer {
    /// The consulted party.
    pub party: Party,
    /// Who answered (the subject).
    pub by: String,
    /// Whether it consents; `false` is an objection.
    pub consent: bool,
    /// Why, as given.
    pub reason: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl RequestKind {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Request => "request",
            RequestKind::Proposal => "proposal",
            RequestKind::Consultation => "consultation",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<RequestKind> {
        match s {
            "request" => Some(RequestKind::Request),
            "proposal" => Some(RequestKind::Proposal),
            "consultation" => Some(RequestKind::Consultation),
            _ => None,
        }
    }
}

impl RequestState {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Fulfilled => "fulfilled",
            RequestState::Declined => "declined",
            RequestState::Cancelled => "cancelled",
            RequestState::Expired => "expired",
            RequestState::Approved => "approved",
            RequestState::Rejected => "rejected",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<RequestState> {
        match s {
            "pending" => Some(RequestState::Pending),
            "fulfilled" => Some(RequestState::Fulfilled),
            "declined" => Some(RequestState::Declined),
            "cancelled" => Some(RequestState::Cancelled),
            "expired" => Some(RequestState::Expired),
            "approved" => Some(RequestState::Approved),
            "rejected" => Some(RequestState::Rejected),
            _ => None,
        }
    }
}

/// Work the accountable party asked of the responsible party (A without R): a ticket to the
/// provider, in the words of the hosted suites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Request {
    /// The request's id.
    pub id: uuid::Uuid,
    /// The tenant it concerns.
    pub tenant_id: TenantId,
    /// The activity asked for.
    pub activity: String,
    /// The profile the request was filed under; it keeps this binding.
    pub profile: String,
    /// The profile version the request was filed under.
    pub profile_version: u32,
    /// A request (the accountable party asks) or a proposal (the responsible party offers).
    pub kind: RequestKind,
    /// The operation that runs when the request is fulfilled or the proposal approved, such
    /// as `mailbox.create`; absent when the work is done outside Mailplane.
    pub operation: Option<String>,
    /// What exactly is asked: the operation's input, or free JSON such as a disclaimer's
    /// text.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
    /// A note from the requester.
    pub note: String,
    /// Where the request stands.
    pub state: RequestState,
    /// Who asked (the subject).
    pub requester: String,
    /// The requester's party (the accountable one).
    pub requester_party: Party,
    /// The requester's organisation.
    pub requester_org: String,
    /// The requester's roles; an approved proposal runs with them.
    pub requester_roles: Vec<String>,
    /// The parties that may carry it out (they hold R).
    pub responsible: Vec<Party>,
    /// The parties whose answer it waits for: the responsible parties of a request, the
    /// accountable party of a proposal.
    pub addressed_to: Vec<Party>,
    /// Who fulfilled, declined, approved, rejected or cancelled it.
    pub decided_by: Option<String>,
    /// Why it was declined or rejected, or the decider's note.
    pub reason: Option<String>,
    /// What the operation produced when it ran: `{"kind": "mailbox", "id": "..."}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<serde_json::Value>,
    /// The consulted parties' answers, for a consultation.
    pub answers: Vec<ConsultationAnswer>,
    /// When a pending request expires, from the deadline its profile sets.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was filed.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A customer-managed API credential: a public key the customer registered for the control
/// plane (`access.control-plane`). The customer keeps the private key and signs its own
/// tokens with it (EdDSA, `kid` = `credential:<id>`); Mailplane never sees a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credential {
    /// The credential's id; tokens name it as `kid` = `credential:<id>`.
    pub id: uuid::Uuid,
    /// The tenant it acts for.
    pub tenant_id: TenantId,
    /// A name for people, such as `provisioning-bot`.
    pub name: String,
    /// The customer roles a token signed with it may exercise.
    pub roles: Vec<String>,
    /// The Ed25519 public key, SPKI PEM.
    pub public_key: String,
    /// SHA-256 of the key's DER form, hex: to compare with the key pair on file.
    pub fingerprint: String,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When tokens signed with it stop being accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A URL an organisation registered to receive its events. The secret that signs the
/// deliveries is shown once, when the webhook is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    /// The webhook's id.
    pub id: uuid::Uuid,
    /// The organisation whose events it receives (`provider`, `partner:<id>`, `tenant:<id>`).
    pub org: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Whether deliveries are made.
    pub active: bool,
    /// When it was registered; it receives the events written after this.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; the next attempt is due at `next_attempt_at`.
    Pending,
    /// The receiver answered with a 2xx status.
    Delivered,
    /// Every attempt failed; kept in the log.
    Failed,
}

impl DeliveryState {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One try of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    /// 1 for the first try.
    pub attempt: i32,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i32>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
}

/// One event on its way to one webhook, with every attempt so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// The delivery's id (the `Mailplane-Delivery` header).
    pub id: uuid::Uuid,
    /// The webhook.
    pub webhook_id: uuid::Uuid,
    /// The event's position in the feed.
    pub event_seq: i64,
    /// The event's id (the `Mailplane-Event` header): receivers deduplicate on it.
    pub event_id: uuid::Uuid,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due, while pending.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// When the receiver accepted it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    /// Every attempt, oldest first.
    pub log: Vec<DeliveryAttempt>,
}

/// A webhook as registered, with its signing secret: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookCreated {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The HMAC-SHA256 key of the `Mailplane-Signature` header. Keep it: it is not shown
    /// again.
    pub secret: String,
}

/// How urgent an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Can wait.
    Low,
    /// The default.
    Normal,
    /// Users are hindered.
    High,
    /// The service is down for the tenant.
    Critical,
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// Reported, not looked at yet.
    Open,
    /// The provider qualified it (severity confirmed or changed).
    Qualified,
    /// The provider is working on it.
    InProgress,
    /// The provider says it is fixed.
    Resolved,
    /// Finished; no further change.
    Closed,
}

macro_rules! stored_enum {
    ($t:ty { $($v:ident => $s:literal),* }) => {
        impl $t {
            /// The stored string.
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }

            /// Parses the stored string.
            pub fn parse(s: &str) -> Option<$t> {
                match s { $($s => Some(<$t>::$v),)* _ => None }
            }
        }
    };
}
stored_enum!(Severity { Low => "low", Normal => "normal", High => "high", Critical => "critical" });
stored_enum!(TicketState { Open => "open", Qualified => "qualified", InProgress => "in_progress", Resolved => "resolved", Closed => "closed" });

/// One step in a ticket's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketUpdate {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (the subject).
    pub author: String,
    /// The author's party.
    pub party: Party,
    /// The state it moved to, if it moved.
    pub state: Option<TicketState>,
    /// The severity it was set to, if it was.
    pub severity: Option<Severity>,
    /// What was said.
    pub comment: String,
}

/// An incident reported on a tenant (`incident.report`) and handled by the provider
/// (`incident.handle`), with its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    /// The ticket's id.
    pub id: uuid::Uuid,
    /// The tenant.
    pub tenant_id: TenantId,
    /// A one-line summary.
    pub title: String,
    /// What happens, as reported.
    pub description: String,
    /// How urgent it is.
    pub severity: Severity,
    /// Where it stands.
    pub state: TicketState,
    /// Who reported it (the subject).
    pub opened_by: String,
    /// The reporter's party.
    pub opened_by_party: Party,
    /// When it was reported.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Every update, oldest first.
    pub updates: Vec<TicketUpdate>,
}

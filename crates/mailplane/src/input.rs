//! Inputs of the control plane's operations.
//!
//! They are plain data, deserialisable from JSON and documented for OpenAPI. They carry
//! strings as given; the control plane validates them and names the field and the rule of
//! every problem it finds, all at once.

use mailplane_types::limits;
use serde::{Deserialize, Serialize};

use mailplane_types::resources::{MailboxKind, MailboxStatus, TenantStatus};
use mailplane_types::text::{self, TextKind};
use mailplane_types::{DomainId, Error, FieldError, MailboxId, PartnerId};

/// Creates a partner.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PartnerCreate {
    /// Display name, 1 to 200 characters, unique on the platform.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
}

/// Renames a partner.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PartnerUpdate {
    /// The new display name, 1 to 200 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
}

/// Creates a tenant.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    /// Display name, 1 to 200 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    /// The RACI profile to bind the tenant to; the deployment's default when absent.
    #[serde(default)]
    pub profile: Option<String>,
    /// The reselling partner. A partner creating a tenant may omit it (its own id is used)
    /// and may not name another.
    #[serde(default)]
    pub partner_id: Option<PartnerId>,
    /// The left label of the default domain `<slug>.<provider mail domain>`: 2 to 40
    /// characters of a-z, 0-9 and `-`, unique on the platform. Derived from the name when
    /// absent.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 2,
            max_length = 40,
            pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
        )
    )]
    pub slug: Option<String>,
    /// The region the customer prefers (a catalogue region open to new tenants). The tenant
    /// is placed there; without a preference, in the catalogue's default region.
    #[serde(default)]
    pub region: Option<String>,
    /// The offer the customer ordered; the catalogue's entry offer when absent.
    #[serde(default)]
    pub offer: Option<String>,
    /// Licence seats to start with when the offer needs licences; the SKU's minimum when
    /// absent, and never fewer.
    #[serde(default)]
    pub seats: Option<u32>,
}

/// Moves a tenant to another offer: an upgrade only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OfferChoose {
    /// A catalogue offer open to new choices, larger than the current one.
    pub offer: String,
}

/// Moves a tenant's data to another region.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantRelocate {
    /// A catalogue region open to new tenants, other than the current one; or the tenant's
    /// own region, with a `backend` to move its mail to.
    pub region: String,
    /// A mail back end of `region` taking new tenants, named as in the deployment's mail
    /// hosts file: the tenant's mail moves there. Without it, a region with several back
    /// ends places the tenant on the one with the fewest tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
}

/// Takes a licence subscription for a tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SubscriptionCreate {
    /// A catalogue SKU open to new subscriptions.
    pub sku: String,
    /// Seats to start with; the SKU's minimum when absent, and never fewer.
    #[serde(default)]
    pub seats: Option<u32>,
}

/// Changes a subscription's seats: exactly one of `seats`, `add` and `remove`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SeatsChange {
    /// The new seat count.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000))]
    pub seats: Option<u32>,
    /// Seats to add, one or many.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000))]
    pub add: Option<u32>,
    /// Seats to remove, one or many.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000))]
    pub remove: Option<u32>,
}

/// Assigns a licence of the tenant's subscription to a SKU to a mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LicenceAssign {
    /// The SKU of a subscription the tenant holds.
    pub sku: String,
}

/// The most seats a subscription may hold.
pub const MAX_SEATS: u32 = limits::SEATS;

/// Changes a tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    /// A new display name, 1 to 200 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    /// `active` only: clears a `suspended` status stored before suspensions had reasons. A
    /// tenant is suspended by its suspensions (`suspension_place`), which set its status.
    #[serde(default)]
    pub status: Option<TenantStatus>,
}

/// Adds a domain to a tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DomainCreate {
    /// The domain name (RFC 1035, internationalised names per RFC 5890); stored in lower-case
    /// A-label form and unique across the platform.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 4, max_length = 253, example = "example.com")
    )]
    pub name: String,
}

/// Creates a mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MailboxCreate {
    /// The part before `@` (RFC 5322 dot-atom, at most 64 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$",
            example = "alice"
        )
    )]
    pub local_part: String,
    /// A domain of the same tenant.
    pub domain_id: DomainId,
    /// The name shown to correspondents, 1 to 200 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub display_name: String,
    /// The quota in bytes, from 1 byte to the offer's mailbox size; the offer's mailbox
    /// size when absent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1099511627776_i64))]
    pub quota_bytes: Option<i64>,
    /// `enabled` (the default) or `disabled`. When the offer needs licences, an enabled
    /// person's mailbox takes a free seat of the tenant's subscription at creation.
    #[serde(default)]
    pub status: Option<MailboxStatus>,
    /// `user` (the default) or `shared`: a shared mailbox needs no licence and has no
    /// password of its own.
    #[serde(default)]
    pub kind: Option<MailboxKind>,
}

/// Adds an alias (an extra address) to a mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AliasCreate {
    /// The part before `@` (RFC 5322 dot-atom, at most 64 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, example = "sales")
    )]
    pub local_part: String,
    /// A verified domain of the same tenant, or its default domain.
    pub domain_id: DomainId,
}

/// Creates a distribution group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupCreate {
    /// The part before `@` of the group's address.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, example = "team")
    )]
    pub local_part: String,
    /// A verified domain of the same tenant, or its default domain.
    pub domain_id: DomainId,
    /// The name shown to correspondents, 1 to 200 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub display_name: String,
}

/// A group member: exactly one of a mailbox of the tenant and an external address.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupMemberRef {
    /// A mailbox of the same tenant.
    #[serde(default)]
    pub mailbox_id: Option<MailboxId>,
    /// An external address (a mailbox elsewhere).
    #[serde(default)]
    pub address: Option<String>,
}

/// Sets a mailbox's forwarding target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Forwarding {
    /// Where mail to the mailbox goes (during a migration in: the new mailbox elsewhere, or
    /// back to the old system while content is copied).
    #[cfg_attr(feature = "openapi", schema(example = "alice@old-host.example"))]
    pub address: String,
}

/// Sets a mailbox's password. The password is checked against the tenant's policy, stored
/// only as an Argon2id hash, and never returned, logged, audited or sent in an event.
#[derive(Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordSet {
    /// The new password.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256, format = Password))]
    pub password: String,
}

impl std::fmt::Debug for PasswordSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordSet { password: <redacted> }")
    }
}

/// Changes a mailbox.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MailboxUpdate {
    /// A new display name, 1 to 200 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub display_name: Option<String>,
    /// A new quota in bytes, 1 byte to 1 TiB.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1099511627776_i64))]
    pub quota_bytes: Option<i64>,
    /// Enable or disable the mailbox.
    #[serde(default)]
    pub status: Option<MailboxStatus>,
}

/// The default mailbox quota: 50 GiB, the smaller of the usual offers.
pub const DEFAULT_QUOTA_BYTES: i64 = 50 * 1024 * 1024 * 1024;
/// The largest quota accepted: 1 TiB.
pub const MAX_QUOTA_BYTES: i64 = limits::QUOTA_BYTES;

/// Collects field problems so that one answer names all of them.
#[derive(Default)]
pub(crate) struct Problems(Vec<FieldError>);

impl Problems {
    pub(crate) fn add(&mut self, field: &str, rule: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_string(),
            rule: rule.into(),
        });
    }

    /// A trimmed display name of 1 to 200 characters, one line of safe text
    /// ([`mailplane_types::text`]).
    pub(crate) fn name(&mut self, field: &str, value: &str) -> String {
        let v = value.trim();
        if v.is_empty() {
            self.add(field, "must not be empty");
        } else if v.chars().count() > limits::NAME_CHARS {
            self.add(
                field,
                format!("must be at most {} characters", limits::NAME_CHARS),
            );
        } else if let Err(rule) = text::check(v, TextKind::Line) {
            self.add(field, rule);
        }
        v.to_string()
    }

    /// A trimmed multi-line free text (a note, a reason, a comment, a description) of at most
    /// `max` characters, safe prose ([`mailplane_types::text`]); an empty one is a problem
    /// when `required`.
    pub(crate) fn prose(&mut self, field: &str, value: &str, required: bool, max: usize) -> String {
        let v = value.trim();
        if v.is_empty() {
            if required {
                self.add(field, "must not be empty");
            }
        } else if v.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        } else if let Err(rule) = text::check(v, TextKind::Prose) {
            self.add(field, rule);
        }
        v.to_string()
    }

    pub(crate) fn quota(&mut self, field: &str, value: i64) -> i64 {
        if !(1..=MAX_QUOTA_BYTES).contains(&value) {
            self.add(
                field,
                format!("must be from 1 to {MAX_QUOTA_BYTES} bytes (1 TiB)"),
            );
        }
        value
    }

    /// Adds the field problems of an error; another kind of error becomes a problem of `input`.
    pub(crate) fn absorb(&mut self, e: Error) {
        match e {
            Error::Invalid(fields) => self.0.extend(fields),
            other => self.add("input", other.to_string()),
        }
    }

    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}

/// Files a request: asks the responsible party to carry out an activity the caller's party
/// is accountable for but not responsible for.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestCreate {
    /// The activity asked for, such as `disclaimer.all-users`.
    pub activity: String,
    /// What exactly is asked, as a JSON object of at most 16 KiB.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: Option<serde_json::Value>,
    /// A note for the responsible party, at most 2000 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub note: Option<String>,
}

/// Fulfils or declines a request; declining needs a reason.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestResolution {
    /// What was done, or why it is declined; 1 to 2000 characters, required to decline.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub reason: Option<String>,
}

/// Registers a customer-managed API credential: the public half of an Ed25519 key pair the
/// customer keeps. Tokens the customer signs with the private half act for the tenant with
/// at most these roles.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CredentialCreate {
    /// A name for people, 1 to 200 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    /// The Ed25519 public key in SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key: String,
    /// Customer roles of the tenant's profile that tokens may exercise, 1 to 16.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 16))]
    pub roles: Vec<String>,
    /// When the credential stops being accepted: at most 366 days ahead; 90 days when
    /// absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<time::OffsetDateTime>,
}

/// Registers a webhook for the caller's organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    /// Where to POST deliveries: an `http` or `https` URL without user information, at most
    /// 2000 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 2000, example = "https://hooks.example.com/mailplane")
    )]
    pub url: String,
    /// The signing secret, 32 to 256 printable ASCII characters; Mailplane generates one
    /// when absent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 32, max_length = 256))]
    pub secret: Option<String>,
}

/// Reports an incident on a tenant (`incident.report`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TicketCreate {
    /// A one-line summary, 1 to 200 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub title: String,
    /// What happens, 1 to 10000 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 10000))]
    pub description: String,
    /// How urgent it is; `normal` when absent.
    #[serde(default)]
    pub severity: Option<mailplane_types::resources::Severity>,
}

/// Adds information to a ticket, as its reporting side (`incident.report`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TicketComment {
    /// The information, 1 to 10000 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 10000))]
    pub comment: String,
}

/// Handles a ticket (`incident.handle`): qualifies it, reports progress, resolves or closes
/// it. Each step says what was done.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TicketHandle {
    /// The state it moves to: `qualified`, `in_progress`, `resolved` or `closed`.
    #[serde(default)]
    pub state: Option<mailplane_types::resources::TicketState>,
    /// A new severity, when the qualification changes it.
    #[serde(default)]
    pub severity: Option<mailplane_types::resources::Severity>,
    /// What was done or found, 1 to 10000 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 10000))]
    pub comment: String,
}

/// Binds a tenant to another profile (`profile.change`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantRebind {
    /// The id of a loaded tenant profile, such as `ticketed-suite`; the tenant binds to its
    /// current version.
    pub profile: String,
}

/// Sets the tenant's retention policy. Both values absent removes the policy (unless it is
/// locked).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetentionSet {
    /// Delete mail older than this many days (1 to 36500).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 36500))]
    pub delete_after_days: Option<u32>,
    /// Keep mail at least this many days (1 to 36500), never more than `delete_after_days`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 36500))]
    pub keep_at_least_days: Option<u32>,
    /// Lock the policy: from then on it is never shortened or removed, and stays locked.
    #[serde(default)]
    pub locked: bool,
}

/// Places a legal hold on a mailbox, or on the whole tenant when `mailbox_id` is absent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HoldPlace {
    /// The mailbox; absent for the whole tenant.
    #[serde(default)]
    pub mailbox_id: Option<MailboxId>,
    /// Why (a case, an order), 1 to 2000 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub reason: String,
}

/// Releases a legal hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HoldRelease {
    /// Why it is released, 1 to 2000 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub reason: String,
}

/// Suspends a tenant, or one of its mailboxes, for a reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SuspensionPlace {
    /// The mailbox; absent to suspend the whole tenant.
    #[serde(default)]
    pub mailbox_id: Option<MailboxId>,
    /// Why: `non_payment`, `abuse`, `legal`, `customer_request` or `other`.
    pub reason: mailplane_types::suspensions::SuspensionReason,
    /// What the parties should know, up to 2000 characters; required for `other`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub note: Option<String>,
}

/// Lifts a suspension.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SuspensionLift {
    /// Why it is lifted (the bill was paid), up to 2000 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub note: Option<String>,
}

/// Ends the tenant's contract for cause (`contract.end`), opening the export window.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContractEnd {
    /// Why: `non_payment`, `abuse`, `legal` or `other` (a customer ends its own contract with
    /// `termination_create`).
    pub reason: mailplane_types::suspensions::SuspensionReason,
    /// What the parties should know, up to 2000 characters; required for `other`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub note: Option<String>,
}

/// The longest retention: 100 years.
pub const MAX_RETENTION_DAYS: u32 = limits::RETENTION_DAYS;

/// Asks for an export of one mailbox, or of the whole tenant when `mailbox_id` is absent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExportCreate {
    /// The format: `mbox`, or `eml-zip` (a zip of .eml files with a manifest).
    pub format: mailplane_types::lifecycle::ExportFormat,
    /// The mailbox; absent for the whole tenant.
    #[serde(default)]
    pub mailbox_id: Option<MailboxId>,
}

/// The longest export window a termination may ask for, in days.
pub const MAX_EXPORT_WINDOW_DAYS: u32 = limits::EXPORT_WINDOW_DAYS;

/// Terminates the tenant's contract.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TerminationCreate {
    /// The export window in days, 0 to 365; absent: the profile's (`export_window`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 365))]
    pub export_window_days: Option<u32>,
}

// Checked inputs: what an operation's check parses its input into, so that its change uses
// typed values and never parses a string again.

/// `tenant.update`, checked: the trimmed name, if any, and the status.
pub(crate) struct TenantUpdateChecked {
    pub(crate) name: Option<String>,
    pub(crate) status: Option<mailplane_types::resources::TenantStatus>,
}

/// `mailbox.create`, checked. Its change reports the field problems together with those
/// that depend on the tenant, so the local part is `None` when it broke its rule.
pub(crate) struct MailboxCreateChecked {
    pub(crate) local_part: Option<mailplane_types::LocalPart>,
    pub(crate) domain_id: DomainId,
    pub(crate) display_name: String,
    pub(crate) quota_bytes: Option<i64>,
    pub(crate) status: Option<MailboxStatus>,
    pub(crate) kind: Option<MailboxKind>,
}

/// `alias.create`, checked.
pub(crate) struct AliasCreateChecked {
    pub(crate) mailbox_id: MailboxId,
    pub(crate) local_part: mailplane_types::LocalPart,
    pub(crate) domain_id: DomainId,
}

/// `group.create`, checked.
pub(crate) struct GroupCreateChecked {
    pub(crate) local_part: mailplane_types::LocalPart,
    pub(crate) domain_id: DomainId,
    pub(crate) display_name: String,
}

/// A group member, checked: a mailbox of the tenant or an external address.
pub(crate) enum Member {
    Mailbox(MailboxId),
    Address(mailplane_types::EmailAddress),
}

/// The bounds the input schemas announce are the limits the checks use.
#[cfg(all(test, feature = "openapi"))]
mod limits_test;

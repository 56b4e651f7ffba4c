//! The operation registry: every tenant-scoped change as data, so that the matrix can route
//! it instead of only allowing or refusing it.
//!
//! A call names an [`Operation`]. The control plane decides its activity for the caller and
//! then carries it out now (R and A), files it as a request to the responsible party
//! (A without R; provider automation fulfils it at once when the profile marks the activity
//! `automated`), or files it as a proposal to the accountable party (R without A). A filed
//! operation is stored as its name and its input, and replayed, against the tenant as it is
//! then, when it is fulfilled or approved. One function, [`ControlPlane::apply`], makes the
//! change in every case, so a replayed operation is checked exactly like a direct one.

use mailplane_policy::Profile;
use mailplane_store::{MailboxChanges, NewMailbox, NewTicket, TicketStep, WriteTx};
use mailplane_types::passwords::PasswordPolicy;
use mailplane_types::resources::{
    MailboxKind, MailboxStatus, Request, Severity, Tenant, TicketState,
};
use mailplane_types::{DomainId, DomainName, Error, LocalPart, MailboxId, Party, Result};
use serde::{Deserialize, Serialize};

use super::workflow::{Applied, Made};
use super::{ControlPlane, activity, catalogue, credentials, directory, lifecycle, retention};
// The workflow's helpers, at the paths other modules of the control plane use.
pub(super) use super::workflow::{add, consulted, unfiled};
use crate::Actor;
use crate::input::{
    AliasCreate, CredentialCreate, DomainCreate, ExportCreate, GroupCreate, GroupMemberRef,
    HoldPlace, HoldRelease, MAX_EXPORT_WINDOW_DAYS, MAX_SEATS, MailboxCreate, MailboxUpdate,
    OfferChoose, Problems, RetentionSet, SeatsChange, SubscriptionCreate, TenantRebind,
    TenantRelocate, TenantUpdate, TerminationCreate, TicketComment, TicketCreate, TicketHandle,
};

/// A change to a tenant, as data. The serialized form (`{"operation": "mailbox.create",
/// "input": {...}}`) is what a request or proposal stores and replays.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "operation", content = "input", deny_unknown_fields)]
pub enum Operation {
    /// Renames a tenant or changes its status (`service.deliver`).
    #[serde(rename = "tenant.update")]
    TenantUpdate(TenantUpdate),
    /// Binds a tenant to another profile (`profile.change`).
    #[serde(rename = "tenant.rebind")]
    TenantRebind(TenantRebind),
    /// Deletes a tenant that holds no domain (`configuration.destroy`).
    #[serde(rename = "tenant.delete")]
    TenantDelete {},
    /// Adds a domain (`directory.administer`).
    #[serde(rename = "domain.create")]
    DomainCreate(DomainCreate),
    /// Removes a domain no mailbox uses (`directory.administer`).
    #[serde(rename = "domain.delete")]
    DomainDelete {
        /// The domain.
        domain_id: DomainId,
    },
    /// Creates a mailbox (`directory.administer`).
    #[serde(rename = "mailbox.create")]
    MailboxCreate(MailboxCreate),
    /// Changes a mailbox (`directory.administer`).
    #[serde(rename = "mailbox.update")]
    MailboxUpdate {
        /// The mailbox.
        mailbox_id: MailboxId,
        /// The changes.
        changes: MailboxUpdate,
    },
    /// Deletes a mailbox (`directory.administer`).
    #[serde(rename = "mailbox.delete")]
    MailboxDelete {
        /// The mailbox.
        mailbox_id: MailboxId,
    },
    /// Registers a customer-managed API credential (`access.control-plane`).
    #[serde(rename = "credential.register")]
    CredentialRegister(CredentialCreate),
    /// Revokes an API credential (`access.control-plane`).
    #[serde(rename = "credential.revoke")]
    CredentialRevoke {
        /// The credential.
        credential_id: uuid::Uuid,
    },
    /// Adds an alias to a mailbox (`directory.administer`).
    #[serde(rename = "alias.create")]
    AliasCreate {
        /// The mailbox.
        mailbox_id: MailboxId,
        /// The alias.
        alias: AliasCreate,
    },
    /// Removes an alias (`directory.administer`).
    #[serde(rename = "alias.delete")]
    AliasDelete {
        /// The alias.
        alias_id: uuid::Uuid,
    },
    /// Creates a distribution group (`directory.administer`).
    #[serde(rename = "group.create")]
    GroupCreate(GroupCreate),
    /// Deletes a group (`directory.administer`).
    #[serde(rename = "group.delete")]
    GroupDelete {
        /// The group.
        group_id: uuid::Uuid,
    },
    /// Adds a member to a group (`directory.administer`).
    #[serde(rename = "group.member.add")]
    GroupMemberAdd {
        /// The group.
        group_id: uuid::Uuid,
        /// The member.
        member: GroupMemberRef,
    },
    /// Removes a member from a group (`directory.administer`).
    #[serde(rename = "group.member.remove")]
    GroupMemberRemove {
        /// The group.
        group_id: uuid::Uuid,
        /// The member.
        member: GroupMemberRef,
    },
    /// Sets or clears a mailbox's forwarding target (`directory.administer`).
    #[serde(rename = "mailbox.forward")]
    MailboxForward {
        /// The mailbox.
        mailbox_id: MailboxId,
        /// The target, or none to stop forwarding.
        forward_to: Option<String>,
    },
    /// Sets the tenant's retention policy (`retention.manage`).
    #[serde(rename = "retention.set")]
    RetentionSet(RetentionSet),
    /// Places a legal hold (`legal-hold.manage`).
    #[serde(rename = "hold.place")]
    HoldPlace(HoldPlace),
    /// Releases a legal hold (`legal-hold.manage`).
    #[serde(rename = "hold.release")]
    HoldRelease {
        /// The hold.
        hold_id: uuid::Uuid,
        /// Why.
        release: HoldRelease,
    },
    /// Sets the tenant's password policy (`service.customize`).
    #[serde(rename = "tenant.password_policy")]
    PasswordPolicySet(PasswordPolicy),
    /// Moves the tenant to a larger offer (`service.sizing.choose`).
    #[serde(rename = "tenant.offer")]
    OfferChoose(OfferChoose),
    /// Moves the tenant's data to another region (`service.location.choose`).
    #[serde(rename = "tenant.relocate")]
    TenantRelocate(TenantRelocate),
    /// Takes a licence subscription (`licenses.provide`).
    #[serde(rename = "subscription.create")]
    SubscriptionCreate(SubscriptionCreate),
    /// Adds or removes seats (`service.customize`).
    #[serde(rename = "subscription.seats")]
    SubscriptionSeats {
        /// The subscription.
        subscription_id: uuid::Uuid,
        /// The change.
        change: SeatsChange,
    },
    /// Assigns a licence to a mailbox (`directory.administer`).
    #[serde(rename = "licence.assign")]
    LicenceAssign {
        /// The mailbox.
        mailbox_id: MailboxId,
        /// The SKU.
        sku: String,
    },
    /// Takes a licence back from a mailbox (`directory.administer`).
    #[serde(rename = "licence.unassign")]
    LicenceUnassign {
        /// The mailbox.
        mailbox_id: MailboxId,
        /// The SKU.
        sku: String,
    },
    /// Asks for an export of a mailbox or the whole tenant (`export.pst.deliver`).
    #[serde(rename = "export.create")]
    ExportCreate(ExportCreate),
    /// Terminates the tenant's contract, opening the export window (`contract.terminate`).
    #[serde(rename = "tenant.terminate")]
    TenantTerminate(TerminationCreate),
    /// Cancels the termination during the export window (`contract.terminate`).
    #[serde(rename = "termination.cancel")]
    TerminationCancel {},
    /// Reports an incident (`incident.report`).
    #[serde(rename = "ticket.open")]
    TicketOpen(TicketCreate),
    /// Adds information to a ticket as its reporting side (`incident.report`).
    #[serde(rename = "ticket.comment")]
    TicketComment {
        /// The ticket.
        ticket_id: uuid::Uuid,
        /// The information.
        comment: TicketComment,
    },
    /// Qualifies, updates, resolves or closes a ticket (`incident.handle`).
    #[serde(rename = "ticket.handle")]
    TicketHandle {
        /// The ticket.
        ticket_id: uuid::Uuid,
        /// The step.
        step: TicketHandle,
    },
}

impl Operation {
    /// The stable name stored on requests (`mailbox.create`).
    pub fn name(&self) -> &'static str {
        match self {
            Operation::TenantUpdate(_) => "tenant.update",
            Operation::TenantRebind(_) => "tenant.rebind",
            Operation::TenantDelete {} => "tenant.delete",
            Operation::DomainCreate(_) => "domain.create",
            Operation::DomainDelete { .. } => "domain.delete",
            Operation::MailboxCreate(_) => "mailbox.create",
            Operation::MailboxUpdate { .. } => "mailbox.update",
            Operation::MailboxDelete { .. } => "mailbox.delete",
            Operation::CredentialRegister(_) => "credential.register",
            Operation::CredentialRevoke { .. } => "credential.revoke",
            Operation::AliasCreate { .. } => "alias.create",
            Operation::AliasDelete { .. } => "alias.delete",
            Operation::GroupCreate(_) => "group.create",
            Operation::GroupDelete { .. } => "group.delete",
            Operation::GroupMemberAdd { .. } => "group.member.add",
            Operation::GroupMemberRemove { .. } => "group.member.remove",
            Operation::MailboxForward { .. } => "mailbox.forward",
            Operation::PasswordPolicySet(_) => "tenant.password_policy",
            Operation::RetentionSet(_) => "retention.set",
            Operation::HoldPlace(_) => "hold.place",
            Operation::HoldRelease { .. } => "hold.release",
            Operation::OfferChoose(_) => "tenant.offer",
            Operation::TenantRelocate(_) => "tenant.relocate",
            Operation::SubscriptionCreate(_) => "subscription.create",
            Operation::SubscriptionSeats { .. } => "subscription.seats",
            Operation::LicenceAssign { .. } => "licence.assign",
            Operation::LicenceUnassign { .. } => "licence.unassign",
            Operation::ExportCreate(_) => "export.create",
            Operation::TenantTerminate(_) => "tenant.terminate",
            Operation::TerminationCancel {} => "termination.cancel",
            Operation::TicketOpen(_) => "ticket.open",
            Operation::TicketComment { .. } => "ticket.comment",
            Operation::TicketHandle { .. } => "ticket.handle",
        }
    }

    /// The activity of the profile that governs the operation.
    pub fn activity(&self) -> &'static str {
        match self {
            Operation::TenantUpdate(_) => activity::TENANT_DELIVER,
            Operation::TenantRebind(_) => activity::PROFILE_CHANGE,
            Operation::TenantDelete {} => activity::TENANT_DESTROY,
            Operation::DomainCreate(_)
            | Operation::DomainDelete { .. }
            | Operation::MailboxCreate(_)
            | Operation::MailboxUpdate { .. }
            | Operation::MailboxDelete { .. }
            | Operation::LicenceAssign { .. }
            | Operation::LicenceUnassign { .. }
            | Operation::AliasCreate { .. }
            | Operation::AliasDelete { .. }
            | Operation::GroupCreate(_)
            | Operation::GroupDelete { .. }
            | Operation::GroupMemberAdd { .. }
            | Operation::GroupMemberRemove { .. }
            | Operation::MailboxForward { .. } => activity::DIRECTORY,
            Operation::OfferChoose(_) => activity::SIZING,
            Operation::RetentionSet(_) => activity::RETENTION,
            Operation::HoldPlace(_) | Operation::HoldRelease { .. } => activity::HOLDS,
            Operation::TenantRelocate(_) => activity::LOCATION,
            Operation::SubscriptionCreate(_) => activity::LICENCES,
            Operation::SubscriptionSeats { .. } | Operation::PasswordPolicySet(_) => {
                activity::CUSTOMIZE
            }
            Operation::CredentialRegister(_) | Operation::CredentialRevoke { .. } => {
                activity::CONTROL_PLANE_ACCESS
            }
            Operation::ExportCreate(_) => activity::EXPORT,
            Operation::TenantTerminate(_) | Operation::TerminationCancel {} => activity::TERMINATE,
            Operation::TicketOpen(_) | Operation::TicketComment { .. } => activity::INCIDENT_REPORT,
            Operation::TicketHandle { .. } => activity::INCIDENT_HANDLE,
        }
    }

    /// The input as stored in a request's payload.
    pub(super) fn input(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.remove("input").unwrap_or_else(|| serde_json::json!({}))
            }
            _ => serde_json::json!({}),
        }
    }

    /// The operation a stored request carries.
    fn stored(request: &Request) -> Result<Option<Operation>> {
        let Some(name) = &request.operation else {
            return Ok(None);
        };
        serde_json::from_value(serde_json::json!({
            "operation": name,
            "input": request.payload,
        }))
        .map(Some)
        .map_err(|e| {
            Error::internal(format!(
                "request {} holds an operation `{name}` that does not parse: {e}",
                request.id
            ))
        })
    }

    /// Checks the input values that do not depend on the tenant's data, naming every field
    /// that breaks a rule, so that a request or proposal is never filed with a bad input.
    pub(super) fn check(&self, profile: &Profile, now: time::OffsetDateTime) -> Result<()> {
        let mut p = Problems::default();
        match self {
            Operation::TenantUpdate(input) => {
                if let Some(n) = &input.name {
                    p.name("name", n);
                }
                if input.name.is_none() && input.status.is_none() {
                    p.add("name", "at least one of `name` and `status` must be given");
                }
                if input.status == Some(mailplane_types::resources::TenantStatus::Terminated) {
                    p.add(
                        "status",
                        "must be `active` or `suspended`: a tenant is terminated by ending its contract (`termination_create`)",
                    );
                }
            }
            Operation::DomainCreate(input) => {
                if let Err(rule) = DomainName::parse(&input.name) {
                    p.add("name", rule);
                }
            }
            Operation::MailboxCreate(input) => {
                if let Err(rule) = LocalPart::parse(&input.local_part) {
                    p.add("local_part", rule);
                }
                p.name("display_name", &input.display_name);
                if let Some(q) = input.quota_bytes {
                    p.quota("quota_bytes", q);
                }
            }
            Operation::AliasCreate { alias, .. } => {
                if let Err(rule) = LocalPart::parse(&alias.local_part) {
                    p.add("local_part", rule);
                }
            }
            Operation::GroupCreate(input) => {
                if let Err(rule) = LocalPart::parse(&input.local_part) {
                    p.add("local_part", rule);
                }
                p.name("display_name", &input.display_name);
            }
            Operation::GroupMemberAdd { member, .. }
            | Operation::GroupMemberRemove { member, .. } => {
                directory::member_rule(&mut p, member);
            }
            Operation::MailboxForward { forward_to, .. } => {
                if let Some(a) = forward_to
                    && let Err(rule) = mailplane_types::EmailAddress::parse(a)
                {
                    p.add("address", rule);
                }
            }
            Operation::AliasDelete { .. } | Operation::GroupDelete { .. } => {}
            Operation::PasswordPolicySet(policy) => {
                for (field, rule) in policy.problems() {
                    p.add(field, rule);
                }
            }
            Operation::RetentionSet(input) => retention::retention_rules(&mut p, input),
            Operation::HoldPlace(input) => retention::reason_rule(&mut p, &input.reason),
            Operation::HoldRelease { release, .. } => {
                retention::reason_rule(&mut p, &release.reason)
            }
            Operation::OfferChoose(input) => {
                if input.offer.trim().is_empty() {
                    p.add("offer", "must name a catalogue offer");
                }
            }
            Operation::TenantRelocate(input) => {
                if input.region.trim().is_empty() {
                    p.add("region", "must name a catalogue region");
                }
            }
            Operation::SubscriptionCreate(input) => {
                if input.sku.trim().is_empty() {
                    p.add("sku", "must name a catalogue SKU");
                }
            }
            Operation::SubscriptionSeats { change, .. } => {
                let given = [change.seats, change.add, change.remove];
                if given.iter().filter(|v| v.is_some()).count() != 1 {
                    p.add("seats", "give exactly one of `seats`, `add` and `remove`");
                }
                for (field, v) in [
                    ("seats", change.seats),
                    ("add", change.add),
                    ("remove", change.remove),
                ] {
                    if let Some(n) = v
                        && !(1..=MAX_SEATS).contains(&n)
                    {
                        p.add(field, format!("must be from 1 to {MAX_SEATS}"));
                    }
                }
            }
            Operation::LicenceAssign { sku, .. } | Operation::LicenceUnassign { sku, .. } => {
                if sku.trim().is_empty() {
                    p.add("sku", "must name a catalogue SKU");
                }
            }
            Operation::MailboxUpdate { changes, .. } => {
                if let Some(n) = &changes.display_name {
                    p.name("display_name", n);
                }
                if let Some(q) = changes.quota_bytes {
                    p.quota("quota_bytes", q);
                }
                if changes.display_name.is_none()
                    && changes.quota_bytes.is_none()
                    && changes.status.is_none()
                {
                    p.add(
                        "display_name",
                        "at least one of `display_name`, `quota_bytes` and `status` must be given",
                    );
                }
            }
            Operation::CredentialRegister(input) => {
                p.name("name", &input.name);
                credentials::check_public_key(&mut p, &input.public_key);
                if input.roles.is_empty() || input.roles.len() > 16 {
                    p.add("roles", "must name 1 to 16 roles");
                }
                credentials::check_roles(&mut p, profile, &input.roles);
                if let Some(at) = input.expires_at {
                    credentials::check_expiry(&mut p, at, now);
                }
            }
            Operation::TenantRebind(input) => {
                if input.profile.trim().is_empty() {
                    p.add("profile", "must name a profile");
                }
            }
            Operation::TicketOpen(input) => {
                p.name("title", &input.title);
                text(&mut p, "description", &input.description);
            }
            Operation::TicketComment { comment, .. } => {
                text(&mut p, "comment", &comment.comment);
            }
            Operation::TicketHandle { step, .. } => {
                text(&mut p, "comment", &step.comment);
                if step.state == Some(TicketState::Open) {
                    p.add(
                        "state",
                        "must be qualified, in_progress, resolved or closed: a ticket is never reopened",
                    );
                }
            }
            Operation::TenantTerminate(input) => {
                if let Some(d) = input.export_window_days
                    && d > MAX_EXPORT_WINDOW_DAYS
                {
                    p.add(
                        "export_window_days",
                        format!("must be from 0 to {MAX_EXPORT_WINDOW_DAYS}"),
                    );
                }
            }
            Operation::ExportCreate(_) | Operation::TerminationCancel {} => {}
            Operation::TenantDelete {}
            | Operation::DomainDelete { .. }
            | Operation::MailboxDelete { .. }
            | Operation::CredentialRevoke { .. } => {}
        }
        p.finish()
    }
}

impl ControlPlane {
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

    /// The replayable operation of a request, if it carries one.
    pub(super) fn operation_of(request: &Request) -> Result<Option<Operation>> {
        Operation::stored(request)
    }

    /// Makes the change an operation describes. No authorization here: every caller has
    /// decided first. Checks that depend on the tenant's data (the domain exists, the name
    /// is free) happen here, so a replayed operation meets the tenant as it is now.
    pub(super) async fn apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
        op: &Operation,
    ) -> Result<Made> {
        if !matches!(op, Operation::MailboxCreate(_)) {
            op.check(self.profile_of(tenant)?, self.clock.now())?;
        }
        // Once the export window closes, the tenant's configuration is frozen for its
        // destruction.
        lifecycle::not_destroyed(tx, tenant.id, op, self.clock.now()).await?;
        let tid = tenant.id;
        let made = |applied, target_kind, target_id: String, outcome| Made {
            applied,
            target_kind,
            target_id,
            outcome,
        };
        Ok(match op {
            Operation::TenantUpdate(input) => {
                let name = input.name.as_deref().map(str::trim);
                let t = tx.tenant_update(tid, name, input.status).await?;
                made(Applied::Tenant(t), "tenant", tid.to_string(), "updated")
            }
            Operation::TenantRebind(input) => {
                let target = self.rebind_target(tenant, input)?;
                let t = tx.tenant_rebind(tid, &target.id, target.version).await?;
                made(Applied::Tenant(t), "tenant", tid.to_string(), "rebound")
            }
            Operation::TenantDelete {} => {
                // A legal hold outranks the deletion, whatever else is left.
                self.not_held(tx, tid, None, "deleting the tenant").await?;
                tx.tenant_delete(tid).await?;
                made(Applied::Deleted, "tenant", tid.to_string(), "deleted")
            }
            Operation::AliasCreate { mailbox_id, alias } => {
                let a = self.apply_alias_create(tx, tid, *mailbox_id, alias).await?;
                let id = a.id.to_string();
                made(Applied::Alias(a), "alias", id, "created")
            }
            Operation::AliasDelete { alias_id } => {
                tx.alias_delete(tid, *alias_id).await?;
                made(Applied::Deleted, "alias", alias_id.to_string(), "deleted")
            }
            Operation::GroupCreate(input) => {
                let g = self.apply_group_create(tx, tid, input).await?;
                let id = g.id.to_string();
                made(Applied::Group(g), "group", id, "created")
            }
            Operation::GroupDelete { group_id } => {
                tx.group_delete(tid, *group_id).await?;
                made(Applied::Deleted, "group", group_id.to_string(), "deleted")
            }
            Operation::GroupMemberAdd { group_id, member } => {
                let g = self
                    .apply_group_member(tx, tid, *group_id, member, true)
                    .await?;
                made(
                    Applied::Group(g),
                    "group",
                    group_id.to_string(),
                    "member_added",
                )
            }
            Operation::GroupMemberRemove { group_id, member } => {
                let g = self
                    .apply_group_member(tx, tid, *group_id, member, false)
                    .await?;
                made(
                    Applied::Group(g),
                    "group",
                    group_id.to_string(),
                    "member_removed",
                )
            }
            Operation::MailboxForward {
                mailbox_id,
                forward_to,
            } => {
                let m = self
                    .apply_forward(tx, tid, *mailbox_id, forward_to.as_deref())
                    .await?;
                let outcome = if forward_to.is_some() {
                    "forwarding_set"
                } else {
                    "forwarding_cleared"
                };
                made(
                    Applied::Mailbox(m),
                    "mailbox",
                    mailbox_id.to_string(),
                    outcome,
                )
            }
            Operation::RetentionSet(input) => {
                let r = self.apply_retention(tx, tenant, input).await?;
                made(Applied::Retention(r), "retention", tid.to_string(), "set")
            }
            Operation::HoldPlace(input) => {
                let hold = self.apply_hold_place(tx, actor, tid, input).await?;
                let id = hold.id.to_string();
                made(Applied::Hold(hold), "legal_hold", id, "placed")
            }
            Operation::HoldRelease { hold_id, release } => {
                let hold = tx
                    .hold_release(
                        tid,
                        *hold_id,
                        actor.subject(),
                        release.reason.trim(),
                        self.clock.now(),
                    )
                    .await?;
                // A termination blocked by the hold checks again at once.
                if let Some(t) = tx.termination_current(tid).await? {
                    tx.job_wake(
                        super::jobs::TERMINATION_JOB,
                        t.termination.id,
                        self.clock.now(),
                    )
                    .await?;
                }
                made(
                    Applied::Hold(hold),
                    "legal_hold",
                    hold_id.to_string(),
                    "released",
                )
            }
            Operation::PasswordPolicySet(policy) => {
                let json = serde_json::to_string(policy)
                    .map_err(|e| Error::internal(format!("a password policy: {e}")))?;
                tx.password_policy_set(tid, &json).await?;
                made(
                    Applied::PasswordPolicy(policy.clone()),
                    "tenant",
                    tid.to_string(),
                    "password_policy_set",
                )
            }
            Operation::OfferChoose(input) => {
                let offer = self.offer_change(tenant, input)?;
                let t = tx.tenant_set_offer(tid, &offer.id).await?;
                made(
                    Applied::Tenant(t),
                    "tenant",
                    tid.to_string(),
                    "offer_changed",
                )
            }
            Operation::TenantRelocate(input) => {
                let region = self.relocation(tenant, input)?;
                let t = tx.tenant_relocate(tid, &region).await?;
                made(Applied::Tenant(t), "tenant", tid.to_string(), "relocated")
            }
            Operation::SubscriptionCreate(input) => {
                let s = self.subscribe(tx, tid, input).await?;
                let id = s.id.to_string();
                made(Applied::Subscription(s), "subscription", id, "created")
            }
            Operation::SubscriptionSeats {
                subscription_id,
                change,
            } => {
                let s = self.change_seats(tx, tid, *subscription_id, change).await?;
                let id = s.id.to_string();
                made(
                    Applied::Subscription(s),
                    "subscription",
                    id,
                    "seats_changed",
                )
            }
            Operation::LicenceAssign { mailbox_id, sku } => {
                let s = self.assign_licence(tx, tid, *mailbox_id, sku).await?;
                made(
                    Applied::Subscription(s),
                    "mailbox",
                    mailbox_id.to_string(),
                    "licence_assigned",
                )
            }
            Operation::LicenceUnassign { mailbox_id, sku } => {
                let s = self.unassign_licence(tx, tenant, *mailbox_id, sku).await?;
                made(
                    Applied::Subscription(s),
                    "mailbox",
                    mailbox_id.to_string(),
                    "licence_unassigned",
                )
            }
            Operation::DomainCreate(input) => {
                let name =
                    DomainName::parse(&input.name).map_err(|rule| Error::invalid("name", rule))?;
                self.not_the_providers(&name)?;
                let d = tx.domain_insert(tid, &name, &verification_token()).await?;
                let id = d.id.to_string();
                made(Applied::Domain(d), "domain", id, "created")
            }
            Operation::DomainDelete { domain_id } => {
                let d = tx
                    .domain_get(tid, *domain_id)
                    .await?
                    .ok_or_else(|| Error::not_found("domain", domain_id))?;
                if d.default {
                    return Err(Error::conflict(
                        None,
                        format!(
                            "{} is the tenant's default domain: it goes only with the tenant",
                            d.name
                        ),
                    ));
                }
                tx.domain_delete(tid, *domain_id).await?;
                made(Applied::Deleted, "domain", domain_id.to_string(), "deleted")
            }
            Operation::MailboxCreate(input) => {
                // Every field problem at once, the domain's existence included.
                let mut p = Problems::default();
                let local_part = LocalPart::parse(&input.local_part)
                    .map_err(|rule| p.add("local_part", rule))
                    .ok();
                let display_name = p.name("display_name", &input.display_name);
                let (default_quota, _) = catalogue::quota_bounds(self.catalogue(), tenant);
                let quota_bytes =
                    p.quota("quota_bytes", input.quota_bytes.unwrap_or(default_quota));
                catalogue::offer_quota(
                    &mut p,
                    "quota_bytes",
                    self.catalogue(),
                    tenant,
                    quota_bytes,
                );
                let domain = directory::address_domain(tx, &mut p, tid, input.domain_id).await?;
                p.finish()?;
                let (Some(local_part), Some(domain)) = (local_part, domain) else {
                    unreachable!("problems were reported above")
                };
                let m = tx
                    .mailbox_insert(NewMailbox {
                        tenant_id: tid,
                        domain,
                        local_part,
                        display_name,
                        quota_bytes,
                        status: input.status.unwrap_or(MailboxStatus::Enabled),
                        kind: input.kind.unwrap_or(MailboxKind::User),
                    })
                    .await?;
                if m.status == MailboxStatus::Enabled && m.kind == MailboxKind::User {
                    self.license_for_enabling(tx, tenant, m.id).await?;
                }
                let id = m.id.to_string();
                made(Applied::Mailbox(m), "mailbox", id, "created")
            }
            Operation::MailboxUpdate {
                mailbox_id,
                changes,
            } => {
                tx.mailbox_get(tid, *mailbox_id)
                    .await?
                    .ok_or_else(|| Error::not_found("mailbox", mailbox_id))?;
                if let Some(q) = changes.quota_bytes {
                    let mut p = Problems::default();
                    catalogue::offer_quota(&mut p, "quota_bytes", self.catalogue(), tenant, q);
                    p.finish()?;
                }
                if changes.status == Some(MailboxStatus::Enabled) {
                    self.license_for_enabling(tx, tenant, *mailbox_id).await?;
                }
                let m = tx
                    .mailbox_update(
                        *mailbox_id,
                        MailboxChanges {
                            display_name: changes
                                .display_name
                                .as_deref()
                                .map(|n| n.trim().to_string()),
                            quota_bytes: changes.quota_bytes,
                            status: changes.status,
                        },
                    )
                    .await?;
                made(
                    Applied::Mailbox(m),
                    "mailbox",
                    mailbox_id.to_string(),
                    "updated",
                )
            }
            Operation::MailboxDelete { mailbox_id } => {
                tx.mailbox_get(tid, *mailbox_id)
                    .await?
                    .ok_or_else(|| Error::not_found("mailbox", mailbox_id))?;
                self.not_held(tx, tid, Some(*mailbox_id), "deleting the mailbox")
                    .await?;
                tx.mailbox_delete(tid, *mailbox_id).await?;
                // Its messages go from the data plane by a durable job, committed with the
                // deletion, so that no path (direct, approved, fulfilled) and no crash
                // leaves them behind.
                let now = self.clock.now();
                tx.job_insert(
                    super::jobs::MAILBOX_JOB,
                    mailbox_id.uuid(),
                    Some(tid),
                    "destroy",
                    now,
                    &serde_json::json!({}),
                    now,
                )
                .await?;
                made(
                    Applied::Deleted,
                    "mailbox",
                    mailbox_id.to_string(),
                    "deleted",
                )
            }
            Operation::CredentialRegister(input) => {
                let profile = self.profile_of(tenant)?;
                let c = tx
                    .credential_insert(credentials::new_credential(
                        profile,
                        tid,
                        input,
                        self.clock.now(),
                    )?)
                    .await?;
                let id = c.id.to_string();
                made(Applied::Credential(c), "credential", id, "created")
            }
            Operation::ExportCreate(input) => {
                let e = self.apply_export_create(tx, actor, tenant, input).await?;
                let id = e.id.to_string();
                made(Applied::Export(e), "export", id, "created")
            }
            Operation::TenantTerminate(input) => {
                let t = self.apply_terminate(tx, actor, tenant, input).await?;
                let id = t.id.to_string();
                made(Applied::Termination(t), "termination", id, "terminated")
            }
            Operation::TerminationCancel {} => {
                let t = self.apply_termination_cancel(tx, actor, tenant).await?;
                let id = t.id.to_string();
                made(Applied::Termination(t), "termination", id, "cancelled")
            }
            Operation::TicketOpen(input) => {
                let t = tx
                    .ticket_insert(NewTicket {
                        tenant_id: tid,
                        title: input.title.trim().to_string(),
                        description: input.description.trim().to_string(),
                        severity: input.severity.unwrap_or(Severity::Normal),
                        opened_by: (actor.subject().to_string(), actor.party()),
                    })
                    .await?;
                let id = t.id.to_string();
                made(Applied::Ticket(t), "ticket", id, "opened")
            }
            Operation::TicketComment { ticket_id, comment } => {
                let step = TicketStep {
                    author: (actor.subject().to_string(), actor.party()),
                    state: None,
                    severity: None,
                    comment: comment.comment.trim().to_string(),
                };
                let t = tx.ticket_step(tid, *ticket_id, step).await?;
                made(
                    Applied::Ticket(t),
                    "ticket",
                    ticket_id.to_string(),
                    "commented",
                )
            }
            Operation::TicketHandle { ticket_id, step } => {
                let outcome = match step.state {
                    Some(TicketState::Qualified) => "qualified",
                    Some(TicketState::InProgress) => "in_progress",
                    Some(TicketState::Resolved) => "resolved",
                    Some(TicketState::Closed) => "closed",
                    Some(TicketState::Open) | None => "updated",
                };
                let s = TicketStep {
                    author: (actor.subject().to_string(), actor.party()),
                    state: step.state,
                    severity: step.severity,
                    comment: step.comment.trim().to_string(),
                };
                let t = tx.ticket_step(tid, *ticket_id, s).await?;
                made(Applied::Ticket(t), "ticket", ticket_id.to_string(), outcome)
            }
            Operation::CredentialRevoke { credential_id } => {
                let now = self.clock.now();
                let (c, revoked) = tx
                    .credential_revoke(tid, *credential_id, now)
                    .await?
                    .ok_or_else(|| Error::not_found("credential", credential_id))?;
                if !revoked {
                    return Err(Error::conflict(None, "the credential was revoked already"));
                }
                made(
                    Applied::Credential(c),
                    "credential",
                    credential_id.to_string(),
                    "revoked",
                )
            }
        })
    }
}

/// A domain verification token: 128 random bits, hex.
fn verification_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A ticket's free text: 1 to 10000 characters of safe prose.
fn text(p: &mut Problems, field: &str, value: &str) {
    p.prose(field, value, true, 10_000);
}

//! The two dispatchers of the operation registry: [`Operation::check`], which parses an
//! operation's input once into the typed values its change uses ([`Checked`]), and
//! [`ControlPlane::apply`], which makes that change.
//!
//! Both are one line per operation: the rules and the change of each operation live beside
//! its resource (`directory.rs` for aliases, `catalogue.rs` for subscriptions, ...). What
//! every operation shares stays here, once: the input is checked before anything else, and
//! once the export window of the tenant's termination closes, only the operations
//! [`lifecycle::runs_after_window`] names go on.

use mailplane_policy::Profile;
use mailplane_store::WriteTx;
use mailplane_types::passwords::PasswordPolicy;
use mailplane_types::resources::Tenant;
use mailplane_types::{
    AliasId, CredentialId, DomainId, DomainName, EmailAddress, Error, GroupId, HoldId, MailboxId,
    Result, SubscriptionId, TicketId,
};

use super::workflow::Made;
use super::{
    ControlPlane, Operation, catalogue, credentials, directory, domains, lifecycle, mailboxes,
    passwords, retention, tenants, tickets,
};
use crate::Actor;
use crate::input::{
    AliasCreateChecked, CredentialCreate, ExportCreate, GroupCreateChecked, HoldPlace, HoldRelease,
    MailboxCreateChecked, MailboxUpdate, Member, OfferChoose, Problems, RetentionSet, SeatsChange,
    SubscriptionCreate, TenantRebind, TenantRelocate, TenantUpdateChecked, TerminationCreate,
    TicketComment, TicketCreate, TicketHandle,
};

/// An operation whose input passed its check: what [`ControlPlane::apply`] carries out.
/// The values a check parses (local parts, domain names, addresses) are held typed, so no
/// change parses them again; the inputs a check only reads are borrowed as they are.
pub(super) enum Checked<'a> {
    TenantUpdate(TenantUpdateChecked),
    TenantRebind(&'a TenantRebind),
    TenantDelete,
    DomainCreate(DomainName),
    DomainDelete(DomainId),
    MailboxCreate(MailboxCreateChecked),
    MailboxUpdate(MailboxId, &'a MailboxUpdate),
    MailboxDelete(MailboxId),
    CredentialRegister(&'a CredentialCreate),
    CredentialRevoke(CredentialId),
    AliasCreate(AliasCreateChecked),
    AliasDelete(AliasId),
    GroupCreate(GroupCreateChecked),
    GroupDelete(GroupId),
    GroupMemberAdd(GroupId, Member),
    GroupMemberRemove(GroupId, Member),
    MailboxForward(MailboxId, Option<EmailAddress>),
    RetentionSet(&'a RetentionSet),
    HoldPlace(&'a HoldPlace),
    HoldRelease(HoldId, &'a HoldRelease),
    PasswordPolicySet(&'a PasswordPolicy),
    OfferChoose(&'a OfferChoose),
    TenantRelocate(&'a TenantRelocate),
    SubscriptionCreate(&'a SubscriptionCreate),
    SubscriptionSeats(SubscriptionId, &'a SeatsChange),
    LicenceAssign(MailboxId, &'a str),
    LicenceUnassign(MailboxId, &'a str),
    ExportCreate(&'a ExportCreate),
    TenantTerminate(&'a TerminationCreate),
    TerminationCancel,
    TicketOpen(&'a TicketCreate),
    TicketComment(TicketId, &'a TicketComment),
    TicketHandle(TicketId, &'a TicketHandle),
}

impl Operation {
    /// Parses the input values that do not depend on the tenant's data into `p`'s list of
    /// problems and a checked value. The value is `None` only when `p` holds a problem.
    pub(super) fn parse<'a>(
        &'a self,
        p: &mut Problems,
        profile: &Profile,
        now: time::OffsetDateTime,
    ) -> Option<Checked<'a>> {
        match self {
            Operation::TenantUpdate(i) => tenants::tenant_update_check(p, i),
            Operation::TenantRebind(i) => tenants::tenant_rebind_check(p, i),
            Operation::TenantDelete {} => Some(Checked::TenantDelete),
            Operation::DomainCreate(i) => domains::domain_create_check(p, i),
            Operation::DomainDelete { domain_id } => Some(Checked::DomainDelete(*domain_id)),
            Operation::MailboxCreate(i) => mailboxes::mailbox_create_check(p, i),
            Operation::MailboxUpdate {
                mailbox_id,
                changes,
            } => mailboxes::mailbox_update_check(p, *mailbox_id, changes),
            Operation::MailboxDelete { mailbox_id } => Some(Checked::MailboxDelete(*mailbox_id)),
            Operation::CredentialRegister(i) => {
                credentials::credential_register_check(p, profile, now, i)
            }
            Operation::CredentialRevoke { credential_id } => {
                Some(Checked::CredentialRevoke(*credential_id))
            }
            Operation::AliasCreate { mailbox_id, alias } => {
                directory::alias_create_check(p, *mailbox_id, alias)
            }
            Operation::AliasDelete { alias_id } => Some(Checked::AliasDelete(*alias_id)),
            Operation::GroupCreate(i) => directory::group_create_check(p, i),
            Operation::GroupDelete { group_id } => Some(Checked::GroupDelete(*group_id)),
            Operation::GroupMemberAdd { group_id, member } => {
                directory::member_rule(p, member).map(|m| Checked::GroupMemberAdd(*group_id, m))
            }
            Operation::GroupMemberRemove { group_id, member } => {
                directory::member_rule(p, member).map(|m| Checked::GroupMemberRemove(*group_id, m))
            }
            Operation::MailboxForward {
                mailbox_id,
                forward_to,
            } => directory::mailbox_forward_check(p, *mailbox_id, forward_to.as_deref()),
            Operation::RetentionSet(i) => retention::retention_set_check(p, i),
            Operation::HoldPlace(i) => retention::hold_place_check(p, i),
            Operation::HoldRelease { hold_id, release } => {
                retention::hold_release_check(p, *hold_id, release)
            }
            Operation::PasswordPolicySet(i) => passwords::password_policy_set_check(p, i),
            Operation::OfferChoose(i) => tenants::offer_choose_check(p, i),
            Operation::TenantRelocate(i) => tenants::tenant_relocate_check(p, i),
            Operation::SubscriptionCreate(i) => catalogue::subscription_create_check(p, i),
            Operation::SubscriptionSeats {
                subscription_id,
                change,
            } => catalogue::subscription_seats_check(p, *subscription_id, change),
            Operation::LicenceAssign { mailbox_id, sku } => {
                catalogue::licence_check(p, *mailbox_id, sku, true)
            }
            Operation::LicenceUnassign { mailbox_id, sku } => {
                catalogue::licence_check(p, *mailbox_id, sku, false)
            }
            Operation::ExportCreate(i) => Some(Checked::ExportCreate(i)),
            Operation::TenantTerminate(i) => lifecycle::tenant_terminate_check(p, i),
            Operation::TerminationCancel {} => Some(Checked::TerminationCancel),
            Operation::TicketOpen(i) => tickets::ticket_open_check(p, i),
            Operation::TicketComment { ticket_id, comment } => {
                tickets::ticket_comment_check(p, *ticket_id, comment)
            }
            Operation::TicketHandle { ticket_id, step } => {
                tickets::ticket_handle_check(p, *ticket_id, step)
            }
        }
    }

    /// Checks the input values that do not depend on the tenant's data, naming every field
    /// that breaks a rule, so that a request or proposal is never filed with a bad input.
    pub(super) fn check(
        &self,
        profile: &Profile,
        now: time::OffsetDateTime,
    ) -> Result<Checked<'_>> {
        let mut p = Problems::default();
        let checked = self.parse(&mut p, profile, now);
        p.finish()?;
        checked.ok_or_else(|| unreported(self))
    }
}

/// The error of a check that failed without naming a problem: a defect of the check.
fn unreported(op: &Operation) -> Error {
    Error::internal(format!(
        "the check of `{}` failed without naming a problem",
        op.name()
    ))
}

impl ControlPlane {
    /// Makes the change an operation describes. No authorization here: every caller has
    /// decided first. Checks that depend on the tenant's data (the domain exists, the name
    /// is free) happen beside each resource, so a replayed operation meets the tenant as it
    /// is now.
    pub(super) async fn apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
        op: &Operation,
    ) -> Result<Made> {
        let now = self.clock.now();
        let mut p = Problems::default();
        let checked = op.parse(&mut p, self.profile_of(tenant)?, now);
        // A mailbox's creation reports its field problems together with those that depend
        // on the tenant (the offer's quota, the domain), so its change finishes the list.
        if !matches!(op, Operation::MailboxCreate(_)) {
            std::mem::take(&mut p).finish()?;
        }
        // Once the export window closes, the tenant's configuration is frozen for its
        // destruction.
        lifecycle::not_destroyed(tx, tenant.id, op, now).await?;
        let Some(checked) = checked else {
            p.finish()?;
            return Err(unreported(op));
        };
        let t = tenant;
        match checked {
            Checked::TenantUpdate(i) => self.tenant_update_apply(tx, t, i).await,
            Checked::TenantRebind(i) => self.tenant_rebind_apply(tx, t, i).await,
            Checked::TenantDelete => self.tenant_delete_apply(tx, t).await,
            Checked::DomainCreate(name) => self.domain_create_apply(tx, t, name).await,
            Checked::DomainDelete(id) => self.domain_delete_apply(tx, t, id).await,
            Checked::MailboxCreate(i) => self.mailbox_create_apply(tx, t, i, p).await,
            Checked::MailboxUpdate(id, i) => self.mailbox_update_apply(tx, t, id, i).await,
            Checked::MailboxDelete(id) => self.mailbox_delete_apply(tx, t, id).await,
            Checked::CredentialRegister(i) => self.credential_register_apply(tx, t, i).await,
            Checked::CredentialRevoke(id) => self.credential_revoke_apply(tx, t, id).await,
            Checked::AliasCreate(i) => self.alias_create_apply(tx, t, i).await,
            Checked::AliasDelete(id) => self.alias_delete_apply(tx, t, id).await,
            Checked::GroupCreate(i) => self.group_create_apply(tx, t, i).await,
            Checked::GroupDelete(id) => self.group_delete_apply(tx, t, id).await,
            Checked::GroupMemberAdd(id, m) => self.group_member_apply(tx, t, id, m, true).await,
            Checked::GroupMemberRemove(id, m) => self.group_member_apply(tx, t, id, m, false).await,
            Checked::MailboxForward(id, to) => self.mailbox_forward_apply(tx, t, id, to).await,
            Checked::RetentionSet(i) => self.retention_set_apply(tx, t, i).await,
            Checked::HoldPlace(i) => self.hold_place_apply(tx, actor, t, i).await,
            Checked::HoldRelease(id, i) => self.hold_release_apply(tx, actor, t, id, i).await,
            Checked::PasswordPolicySet(i) => self.password_policy_set_apply(tx, t, i).await,
            Checked::OfferChoose(i) => self.offer_choose_apply(tx, t, i).await,
            Checked::TenantRelocate(i) => self.tenant_relocate_apply(tx, t, i).await,
            Checked::SubscriptionCreate(i) => self.subscription_create_apply(tx, t, i).await,
            Checked::SubscriptionSeats(id, i) => self.subscription_seats_apply(tx, t, id, i).await,
            Checked::LicenceAssign(id, sku) => self.licence_apply(tx, t, id, sku, true).await,
            Checked::LicenceUnassign(id, sku) => self.licence_apply(tx, t, id, sku, false).await,
            Checked::ExportCreate(i) => self.export_create_apply(tx, actor, t, i).await,
            Checked::TenantTerminate(i) => self.tenant_terminate_apply(tx, actor, t, i).await,
            Checked::TerminationCancel => self.termination_cancel_apply(tx, actor, t).await,
            Checked::TicketOpen(i) => self.ticket_open_apply(tx, actor, t, i).await,
            Checked::TicketComment(id, i) => self.ticket_comment_apply(tx, actor, t, id, i).await,
            Checked::TicketHandle(id, i) => self.ticket_handle_apply(tx, actor, t, id, i).await,
        }
    }
}

//! The two dispatchers of the operation registry: [`Operation::check`], which parses an
//! operation's input once into the typed values its change uses ([`Checked`]), and
//! [`ControlPlane::apply`], which makes that change.
//!
//! Both route by resource only. Each resource module of the control plane (`tenants`,
//! `domains`, `mailboxes`, `credentials`, `directory`, `retention`, `passwords`,
//! `catalogue`, `lifecycle`, `tickets`) owns its checked enum (`directory::Checked`), a
//! `parse` function that turns its operations into it and an `apply` method
//! (`directory_apply`) that carries it out; the rules and the change of each operation live
//! there. What every operation shares stays here, once: the input is checked before
//! anything else, once the export window of the tenant's termination closes only the
//! operations [`lifecycle::runs_after_window`] names go on, and a check that fails without
//! naming a problem is a defect. The routing matches every [`Operation`] variant, so a new
//! operation fails to compile here until a resource claims it.

use mailplane_policy::Profile;
use mailplane_store::WriteTx;
use mailplane_types::resources::Tenant;
use mailplane_types::{Error, Result};

use super::workflow::Made;
use super::{
    ControlPlane, Operation, catalogue, credentials, directory, domains, dunning, lifecycle,
    mailboxes, passwords, retention, suspensions, tenants, tickets,
};
use crate::Actor;
use crate::input::Problems;

/// An operation whose input passed its check, as its resource's checked value: what
/// [`ControlPlane::apply`] carries out. The values a check parses (local parts, domain
/// names, addresses) are held typed, so no change parses them again; the inputs a check only
/// reads are borrowed as they are.
pub(super) enum Checked<'a> {
    Tenants(tenants::Checked<'a>),
    Domains(domains::Checked),
    Mailboxes(mailboxes::Checked<'a>),
    Credentials(credentials::Checked<'a>),
    Directory(directory::Checked),
    Retention(retention::Checked<'a>),
    Passwords(passwords::Checked<'a>),
    Catalogue(catalogue::Checked<'a>),
    Lifecycle(lifecycle::Checked<'a>),
    Tickets(tickets::Checked<'a>),
    Suspensions(suspensions::Checked<'a>),
    Dunning(dunning::Checked<'a>),
}

impl Operation {
    /// Parses the input values that do not depend on the tenant's data into `p`'s list of
    /// problems and a checked value, by the operation's resource. The value is `None` only
    /// when `p` holds a problem.
    pub(super) fn parse<'a>(
        &'a self,
        p: &mut Problems,
        profile: &Profile,
        now: time::OffsetDateTime,
    ) -> Option<Checked<'a>> {
        match self {
            Operation::TenantUpdate(_)
            | Operation::TenantRebind(_)
            | Operation::TenantDelete {}
            | Operation::OfferChoose(_)
            | Operation::TenantRelocate(_) => tenants::parse(self, p).map(Checked::Tenants),
            Operation::DomainCreate(_) | Operation::DomainDelete { .. } => {
                domains::parse(self, p).map(Checked::Domains)
            }
            Operation::MailboxCreate(_)
            | Operation::MailboxUpdate { .. }
            | Operation::MailboxDelete { .. }
            | Operation::MailboxRestore { .. } => mailboxes::parse(self, p).map(Checked::Mailboxes),
            Operation::CredentialRegister(_) | Operation::CredentialRevoke { .. } => {
                credentials::parse(self, p, profile, now).map(Checked::Credentials)
            }
            Operation::AliasCreate(_)
            | Operation::AliasDelete(_)
            | Operation::GroupCreate(_)
            | Operation::GroupDelete(_)
            | Operation::GroupMemberAdd(_)
            | Operation::GroupMemberRemove(_)
            | Operation::MailboxForward(_) => directory::parse(self, p).map(Checked::Directory),
            Operation::RetentionSet(_)
            | Operation::HoldPlace(_)
            | Operation::HoldRelease { .. } => retention::parse(self, p).map(Checked::Retention),
            Operation::SuspensionPlace(_) | Operation::SuspensionLift { .. } => {
                suspensions::parse(self, p).map(Checked::Suspensions)
            }
            Operation::ContractEnd(_) => dunning::parse(self, p).map(Checked::Dunning),
            Operation::PasswordPolicySet(_) => passwords::parse(self, p).map(Checked::Passwords),
            Operation::SubscriptionCreate(_)
            | Operation::SubscriptionSeats { .. }
            | Operation::LicenceAssign { .. }
            | Operation::LicenceUnassign { .. } => {
                catalogue::parse(self, p).map(Checked::Catalogue)
            }
            Operation::ExportCreate(_)
            | Operation::TenantTerminate(_)
            | Operation::TerminationCancel {} => lifecycle::parse(self, p).map(Checked::Lifecycle),
            Operation::TicketOpen(_)
            | Operation::TicketComment { .. }
            | Operation::TicketHandle { .. } => tickets::parse(self, p).map(Checked::Tickets),
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

/// The error of a check that failed without naming a problem: a defect of the check (or of
/// the routing, had it sent an operation to a resource that does not claim it).
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
            Checked::Tenants(c) => self.tenants_apply(tx, actor, t, c).await,
            Checked::Domains(c) => self.domains_apply(tx, actor, t, c).await,
            Checked::Mailboxes(c) => self.mailboxes_apply(tx, actor, t, c, p).await,
            Checked::Credentials(c) => self.credentials_apply(tx, actor, t, c).await,
            Checked::Directory(c) => self.directory_apply(tx, actor, t, c).await,
            Checked::Retention(c) => self.retention_apply(tx, actor, t, c).await,
            Checked::Passwords(c) => self.passwords_apply(tx, actor, t, c).await,
            Checked::Catalogue(c) => self.catalogue_apply(tx, actor, t, c).await,
            Checked::Lifecycle(c) => self.lifecycle_apply(tx, actor, t, c).await,
            Checked::Tickets(c) => self.tickets_apply(tx, actor, t, c).await,
            Checked::Suspensions(c) => self.suspensions_apply(tx, actor, t, c).await,
            Checked::Dunning(c) => self.dunning_apply(tx, actor, t, c).await,
        }
    }
}

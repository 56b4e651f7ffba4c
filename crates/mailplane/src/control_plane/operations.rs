//! The operation registry: every tenant-scoped change as data, so that the matrix can route
//! it instead of only allowing or refusing it.
//!
//! A call names an [`Operation`]. The control plane decides its activity for the caller and
//! then carries it out now (R and A), files it as a request to the responsible party
//! (A without R; provider automation fulfils it at once when the profile marks the activity
//! `automated`), or files it as a proposal to the accountable party (R without A). A filed
//! operation is stored as its name and its input, and replayed, against the tenant as it is
//! then, when it is fulfilled or approved.
//!
//! This module is the registry only: the operations, their kinds ([`OperationKind`]), their
//! stored names and activities, and their stored form. The routing is the workflow
//! (`workflow.rs`); the check and the change of each operation live beside its resource and
//! are reached through the two dispatchers of `dispatch.rs`, so a replayed operation is
//! checked and carried out exactly like a direct one. The golden file
//! `crates/mailplane/golden/operations.txt` lists every operation (`operations/golden.rs`).

use mailplane_types::passwords::PasswordPolicy;
use mailplane_types::resources::Request;
use mailplane_types::{
    CredentialId, DomainId, Error, HoldId, MailboxId, Result, SubscriptionId, SuspensionId,
    TicketId,
};
use serde::{Deserialize, Serialize};

use super::{ControlPlane, activity, directory, lifecycle};
// The workflow's helpers, at the paths other modules of the control plane use.
pub(super) use super::workflow::{add, consulted, unfiled};
use crate::input::{
    ContractEnd, CredentialCreate, DomainCreate, ExportCreate, GroupCreate, HoldPlace, HoldRelease,
    MailboxCreate, MailboxUpdate, OfferChoose, RetentionSet, SeatsChange, SubscriptionCreate,
    SuspensionLift, SuspensionPlace, TenantRebind, TenantRelocate, TenantUpdate, TerminationCreate,
    TicketComment, TicketCreate, TicketHandle,
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
    /// Restores a deleted or inactive mailbox inside its undelete window
    /// (`directory.administer`, as its deletion).
    #[serde(rename = "mailbox.restore")]
    MailboxRestore {
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
        credential_id: CredentialId,
    },
    /// Adds an alias to a mailbox (`directory.administer`).
    #[serde(rename = "alias.create")]
    AliasCreate(directory::AliasCreate),
    /// Removes an alias (`directory.administer`).
    #[serde(rename = "alias.delete")]
    AliasDelete(directory::AliasDelete),
    /// Creates a distribution group (`directory.administer`).
    #[serde(rename = "group.create")]
    GroupCreate(GroupCreate),
    /// Deletes a group (`directory.administer`).
    #[serde(rename = "group.delete")]
    GroupDelete(directory::GroupDelete),
    /// Adds a member to a group (`directory.administer`).
    #[serde(rename = "group.member.add")]
    GroupMemberAdd(directory::GroupMemberChange),
    /// Removes a member from a group (`directory.administer`).
    #[serde(rename = "group.member.remove")]
    GroupMemberRemove(directory::GroupMemberChange),
    /// Sets or clears a mailbox's forwarding target (`directory.administer`).
    #[serde(rename = "mailbox.forward")]
    MailboxForward(directory::MailboxForward),
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
        hold_id: HoldId,
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
        subscription_id: SubscriptionId,
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
        ticket_id: TicketId,
        /// The information.
        comment: TicketComment,
    },
    /// Qualifies, updates, resolves or closes a ticket (`incident.handle`).
    #[serde(rename = "ticket.handle")]
    TicketHandle {
        /// The ticket.
        ticket_id: TicketId,
        /// The step.
        step: TicketHandle,
    },
    /// Suspends the tenant or one of its mailboxes for a reason (`service.suspend`).
    #[serde(rename = "suspension.place")]
    SuspensionPlace(SuspensionPlace),
    /// Lifts a suspension (`service.suspend`).
    #[serde(rename = "suspension.lift")]
    SuspensionLift {
        /// The suspension.
        suspension_id: SuspensionId,
        /// Why.
        lift: SuspensionLift,
    },
    /// Ends the contract for cause, opening the export window (`contract.end`).
    #[serde(rename = "contract.end")]
    ContractEnd(ContractEnd),
}

/// The kind of an [`Operation`], without its input: what the registry knows of every
/// operation (its stored name, its activity), listed in [`OperationKind::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationKind {
    /// `tenant.update`.
    TenantUpdate,
    /// `tenant.rebind`.
    TenantRebind,
    /// `tenant.delete`.
    TenantDelete,
    /// `domain.create`.
    DomainCreate,
    /// `domain.delete`.
    DomainDelete,
    /// `mailbox.create`.
    MailboxCreate,
    /// `mailbox.update`.
    MailboxUpdate,
    /// `mailbox.delete`.
    MailboxDelete,
    /// `mailbox.restore`.
    MailboxRestore,
    /// `credential.register`.
    CredentialRegister,
    /// `credential.revoke`.
    CredentialRevoke,
    /// `alias.create`.
    AliasCreate,
    /// `alias.delete`.
    AliasDelete,
    /// `group.create`.
    GroupCreate,
    /// `group.delete`.
    GroupDelete,
    /// `group.member.add`.
    GroupMemberAdd,
    /// `group.member.remove`.
    GroupMemberRemove,
    /// `mailbox.forward`.
    MailboxForward,
    /// `retention.set`.
    RetentionSet,
    /// `hold.place`.
    HoldPlace,
    /// `hold.release`.
    HoldRelease,
    /// `tenant.password_policy`.
    PasswordPolicySet,
    /// `tenant.offer`.
    OfferChoose,
    /// `tenant.relocate`.
    TenantRelocate,
    /// `subscription.create`.
    SubscriptionCreate,
    /// `subscription.seats`.
    SubscriptionSeats,
    /// `licence.assign`.
    LicenceAssign,
    /// `licence.unassign`.
    LicenceUnassign,
    /// `export.create`.
    ExportCreate,
    /// `tenant.terminate`.
    TenantTerminate,
    /// `termination.cancel`.
    TerminationCancel,
    /// `ticket.open`.
    TicketOpen,
    /// `ticket.comment`.
    TicketComment,
    /// `ticket.handle`.
    TicketHandle,
    /// `suspension.place`.
    SuspensionPlace,
    /// `suspension.lift`.
    SuspensionLift,
    /// `contract.end`.
    ContractEnd,
}

impl OperationKind {
    /// Every kind of operation, in the order of [`Operation`]'s variants.
    pub const ALL: [OperationKind; 37] = [
        OperationKind::TenantUpdate,
        OperationKind::TenantRebind,
        OperationKind::TenantDelete,
        OperationKind::DomainCreate,
        OperationKind::DomainDelete,
        OperationKind::MailboxCreate,
        OperationKind::MailboxUpdate,
        OperationKind::MailboxDelete,
        OperationKind::MailboxRestore,
        OperationKind::CredentialRegister,
        OperationKind::CredentialRevoke,
        OperationKind::AliasCreate,
        OperationKind::AliasDelete,
        OperationKind::GroupCreate,
        OperationKind::GroupDelete,
        OperationKind::GroupMemberAdd,
        OperationKind::GroupMemberRemove,
        OperationKind::MailboxForward,
        OperationKind::RetentionSet,
        OperationKind::HoldPlace,
        OperationKind::HoldRelease,
        OperationKind::PasswordPolicySet,
        OperationKind::OfferChoose,
        OperationKind::TenantRelocate,
        OperationKind::SubscriptionCreate,
        OperationKind::SubscriptionSeats,
        OperationKind::LicenceAssign,
        OperationKind::LicenceUnassign,
        OperationKind::ExportCreate,
        OperationKind::TenantTerminate,
        OperationKind::TerminationCancel,
        OperationKind::TicketOpen,
        OperationKind::TicketComment,
        OperationKind::TicketHandle,
        OperationKind::SuspensionPlace,
        OperationKind::SuspensionLift,
        OperationKind::ContractEnd,
    ];

    /// The stable name stored on requests (`mailbox.create`): the one spelling, which the
    /// serde tag of [`Operation`] must repeat (a test holds them together).
    pub fn name(self) -> &'static str {
        match self {
            OperationKind::TenantUpdate => "tenant.update",
            OperationKind::TenantRebind => "tenant.rebind",
            OperationKind::TenantDelete => "tenant.delete",
            OperationKind::DomainCreate => "domain.create",
            OperationKind::DomainDelete => "domain.delete",
            OperationKind::MailboxCreate => "mailbox.create",
            OperationKind::MailboxUpdate => "mailbox.update",
            OperationKind::MailboxDelete => "mailbox.delete",
            OperationKind::MailboxRestore => "mailbox.restore",
            OperationKind::CredentialRegister => "credential.register",
            OperationKind::CredentialRevoke => "credential.revoke",
            OperationKind::AliasCreate => "alias.create",
            OperationKind::AliasDelete => "alias.delete",
            OperationKind::GroupCreate => "group.create",
            OperationKind::GroupDelete => "group.delete",
            OperationKind::GroupMemberAdd => "group.member.add",
            OperationKind::GroupMemberRemove => "group.member.remove",
            OperationKind::MailboxForward => "mailbox.forward",
            OperationKind::PasswordPolicySet => "tenant.password_policy",
            OperationKind::RetentionSet => "retention.set",
            OperationKind::HoldPlace => "hold.place",
            OperationKind::HoldRelease => "hold.release",
            OperationKind::SuspensionPlace => "suspension.place",
            OperationKind::SuspensionLift => "suspension.lift",
            OperationKind::ContractEnd => "contract.end",
            OperationKind::OfferChoose => "tenant.offer",
            OperationKind::TenantRelocate => "tenant.relocate",
            OperationKind::SubscriptionCreate => "subscription.create",
            OperationKind::SubscriptionSeats => "subscription.seats",
            OperationKind::LicenceAssign => "licence.assign",
            OperationKind::LicenceUnassign => "licence.unassign",
            OperationKind::ExportCreate => "export.create",
            OperationKind::TenantTerminate => "tenant.terminate",
            OperationKind::TerminationCancel => "termination.cancel",
            OperationKind::TicketOpen => "ticket.open",
            OperationKind::TicketComment => "ticket.comment",
            OperationKind::TicketHandle => "ticket.handle",
        }
    }

    /// The activity of the profile that governs the operation.
    pub fn activity(self) -> &'static str {
        match self {
            OperationKind::TenantUpdate => activity::TENANT_DELIVER,
            OperationKind::TenantRebind => activity::PROFILE_CHANGE,
            OperationKind::TenantDelete => activity::TENANT_DESTROY,
            OperationKind::DomainCreate
            | OperationKind::DomainDelete
            | OperationKind::MailboxCreate
            | OperationKind::MailboxUpdate
            | OperationKind::MailboxDelete
            | OperationKind::MailboxRestore
            | OperationKind::LicenceAssign
            | OperationKind::LicenceUnassign
            | OperationKind::AliasCreate
            | OperationKind::AliasDelete
            | OperationKind::GroupCreate
            | OperationKind::GroupDelete
            | OperationKind::GroupMemberAdd
            | OperationKind::GroupMemberRemove
            | OperationKind::MailboxForward => activity::DIRECTORY,
            OperationKind::OfferChoose => activity::SIZING,
            OperationKind::RetentionSet => activity::RETENTION,
            OperationKind::HoldPlace | OperationKind::HoldRelease => activity::HOLDS,
            OperationKind::SuspensionPlace | OperationKind::SuspensionLift => activity::SUSPEND,
            OperationKind::ContractEnd => activity::CONTRACT_END,
            OperationKind::TenantRelocate => activity::LOCATION,
            OperationKind::SubscriptionCreate => activity::LICENCES,
            OperationKind::SubscriptionSeats | OperationKind::PasswordPolicySet => {
                activity::CUSTOMIZE
            }
            OperationKind::CredentialRegister | OperationKind::CredentialRevoke => {
                activity::CONTROL_PLANE_ACCESS
            }
            OperationKind::ExportCreate => activity::EXPORT,
            OperationKind::TenantTerminate | OperationKind::TerminationCancel => {
                activity::TERMINATE
            }
            OperationKind::TicketOpen | OperationKind::TicketComment => activity::INCIDENT_REPORT,
            OperationKind::TicketHandle => activity::INCIDENT_HANDLE,
        }
    }

    /// Whether the operation may still run once the export window of the tenant's
    /// termination has closed: the rule the dispatcher applies ([`lifecycle::runs_after_window`]).
    pub fn runs_after_window(self) -> bool {
        lifecycle::runs_after_window(self)
    }
}

impl Operation {
    /// The operation's kind.
    pub fn kind(&self) -> OperationKind {
        match self {
            Operation::TenantUpdate(_) => OperationKind::TenantUpdate,
            Operation::TenantRebind(_) => OperationKind::TenantRebind,
            Operation::TenantDelete {} => OperationKind::TenantDelete,
            Operation::DomainCreate(_) => OperationKind::DomainCreate,
            Operation::DomainDelete { .. } => OperationKind::DomainDelete,
            Operation::MailboxCreate(_) => OperationKind::MailboxCreate,
            Operation::MailboxUpdate { .. } => OperationKind::MailboxUpdate,
            Operation::MailboxDelete { .. } => OperationKind::MailboxDelete,
            Operation::MailboxRestore { .. } => OperationKind::MailboxRestore,
            Operation::CredentialRegister(_) => OperationKind::CredentialRegister,
            Operation::CredentialRevoke { .. } => OperationKind::CredentialRevoke,
            Operation::AliasCreate(_) => OperationKind::AliasCreate,
            Operation::AliasDelete(_) => OperationKind::AliasDelete,
            Operation::GroupCreate(_) => OperationKind::GroupCreate,
            Operation::GroupDelete(_) => OperationKind::GroupDelete,
            Operation::GroupMemberAdd(_) => OperationKind::GroupMemberAdd,
            Operation::GroupMemberRemove(_) => OperationKind::GroupMemberRemove,
            Operation::MailboxForward(_) => OperationKind::MailboxForward,
            Operation::PasswordPolicySet(_) => OperationKind::PasswordPolicySet,
            Operation::RetentionSet(_) => OperationKind::RetentionSet,
            Operation::HoldPlace(_) => OperationKind::HoldPlace,
            Operation::HoldRelease { .. } => OperationKind::HoldRelease,
            Operation::SuspensionPlace(_) => OperationKind::SuspensionPlace,
            Operation::SuspensionLift { .. } => OperationKind::SuspensionLift,
            Operation::ContractEnd(_) => OperationKind::ContractEnd,
            Operation::OfferChoose(_) => OperationKind::OfferChoose,
            Operation::TenantRelocate(_) => OperationKind::TenantRelocate,
            Operation::SubscriptionCreate(_) => OperationKind::SubscriptionCreate,
            Operation::SubscriptionSeats { .. } => OperationKind::SubscriptionSeats,
            Operation::LicenceAssign { .. } => OperationKind::LicenceAssign,
            Operation::LicenceUnassign { .. } => OperationKind::LicenceUnassign,
            Operation::ExportCreate(_) => OperationKind::ExportCreate,
            Operation::TenantTerminate(_) => OperationKind::TenantTerminate,
            Operation::TerminationCancel {} => OperationKind::TerminationCancel,
            Operation::TicketOpen(_) => OperationKind::TicketOpen,
            Operation::TicketComment { .. } => OperationKind::TicketComment,
            Operation::TicketHandle { .. } => OperationKind::TicketHandle,
        }
    }

    /// The stable name stored on requests (`mailbox.create`).
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The activity of the profile that governs the operation.
    pub fn activity(&self) -> &'static str {
        self.kind().activity()
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
}

impl ControlPlane {
    /// The replayable operation of a request, if it carries one.
    pub(super) fn operation_of(request: &Request) -> Result<Option<Operation>> {
        Operation::stored(request)
    }
}

#[cfg(test)]
mod golden;

//! Ending a contract for cause (`contract.end`), and the dunning ladder that leads to it.
//!
//! The ladder is a state machine like the end of service: a tenant's suspension for
//! `non_payment` starts a grace (the profile's `dunning_grace`); lifting the suspension
//! within it stops the ladder; when the grace passes with the suspension still placed, the
//! durable job `dunning` (`jobs/dunning.rs`) ends the contract for cause as provider
//! automation, for the party the matrix makes accountable (the provider in every shipped
//! profile). `contract.end` is also an operation of its own, for abuse or a legal order.
//! Either way the termination it opens is the existing end of service: the export window
//! (the customer still exports, suspended or not), holds and locked retention blocking it,
//! destruction of the configuration and the data, and the certificate. A termination for
//! cause records its reason and note, and only the customer's own termination is cancelled
//! by the customer. When the grace ends during the customer's own termination, the ladder
//! makes that termination one for `non_payment` (same dates), so that the customer cannot
//! escape the ladder by terminating and then cancelling.

use mailplane_store::WriteTx;
use mailplane_types::lifecycle::Termination;
use mailplane_types::resources::Tenant;
use mailplane_types::suspensions::SuspensionReason;
use mailplane_types::{AuditOutcome, AuditTarget, Error, Party, Result, TenantId, limits};

use super::workflow::{Applied, Made};
use super::{ControlPlane, Operation, Outcome};
use crate::Actor;
use crate::input::{ContractEnd, Problems};

/// `contract.end` whose input passed its check, with its note trimmed (`None` when empty).
pub(super) enum Checked<'a> {
    ContractEnd(&'a ContractEnd, Option<String>),
}

/// Parses `contract.end`: a reason other than the customer's own request, and a note of up
/// to 2000 characters of safe prose, required for `other`. `None` for another resource's
/// operation, which the dispatcher never routes here.
pub(super) fn parse<'a>(op: &'a Operation, p: &mut Problems) -> Option<Checked<'a>> {
    let Operation::ContractEnd(input) = op else {
        return None;
    };
    if input.reason == SuspensionReason::CustomerRequest {
        p.add(
            "reason",
            "must be `non_payment`, `abuse`, `legal` or `other`: a customer ends its own contract with `termination_create`",
        );
    }
    let required = input.reason == SuspensionReason::Other;
    let note = p.prose(
        "note",
        input.note.as_deref().unwrap_or(""),
        required,
        limits::NOTE_CHARS,
    );
    Some(Checked::ContractEnd(
        input,
        (!note.is_empty()).then_some(note),
    ))
}

/// Refuses the customer's cancellation of a contract ended for cause: `termination.cancel`
/// answers for the customer's own termination only.
pub(super) fn cancellable(t: &Termination) -> Result<()> {
    match t.cause {
        None => Ok(()),
        // The dunning ladder takes over a customer's termination still in its window when
        // the grace ends: its requester stays the customer, its cause is the ladder's.
        Some(cause) if t.requested_by_party == Party::Customer => Err(Error::conflict(
            None,
            format!(
                "the contract is ended for cause ({cause}): the customer's termination of {} became one for cause when the dunning grace ended, and only the customer's own termination is cancelled",
                t.terminated_at.date()
            ),
        )),
        Some(cause) => Err(Error::conflict(
            None,
            format!(
                "the contract was ended for cause ({cause}) by the {} on {}: only the customer's own termination is cancelled",
                t.requested_by_party,
                t.terminated_at.date()
            ),
        )),
    }
}

impl ControlPlane {
    /// Ends the tenant's contract for cause (`contract.end`), opening the export window.
    pub async fn contract_end(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: ContractEnd,
    ) -> Result<Outcome<Termination>> {
        self.run(actor, tenant, Operation::ContractEnd(input), None)
            .await
    }

    /// Makes the change of `contract.end`.
    pub(super) async fn dunning_apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        t: &Tenant,
        checked: Checked<'_>,
    ) -> Result<Made> {
        let Checked::ContractEnd(input, note) = checked;
        let termination = self
            .end_for_cause(tx, actor, t, input.reason, note.as_deref())
            .await?;
        let id = termination.id;
        Ok(Made::new(
            Applied::Termination(termination),
            AuditTarget::Termination,
            id,
            AuditOutcome::Terminated,
        ))
    }

    /// Opens the end of service of a contract ended for cause: a termination with its
    /// reason, the profile's export window, and the job that walks it. A tenant whose
    /// contract already ended (for cause or by the customer) is a conflict naming it.
    pub(super) async fn end_for_cause(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
        reason: SuspensionReason,
        note: Option<&str>,
    ) -> Result<Termination> {
        self.termination_open(tx, actor, tenant, None, Some((reason, note)))
            .await
    }
}

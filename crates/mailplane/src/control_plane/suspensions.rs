//! Suspensions of a tenant or of one of its mailboxes (`service.suspend`), each with a reason.
//!
//! Reasons overlap: each suspension is placed and lifted on its own, through the matrix like
//! every change (audited under its letters, announced to the informed parties), and its
//! subject stays suspended while any of its suspensions is active. The tenant's status is the
//! sum of its suspensions of the whole tenant (the store writes it with each placement and
//! lift), so the mail stack's lookups refuse every sign-in of a suspended tenant while mail
//! is still delivered; a suspended mailbox is refused alone (`mailbox_suspended`).
//!
//! While the tenant is suspended, the customer still reads and exports, but its directory
//! changes (domains, mailboxes, licences, aliases, groups, forwarding, mailbox passwords)
//! answer 409 naming the suspensions: [`ControlPlane::customer_not_suspended`]. What the
//! provider or a partner may still do is what the matrix gives them.

use mailplane_store::{SuspensionAct, WriteTx};
use mailplane_types::resources::{Request, Tenant, TenantStatus};
use mailplane_types::suspensions::{Suspension, SuspensionReason};
use mailplane_types::{
    AuditOutcome, AuditTarget, Error, Party, Result, SuspensionId, TenantId, limits,
};

use super::jobs::{DUNNING_JOB, SESSION_END_JOB};
use super::workflow::{Applied, Made};
use super::{ControlPlane, Operation, OperationKind, Outcome, activity};
use crate::Actor;
use crate::input::{Problems, SuspensionLift, SuspensionPlace};

/// A suspension operation whose input passed its check, with its note trimmed (`None` when
/// empty).
pub(super) enum Checked<'a> {
    Place(&'a SuspensionPlace, Option<String>),
    Lift(SuspensionId, Option<String>),
}

/// A note of up to 2000 characters of safe prose, required when `required`.
fn note_rule(p: &mut Problems, note: Option<&str>, required: bool) -> Option<String> {
    let v = p.prose("note", note.unwrap_or(""), required, limits::NOTE_CHARS);
    (!v.is_empty()).then_some(v)
}

/// Parses a suspension operation's input into `p`'s problems and a checked value: `None`
/// for another resource's operation, which the dispatcher never routes here.
pub(super) fn parse<'a>(op: &'a Operation, p: &mut Problems) -> Option<Checked<'a>> {
    match op {
        Operation::SuspensionPlace(i) => {
            // `other` says nothing by itself: its note is the reason.
            let required = i.reason == SuspensionReason::Other;
            if required && i.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
                p.add(
                    "note",
                    "must explain the suspension when the reason is `other`",
                );
                return Some(Checked::Place(i, None));
            }
            let note = note_rule(p, i.note.as_deref(), false);
            Some(Checked::Place(i, note))
        }
        Operation::SuspensionLift {
            suspension_id,
            lift,
        } => {
            let note = note_rule(p, lift.note.as_deref(), false);
            Some(Checked::Lift(*suspension_id, note))
        }
        _ => None,
    }
}

/// The operations a suspension stops the customer from making: its directory changes.
fn blocked_for_customer(kind: OperationKind) -> bool {
    kind.activity() == activity::DIRECTORY
}

/// The active suspensions of the whole tenant, in a sentence: `non_payment (placed by
/// provider on 2026-12-07: "invoice 42")`.
fn reasons(active: &[Suspension]) -> String {
    active
        .iter()
        .filter(|s| s.mailbox_id.is_none())
        .map(|s| {
            let note = s
                .note
                .as_deref()
                .map(|n| format!(": \"{n}\""))
                .unwrap_or_default();
            format!(
                "{} (placed by {} on {}{note})",
                s.reason,
                s.placed_by_party,
                s.placed_at.date()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl ControlPlane {
    /// The tenant's suspensions and its mailboxes', active and lifted (`service.suspend`).
    pub async fn suspension_list(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Vec<Suspension>> {
        self.tenant_for_read(actor, tenant, activity::SUSPEND)
            .await?;
        self.store.suspension_list(tenant).await
    }

    /// Suspends the tenant, or one of its mailboxes, for a reason (`service.suspend`).
    pub async fn suspension_place(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: SuspensionPlace,
    ) -> Result<Outcome<Suspension>> {
        self.run(actor, tenant, Operation::SuspensionPlace(input), None)
            .await
    }

    /// Lifts a suspension (`service.suspend`); the subject stays suspended while another
    /// of its suspensions is active.
    pub async fn suspension_lift(
        &self,
        actor: &Actor,
        tenant: TenantId,
        suspension: SuspensionId,
        input: SuspensionLift,
    ) -> Result<Outcome<Suspension>> {
        let op = Operation::SuspensionLift {
            suspension_id: suspension,
            lift: input,
        };
        self.run(actor, tenant, op, None).await
    }

    /// Refuses a customer's directory change while the tenant is suspended, naming every
    /// active suspension of the whole tenant: the customer reads and exports, but changes
    /// nothing until they are lifted. `parties` are every party the change is the act of:
    /// the caller's, and for a filed change also the party that filed it and the party that
    /// answers it, so that a change the customer proposed before the suspension is not
    /// approved into effect after it, nor one the customer approves. Other parties' changes
    /// are the matrix's to decide.
    pub(super) async fn customer_not_suspended(
        &self,
        tx: &WriteTx,
        parties: &[Party],
        tenant: &Tenant,
        kind: Option<OperationKind>,
    ) -> Result<()> {
        if !parties.contains(&Party::Customer)
            || tenant.status != TenantStatus::Suspended
            || kind.is_some_and(|k| !blocked_for_customer(k))
        {
            return Ok(());
        }
        let active = tx.suspensions_active(tenant.id).await?;
        let why = match reasons(&active) {
            r if r.is_empty() => "suspended".to_string(),
            r => format!("suspended for {r}"),
        };
        Err(Error::conflict(
            None,
            format!(
                "the tenant is {why}: its directory changes wait until every suspension is lifted; reads and exports still work"
            ),
        ))
    }

    /// [`Self::customer_not_suspended`] for a filed change about to be carried out (every
    /// answer that runs one passes here, in `carry_out`): a suspended tenant's customer
    /// neither makes a directory change by answering a request (approving a proposal, say)
    /// nor has one it filed before the suspension made by another party after it.
    pub(super) async fn filed_not_suspended(
        &self,
        tx: &WriteTx,
        [doer, closer]: [&Actor; 2],
        request: &Request,
        tenant: &Tenant,
        op: &Operation,
    ) -> Result<()> {
        let parties = [doer.party(), closer.party(), request.requester_party];
        self.customer_not_suspended(tx, &parties, tenant, Some(op.kind()))
            .await
    }

    /// [`Self::customer_not_suspended`] for the paths that change a tenant's directory
    /// without filing an operation (mailbox batches, domain checks, mailbox passwords): the
    /// caller authorized first, so the tenant is read in the transaction as it is now.
    pub(super) async fn customer_not_suspended_in(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<()> {
        if actor.party() != Party::Customer {
            return Ok(());
        }
        let t = tx
            .tenant_view(mailplane_store::Scope::All, tenant)
            .await?
            .ok_or_else(|| Error::not_found("tenant", tenant))?;
        self.customer_not_suspended(tx, &[actor.party()], &t, None)
            .await
    }

    /// Makes the change of a suspension operation whose input passed its check.
    pub(super) async fn suspensions_apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        t: &Tenant,
        checked: Checked<'_>,
    ) -> Result<Made> {
        let now = self.clock.now();
        fn act<'n>(
            actor: &'n Actor,
            note: &'n Option<String>,
            at: time::OffsetDateTime,
        ) -> SuspensionAct<'n> {
            SuspensionAct {
                by: actor.subject(),
                party: actor.party(),
                at,
                note: note.as_deref(),
                grace_ends_at: None,
            }
        }
        let (s, outcome) = match &checked {
            Checked::Place(input, note) => {
                if let Some(m) = input.mailbox_id
                    && tx.mailbox_view(t.id, m).await?.is_none()
                {
                    return Err(Error::invalid(
                        "mailbox_id",
                        "must be a mailbox of this tenant",
                    ));
                }
                // A tenant's suspension for non-payment starts the dunning ladder.
                let dunning =
                    input.reason == SuspensionReason::NonPayment && input.mailbox_id.is_none();
                let grace_ends_at = dunning
                    .then(|| self.profile_of(t))
                    .transpose()?
                    .map(|p| now + p.dunning_grace);
                let s = tx
                    .suspension_insert(
                        t.id,
                        input.mailbox_id,
                        input.reason,
                        SuspensionAct {
                            grace_ends_at,
                            ..act(actor, note, now)
                        },
                    )
                    .await?;
                // Sessions opened before the suspension are ended too, whichever path
                // placed it (the job is due at once; its subject is who is suspended).
                let subject = input.mailbox_id.map_or(t.id.uuid(), |m| m.uuid());
                tx.job_insert(
                    SESSION_END_JOB,
                    subject,
                    Some(t.id),
                    "end",
                    now,
                    &serde_json::json!({}),
                    now,
                )
                .await?;
                tx.job_wake(SESSION_END_JOB, subject, now).await?;
                if let Some(at) = grace_ends_at {
                    let json = serde_json::json!({});
                    tx.job_insert(
                        DUNNING_JOB,
                        s.id.uuid(),
                        Some(t.id),
                        "grace",
                        at,
                        &json,
                        now,
                    )
                    .await?;
                }
                (s, AuditOutcome::Placed)
            }
            Checked::Lift(id, note) => {
                let s = tx.suspension_lift(t.id, *id, act(actor, note, now)).await?;
                // A ladder in its grace ends at once: its job finds the suspension lifted.
                if s.dunning.is_some() {
                    tx.job_wake(DUNNING_JOB, s.id.uuid(), now).await?;
                }
                (s, AuditOutcome::Lifted)
            }
        };
        let id = s.id;
        Ok(Made::new(
            Applied::Suspension(s),
            AuditTarget::Suspension,
            id,
            outcome,
        ))
    }
}

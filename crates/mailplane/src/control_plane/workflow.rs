//! The R/A workflow: how a call that changes a tenant is carried out now, filed as a
//! request to the responsible party, proposed to the accountable party, or put to the
//! consulted parties first, and how a filed operation is later fulfilled, approved or
//! consented to and carried out.
//!
//! The operations themselves (their names, activities and stored form) are the registry in
//! `operations.rs`; what each one changes lives beside its resource. This module only
//! routes: it asks the matrix, files and closes requests, and writes the audit row and the
//! event of every change it carries out.

use mailplane_policy::{Decision, Profile, Verdict};
use mailplane_store::{NewRequest, Scope, WriteTx};
use mailplane_types::lifecycle::{Export, Termination};
use mailplane_types::passwords::PasswordPolicy;
use mailplane_types::resources::{
    Alias, ConsultationAnswer, Credential, Domain, Group, Mailbox, Request, RequestKind,
    RequestState, Subscription, Tenant, Ticket,
};
use mailplane_types::retention::{LegalHold, RetentionPolicy};
use mailplane_types::suspensions::Suspension;
use mailplane_types::{AuditOutcome, AuditTarget, Duty, Error, Letters, Party, RequestId, Result};

use super::{ControlPlane, Operation, credentials};
use crate::Actor;
use crate::input::Problems;

/// What an operation produced.
#[derive(Debug, Clone)]
pub enum Applied {
    /// The tenant as changed.
    Tenant(Tenant),
    /// The domain created.
    Domain(Domain),
    /// The mailbox created or changed.
    Mailbox(Mailbox),
    /// The credential registered or revoked.
    Credential(Credential),
    /// The ticket opened or updated.
    Ticket(Ticket),
    /// The subscription taken or changed, or whose seat was assigned or taken back.
    Subscription(Subscription),
    /// The alias added.
    Alias(Alias),
    /// The group created or changed.
    Group(Group),
    /// The password policy set.
    PasswordPolicy(PasswordPolicy),
    /// The retention policy as set (none when removed).
    Retention(Option<RetentionPolicy>),
    /// The legal hold placed or released.
    Hold(LegalHold),
    /// The suspension placed or lifted.
    Suspension(Suspension),
    /// The export asked for.
    Export(Export),
    /// The termination made or cancelled.
    Termination(Termination),
    /// The object was deleted.
    Deleted,
}

/// What a call that changes a tenant led to.
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    /// The caller's party holds R and A: the change was made now.
    Done(T),
    /// The caller's party is accountable, the activity is marked `automated`, and provider
    /// automation fulfilled the request at once: the change was made, and the request
    /// (state `fulfilled`) records who asked and who carried it out.
    Automated {
        /// What the operation produced.
        value: T,
        /// The fulfilled request.
        request: Box<Request>,
    },
    /// The change waits for another party: a request to the responsible party (A without R)
    /// or a proposal to the accountable party (R without A).
    Filed(Box<Request>),
}

impl<T> Outcome<T> {
    /// The value when the change was made (now or by automation), `None` when it was filed.
    pub fn done(self) -> Option<T> {
        match self {
            Outcome::Done(v) | Outcome::Automated { value: v, .. } => Some(v),
            Outcome::Filed(_) => None,
        }
    }

    /// The request or proposal behind the outcome, if any.
    pub fn request(&self) -> Option<&Request> {
        match self {
            Outcome::Done(_) => None,
            Outcome::Automated { request, .. } | Outcome::Filed(request) => Some(request),
        }
    }

    /// The same outcome with the value mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Done(v) => Outcome::Done(f(v)),
            Outcome::Automated { value, request } => Outcome::Automated {
                value: f(value),
                request,
            },
            Outcome::Filed(r) => Outcome::Filed(r),
        }
    }

    fn try_map<U>(self, f: impl FnOnce(T) -> Result<U>) -> Result<Outcome<U>> {
        Ok(match self {
            Outcome::Done(v) => Outcome::Done(f(v)?),
            Outcome::Automated { value, request } => Outcome::Automated {
                value: f(value)?,
                request,
            },
            Outcome::Filed(r) => Outcome::Filed(r),
        })
    }
}

macro_rules! applied_into {
    ($($variant:ident => $ty:ty),*) => {$(
        impl TryFrom<Applied> for $ty {
            type Error = Error;
            fn try_from(a: Applied) -> Result<$ty> {
                match a {
                    Applied::$variant(v) => Ok(v),
                    other => Err(Error::internal(format!(
                        "expected a {} from the operation, got {other:?}",
                        stringify!($variant)
                    ))),
                }
            }
        }
    )*};
}
applied_into!(
    Tenant => Tenant,
    Domain => Domain,
    Mailbox => Mailbox,
    Credential => Credential,
    Ticket => Ticket,
    Subscription => Subscription,
    Alias => Alias,
    Group => Group,
    PasswordPolicy => PasswordPolicy,
    Retention => Option<RetentionPolicy>,
    Hold => LegalHold,
    Suspension => Suspension,
    Export => Export,
    Termination => Termination
);

impl TryFrom<Applied> for () {
    type Error = Error;
    fn try_from(a: Applied) -> Result<()> {
        match a {
            Applied::Deleted => Ok(()),
            other => Err(Error::internal(format!(
                "expected a deletion from the operation, got {other:?}"
            ))),
        }
    }
}

/// The change an operation made, for its audit row: what it produced, and the audit
/// target and outcome its resource's `*_apply` body names.
pub(super) struct Made {
    pub(super) applied: Applied,
    pub(super) target: AuditTarget,
    pub(super) target_id: String,
    pub(super) outcome: AuditOutcome,
}

impl Made {
    /// The change an operation made: what it produced, and its audit row's target, id and
    /// outcome.
    pub(super) fn new(
        applied: Applied,
        target: AuditTarget,
        target_id: impl ToString,
        outcome: AuditOutcome,
    ) -> Made {
        Made {
            applied,
            target,
            target_id: target_id.to_string(),
            outcome,
        }
    }

    fn result(&self) -> serde_json::Value {
        change_result(self.target, &self.target_id, self.outcome)
    }
}

/// What a request's `result` says of the change it carried out: the audit row's target, id
/// and outcome, in their one spelling.
fn change_result(target: AuditTarget, id: &str, outcome: AuditOutcome) -> serde_json::Value {
    serde_json::json!({ "kind": target, "id": id, "outcome": outcome })
}

/// A pending request or proposal about to be carried out: the profile version it was filed
/// under, its tenant as it is now, and its operation.
pub(super) struct Pending<'a> {
    pub(super) profile: &'a Profile,
    pub(super) tenant: &'a Tenant,
    pub(super) request: Request,
    pub(super) op: &'a Operation,
}

/// The principal provider automation acts as: audited like any provider principal.
pub const AUTOMATION_SUBJECT: &str = "mailplane-automation";
/// The role provider automation acts with (the linter requires it where `automated` is set).
pub use mailplane_policy::AUTOMATION_ROLE;

impl ControlPlane {
    /// Runs an operation on a tenant as the actor, or files it, as the matrix says.
    pub async fn run<T: TryFrom<Applied, Error = Error>>(
        &self,
        actor: &Actor,
        tenant: mailplane_types::TenantId,
        op: Operation,
        note: Option<String>,
    ) -> Result<Outcome<T>> {
        let tx = self.store.begin().await?;
        let found = tx.tenant_view(actor.scope(), tenant).await?;
        let (tenant_row, profile) = self.visible(actor, found, tenant)?;
        let decision = profile.decide(actor.party(), actor.roles(), op.activity());
        if let Operation::CredentialRegister(input) = &op {
            credentials::may_register(actor, profile, &decision, input)?;
        }
        // A binding that cannot be made is refused now, not when it is approved.
        if let Operation::TenantRebind(input) = &op
            && decision.can_view()
        {
            self.rebind_target(&tenant_row, input)?;
        }
        // Which request, if any, the call files: consulted parties are asked before the
        // activity runs; A without R asks the responsible party, R without A proposes.
        let filed = match decision.verdict {
            Verdict::Execute if consulted(&decision, actor.party()).is_empty() => None,
            Verdict::Execute => Some(RequestKind::Consultation),
            Verdict::Request => Some(RequestKind::Request),
            Verdict::Propose => Some(RequestKind::Proposal),
            Verdict::Observe | Verdict::Refuse => {
                return Err(Error::Forbidden(Box::new(decision.refusal())));
            }
        };
        // A suspended tenant's customer changes nothing in its directory, nor files a change.
        self.customer_not_suspended(&tx, &[actor.party()], &tenant_row, Some(op.kind()))
            .await?;
        let Some(kind) = filed else {
            let made = self.apply(&tx, actor, &tenant_row, &op).await?;
            let change = Self::change(
                actor,
                &decision,
                Some(tenant),
                made.target,
                &made.target_id,
                made.outcome,
            );
            Self::record_and_commit(tx, change).await?;
            return Outcome::Done(made.applied).try_map(T::try_from);
        };
        op.check(profile, self.clock.now())?;
        // A filed operation's input is kept and shown to the party that answers it, so every
        // text in it keeps the free-text rule, not only the names its own check reads.
        let input = op.input();
        let mut problems = Problems::default();
        super::requests::payload_text(&mut problems, "", &input);
        problems.finish()?;
        let note = check_note(note)?;
        let request = self
            .file(
                &tx,
                actor,
                &tenant_row,
                profile,
                &decision,
                kind,
                Some(&op),
                input,
                note,
            )
            .await?;
        let outcome = if kind == RequestKind::Request && profile.automated.contains(op.activity()) {
            let automation = Actor::provider(AUTOMATION_SUBJECT, &[AUTOMATION_ROLE]);
            let pending = Pending {
                profile,
                tenant: &tenant_row,
                request,
                op: &op,
            };
            let (made, request) = self.fulfil_with(&tx, &automation, pending, None).await?;
            Outcome::Automated {
                value: made.applied,
                request: Box::new(request),
            }
        } else {
            Outcome::Filed(Box::new(request))
        };
        tx.commit().await?;
        outcome.try_map(T::try_from)
    }

    /// Files a request or proposal in `tx`, with its audit row and event.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn file(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
        profile: &Profile,
        decision: &Decision,
        kind: RequestKind,
        op: Option<&Operation>,
        payload: serde_json::Value,
        note: String,
    ) -> Result<Request> {
        let responsible = decision.responsible();
        let addressed_to = match kind {
            RequestKind::Request => responsible.clone(),
            RequestKind::Proposal => decision.accountable().into_iter().collect(),
            RequestKind::Consultation => consulted(decision, actor.party()),
        };
        let expires_at = self.clock.now()
            + match kind {
                RequestKind::Consultation => profile.consultation_deadline,
                _ => profile.request_deadline,
            };
        let request = tx
            .request_insert(NewRequest {
                tenant_id: tenant.id,
                activity: decision.activity.to_string(),
                profile: tenant.profile.clone(),
                profile_version: tenant.profile_version,
                payload,
                note,
                requester: (
                    actor.subject().to_string(),
                    actor.party(),
                    actor.org().to_string(),
                ),
                requester_roles: actor.roles().to_vec(),
                responsible,
                kind,
                addressed_to: addressed_to.clone(),
                operation: op.map(|o| o.name().to_string()),
                expires_at: Some(expires_at),
            })
            .await?;
        let outcome = match kind {
            RequestKind::Request => AuditOutcome::Requested,
            RequestKind::Proposal => AuditOutcome::Proposed,
            RequestKind::Consultation => AuditOutcome::Consulting,
        };
        let mut change = Self::change(
            actor,
            decision,
            Some(tenant.id),
            AuditTarget::Request,
            request.id,
            outcome,
        );
        change.request_id = Some(request.id);
        // The parties whose answer it waits for are owed news of it, whatever their I.
        for p in addressed_to {
            if !change.audience.contains(&p) {
                change.audience.push(p);
            }
        }
        tx.record(change).await?;
        Ok(request)
    }

    /// Fulfils a pending request in `tx` by running its operation as `fulfiller`: the
    /// change's audit row names the fulfiller and the request, and a second row records the
    /// request's transition. Returns the change and the request as it now stands.
    pub(super) async fn fulfil_with(
        &self,
        tx: &WriteTx,
        fulfiller: &Actor,
        pending: Pending<'_>,
        reason: Option<String>,
    ) -> Result<(Made, Request)> {
        let decision =
            pending
                .profile
                .decide(fulfiller.party(), fulfiller.roles(), pending.op.activity());
        if !decision.exercisable.has(mailplane_types::Duty::R) {
            return Err(Error::Forbidden(Box::new(decision.refusal())));
        }
        let closing = (fulfiller, &decision, RequestState::Fulfilled, reason);
        self.carry_out(tx, fulfiller, &decision, pending, closing)
            .await
    }

    /// Approves a pending proposal (or a consultation) in `tx`: its operation runs as the
    /// party that filed it, with the roles it filed with; the change's audit row names that
    /// party and the request, and the transition's row names the approver.
    pub(super) async fn approve_with(
        &self,
        tx: &WriteTx,
        approver: &Actor,
        approver_decision: &Decision,
        pending: Pending<'_>,
        reason: Option<String>,
        to: RequestState,
    ) -> Result<Request> {
        let request = &pending.request;
        let org = request
            .requester_org
            .parse()
            .map_err(|e| Error::internal(format!("proposal {}: {e}", request.id)))?;
        let roles: Vec<&str> = request.requester_roles.iter().map(String::as_str).collect();
        let proposer = Actor::new(request.requester.clone(), org, &roles);
        let decision =
            pending
                .profile
                .decide(proposer.party(), proposer.roles(), pending.op.activity());
        if !decision.exercisable.has(mailplane_types::Duty::R) {
            return Err(Error::conflict(
                None,
                format!(
                    "the proposer's roles no longer exercise R on `{}`: the proposal cannot run",
                    pending.op.activity()
                ),
            ));
        }
        let closing = (approver, approver_decision, to, reason);
        Ok(self
            .carry_out(tx, &proposer, &decision, pending, closing)
            .await?
            .1)
    }

    /// Runs a filed operation as `doer` and closes its request as the closer, in `tx`: the
    /// change's audit row and event name the request, and the requester learns of the change
    /// made by another party; a suspended tenant's customer has no part in a directory change.
    /// Deleting the tenant deletes its requests, so this one is closed first, result known.
    async fn carry_out(
        &self,
        tx: &WriteTx,
        doer: &Actor,
        decision: &Decision,
        pending: Pending<'_>,
        closing: (&Actor, &Decision, RequestState, Option<String>),
    ) -> Result<(Made, Request)> {
        let Pending {
            tenant,
            request,
            op,
            ..
        } = pending;
        let (closer, closer_decision, to, reason) = closing;
        self.filed_not_suspended(tx, [doer, closer], &request, tenant, op)
            .await?;
        let inform = (doer.party() != request.requester_party).then_some(request.requester_party);
        if matches!(op, Operation::TenantDelete {}) {
            let result = change_result(
                AuditTarget::Tenant,
                &tenant.id.to_string(),
                AuditOutcome::Deleted,
            );
            let closed = self
                .transition_in(
                    tx,
                    closer,
                    closer_decision,
                    request,
                    to,
                    reason,
                    Some(result),
                )
                .await?;
            let made = self
                .apply_as(tx, doer, decision, tenant, op, closed.id, inform)
                .await?;
            return Ok((made, closed));
        }
        let made = self
            .apply_as(tx, doer, decision, tenant, op, request.id, inform)
            .await?;
        let result = made.result();
        let request = self
            .transition_in(
                tx,
                closer,
                closer_decision,
                request,
                to,
                reason,
                Some(result),
            )
            .await?;
        Ok((made, request))
    }

    /// Applies a filed operation as `actor` and writes its audit row and event, naming the
    /// request it carries out; `inform` adds a party to the event's audience.
    #[allow(clippy::too_many_arguments)]
    async fn apply_as(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        decision: &Decision,
        tenant: &Tenant,
        op: &Operation,
        request: RequestId,
        inform: Option<Party>,
    ) -> Result<Made> {
        let made = self.apply(tx, actor, tenant, op).await?;
        let mut change = Self::change(
            actor,
            decision,
            Some(tenant.id),
            made.target,
            &made.target_id,
            made.outcome,
        );
        change.request_id = Some(request);
        if let Some(p) = inform {
            add(&mut change.audience, p);
        }
        tx.record(change).await?;
        Ok(made)
    }
}

/// A requester's note: at most 2000 characters of safe prose.
pub(super) fn check_note(note: Option<String>) -> Result<String> {
    let mut problems = Problems::default();
    let note = problems.prose(
        "note",
        note.as_deref().unwrap_or_default(),
        false,
        mailplane_types::limits::NOTE_CHARS,
    );
    problems.finish()?;
    Ok(note)
}

/// Authorizes an operation that is never filed as a request, proposal or consultation: the
/// caller's party must hold R and A (else 403, with `why` added to the refusal), and no
/// other party may be owed a consultation first (else 409 saying so).
pub(super) fn unfiled(decision: &Decision, acting: Party, why: &str) -> Result<()> {
    if decision.verdict != Verdict::Execute {
        let mut refusal = decision.refusal();
        refusal.reason = format!("{} {why}", refusal.reason);
        return Err(Error::Forbidden(Box::new(refusal)));
    }
    let parties: Vec<String> = consulted(decision, acting)
        .iter()
        .map(ToString::to_string)
        .collect();
    if !parties.is_empty() {
        return Err(Error::conflict(
            None,
            format!(
                "the profile consults {} before `{}`, and this operation is never filed: {why}",
                parties.join(" and "),
                decision.activity
            ),
        ));
    }
    Ok(())
}

/// The parties consulted on an activity (they hold C), other than the acting party.
pub(super) fn consulted(decision: &Decision, acting: Party) -> Vec<Party> {
    Party::ALL
        .into_iter()
        .filter(|p| *p != acting && decision.letters[p.index()].has(mailplane_types::Duty::C))
        .collect()
}

/// Adds a party to an audience once.
pub(super) fn add(audience: &mut Vec<Party>, party: Party) {
    if !audience.contains(&party) {
        audience.push(party);
    }
}

impl ControlPlane {
    /// Records a consulted party's answer in `tx`. The last consent runs the activity; an
    /// objection hands the consultation to the accountable party with a new deadline.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn consultation_answer(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        decision: &Decision,
        profile: &Profile,
        tenant: &mailplane_types::resources::Tenant,
        request: Request,
        op: Option<super::Operation>,
        consent: bool,
        reason: Option<String>,
    ) -> Result<Request> {
        if request.answers.iter().any(|a| a.party == actor.party()) {
            return Err(Error::conflict(
                None,
                "your party has answered this consultation already",
            ));
        }
        let now = self.clock.now();
        let mut answers = request.answers.clone();
        answers.push(ConsultationAnswer {
            party: actor.party(),
            by: actor.subject().to_string(),
            consent,
            reason,
            at: now,
        });
        let escalate =
            (!consent).then_some((request.requester_party, now + profile.request_deadline));
        if !tx
            .consultation_answer(request.id, &answers, escalate)
            .await?
        {
            return Err(Error::conflict(
                None,
                "the consultation is no longer pending",
            ));
        }
        let outcome = if consent {
            AuditOutcome::Consented
        } else {
            AuditOutcome::Objected
        };
        let mut change = Self::change(
            actor,
            decision,
            Some(request.tenant_id),
            AuditTarget::Request,
            request.id,
            outcome,
        );
        change.letters = Letters::one(Duty::C);
        change.request_id = Some(request.id);
        add(&mut change.audience, request.requester_party);
        tx.record(change).await?;
        let everyone = request
            .addressed_to
            .iter()
            .all(|p| answers.iter().any(|a| a.party == *p));
        let request = tx
            .request_view(Scope::All, &[], request.id)
            .await?
            .ok_or_else(|| Error::not_found("request", request.id))?;
        if consent && everyone && answers.iter().all(|a| a.consent) {
            return self
                .consultation_proceed(tx, actor, decision, profile, tenant, request, op)
                .await;
        }
        Ok(request)
    }

    /// Runs a consulted activity, as the party that asked, and closes the consultation:
    /// after the last consent, or at the deadline with no objection.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn consultation_proceed(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        decision: &Decision,
        profile: &Profile,
        tenant: &mailplane_types::resources::Tenant,
        request: Request,
        op: Option<super::Operation>,
    ) -> Result<Request> {
        self.wake_termination(tx, &request).await?;
        match op {
            Some(op) => {
                let pending = Pending {
                    profile,
                    tenant,
                    request,
                    op: &op,
                };
                self.approve_with(tx, actor, decision, pending, None, RequestState::Fulfilled)
                    .await
            }
            None => {
                self.transition_in(
                    tx,
                    actor,
                    decision,
                    request,
                    RequestState::Fulfilled,
                    None,
                    None,
                )
                .await
            }
        }
    }
}

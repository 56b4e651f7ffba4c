//! Requests and proposals: how work moves between the parties of a tenant's profile.
//!
//! A *request* goes from the accountable party to the responsible party (A without R): the
//! responsible party fulfils or declines it. A *proposal* goes from the responsible party to
//! the accountable party (R without A): the accountable party approves it, and its operation
//! runs as the proposer, or rejects it. Either is filed under the tenant's profile version
//! and keeps it, waits at most the profile's `request_deadline`, and may be cancelled by the
//! party that filed it.
//!
//! Every transition out of `pending` is a conditional update in the same transaction as the
//! operation it runs, its audit rows and its events, so of two operators clicking at once
//! exactly one wins, and a failed operation leaves the request pending.

use mailplane_policy::{Decision, Profile, Verdict};
use mailplane_store::{Page, RequestDecision, Scope, WriteTx};
use mailplane_types::resources::{Request, RequestKind, RequestState};
use mailplane_types::{AuditTarget, Duty, Error, Letters, RequestId, Result, TenantId};

use super::workflow::{AUTOMATION_ROLE, AUTOMATION_SUBJECT, Pending, add, check_note};
use super::{ControlPlane, page_request};
use crate::Actor;
use crate::input::{Problems, RequestCreate, RequestResolution};

/// What a party does with a pending request or proposal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Fulfil,
    Decline,
    Approve,
    Reject,
    Consent,
    Object,
}

impl Answer {
    /// Whether the answer fits a request of this kind. The accountable party approves a
    /// proposal, or a consultation that an objection handed back to it.
    fn fits(self, kind: RequestKind) -> bool {
        matches!(
            (self, kind),
            (Answer::Fulfil | Answer::Decline, RequestKind::Request)
                | (Answer::Approve | Answer::Reject, RequestKind::Proposal)
                | (Answer::Approve, RequestKind::Consultation)
                | (Answer::Consent | Answer::Object, RequestKind::Consultation)
        )
    }

    fn verb(self) -> &'static str {
        match self {
            Answer::Fulfil => "fulfilled",
            Answer::Decline => "declined",
            Answer::Approve => "approved",
            Answer::Reject => "rejected",
            Answer::Consent => "consented",
            Answer::Object => "objected",
        }
    }

    /// The letter the answering party must exercise: R to carry a request out, A to
    /// approve, C to answer a consultation.
    fn letter(self) -> Duty {
        match self {
            Answer::Fulfil | Answer::Decline => Duty::R,
            Answer::Approve | Answer::Reject => Duty::A,
            Answer::Consent | Answer::Object => Duty::C,
        }
    }

    fn needs_reason(self) -> bool {
        matches!(self, Answer::Decline | Answer::Reject | Answer::Object)
    }
}

/// The most requests one sweep expires; the next sweep takes the rest.
const EXPIRY_BATCH: u64 = 500;

impl ControlPlane {
    fn partner_scope_profiles(&self, actor: &Actor) -> Vec<String> {
        self.profiles_naming_party(actor, |_| true)
    }

    /// Files a request or proposal for `activity` on a tenant, for work Mailplane does not
    /// carry out itself (a disclaimer, a mobile-device wipe): the payload describes it.
    /// A caller whose party is accountable but not responsible files a request; one that is
    /// responsible but not accountable files a proposal. A party that may carry the activity
    /// out itself is told so, and any other caller is refused with the letters.
    pub async fn request_create(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: RequestCreate,
    ) -> Result<Request> {
        let tx = self.store.begin().await?;
        let found = tx.tenant_view(actor.scope(), tenant).await?;
        let (tenant_row, profile) = self.visible(actor, found, tenant)?;
        let activity = input.activity.trim().to_string();
        if profile.activity(&activity).is_none() {
            return Err(Error::invalid(
                "activity",
                format!("is not an activity of profile {}", profile.key()),
            ));
        }
        let decision = profile.decide(actor.party(), actor.roles(), &activity);
        let kind = match decision.verdict {
            Verdict::Request => RequestKind::Request,
            Verdict::Propose => RequestKind::Proposal,
            Verdict::Execute => {
                return Err(Error::invalid(
                    "activity",
                    format!(
                        "your party holds R and A on `{activity}`: it carries it out itself, no request is needed"
                    ),
                ));
            }
            Verdict::Observe | Verdict::Refuse => {
                return Err(Error::Forbidden(Box::new(decision.refusal())));
            }
        };
        let mut problems = Problems::default();
        let payload = input.payload.unwrap_or_else(|| serde_json::json!({}));
        if !payload.is_object() {
            problems.add("payload", "must be a JSON object");
        } else if payload.to_string().len() > 16 * 1024 {
            problems.add("payload", "must be at most 16 KiB");
        } else {
            payload_text(&mut problems, "payload", &payload);
        }
        let note = check_note(input.note);
        problems.finish()?;
        let note = note?;
        let request = self
            .file(
                &tx,
                actor,
                &tenant_row,
                profile,
                &decision,
                kind,
                None,
                payload,
                note,
            )
            .await?;
        tx.commit().await?;
        Ok(request)
    }

    /// A request the actor may see: of its tenant, its customers' tenants, or any (provider).
    pub async fn request_view(&self, actor: &Actor, id: RequestId) -> Result<Request> {
        let request = self
            .store
            .request_view(actor.scope(), &self.partner_scope_profiles(actor), id)
            .await?
            .ok_or_else(|| Error::not_found("request", id))?;
        self.request_profile(actor, &request)?;
        Ok(request)
    }

    /// Requests the actor may see, optionally in one state (`pending` is the queue).
    pub async fn request_list(
        &self,
        actor: &Actor,
        state: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<Request>> {
        let state = state
            .map(|s| {
                RequestState::parse(s).ok_or_else(|| {
                    let all: Vec<&str> = RequestState::ALL.iter().map(|s| s.as_str()).collect();
                    Error::invalid("state", format!("must be one of {}", all.join(", ")))
                })
            })
            .transpose()?;
        let page = page_request(cursor, limit)?;
        let mut result = self
            .store
            .request_list(
                actor.scope(),
                &self.partner_scope_profiles(actor),
                state,
                page,
            )
            .await?;
        if actor.scope() != Scope::All {
            result
                .items
                .retain(|r| self.request_profile(actor, r).is_ok());
        }
        Ok(result)
    }

    /// The profile version a request was filed under; the actor's party must be one of its
    /// parties, or the request is as invisible as its tenant.
    fn request_profile(&self, actor: &Actor, request: &Request) -> Result<&Profile> {
        let profile = self.request_profile_any(request)?;
        if !profile.parties.contains(&actor.party()) {
            return Err(Error::not_found("request", request.id));
        }
        Ok(profile)
    }

    /// Carries a pending request out: the caller must exercise R on its activity. When the
    /// request carries an operation, the operation runs now as the caller.
    pub async fn request_fulfil(
        &self,
        actor: &Actor,
        id: RequestId,
        input: RequestResolution,
    ) -> Result<Request> {
        self.answer(actor, id, Answer::Fulfil, input).await
    }

    /// Declines a pending request with a reason: the caller must exercise R on its activity.
    pub async fn request_decline(
        &self,
        actor: &Actor,
        id: RequestId,
        input: RequestResolution,
    ) -> Result<Request> {
        self.answer(actor, id, Answer::Decline, input).await
    }

    /// Approves a pending proposal: the caller's party must be accountable and the caller
    /// must exercise A. The proposal's operation runs now, as the proposer.
    pub async fn request_approve(
        &self,
        actor: &Actor,
        id: RequestId,
        input: RequestResolution,
    ) -> Result<Request> {
        self.answer(actor, id, Answer::Approve, input).await
    }

    /// Rejects a pending proposal with a reason: the caller must exercise A.
    pub async fn request_reject(
        &self,
        actor: &Actor,
        id: RequestId,
        input: RequestResolution,
    ) -> Result<Request> {
        self.answer(actor, id, Answer::Reject, input).await
    }

    async fn answer(
        &self,
        actor: &Actor,
        id: RequestId,
        how: Answer,
        input: RequestResolution,
    ) -> Result<Request> {
        let mut problems = Problems::default();
        let reason = input
            .reason
            .map(|r| problems.prose("reason", &r, false, mailplane_types::limits::NOTE_CHARS))
            .filter(|r| !r.is_empty());
        if reason.is_none() && how.needs_reason() {
            problems.add(
                "reason",
                format!("is required when a request is {}", how.verb()),
            );
        }
        let tx = self.store.begin().await?;
        let request = tx
            .request_view(actor.scope(), &self.partner_scope_profiles(actor), id)
            .await?
            .ok_or_else(|| Error::not_found("request", id))?;
        let profile = self.request_profile(actor, &request)?;
        let decision = profile.decide(actor.party(), actor.roles(), &request.activity);
        if !decision.exercisable.has(how.letter()) || !request.addressed_to.contains(&actor.party())
        {
            return Err(Error::Forbidden(Box::new(decision.refusal())));
        }
        if !how.fits(request.kind) {
            let other = match request.kind {
                RequestKind::Request => "fulfil or decline",
                RequestKind::Proposal => "approve or reject",
                RequestKind::Consultation => "consent, object, or approve after an objection",
            };
            return Err(Error::conflict(
                None,
                format!("this is a {}: {other} it instead", request.kind.as_str()),
            ));
        }
        problems.finish()?;
        let (tx, request) = self.unless_expired(tx, request).await?;
        if request.state != RequestState::Pending {
            return Err(Error::conflict(
                None,
                format!(
                    "the {} is {} already; only a pending one can be {}",
                    request.kind.as_str(),
                    request.state.as_str(),
                    how.verb()
                ),
            ));
        }
        let tenant = tx
            .tenant_view(Scope::All, request.tenant_id)
            .await?
            .ok_or_else(|| Error::not_found("tenant", request.tenant_id))?;
        let op = Self::operation_of(&request)?;
        self.wake_termination(&tx, &request).await?;
        let request = match (how, op) {
            (Answer::Fulfil, Some(op)) => {
                let pending = Pending {
                    profile,
                    tenant: &tenant,
                    request,
                    op: &op,
                };
                self.fulfil_with(&tx, actor, pending, reason).await?.1
            }
            (Answer::Approve, Some(op)) => {
                let pending = Pending {
                    profile,
                    tenant: &tenant,
                    request,
                    op: &op,
                };
                self.approve_with(
                    &tx,
                    actor,
                    &decision,
                    pending,
                    reason,
                    RequestState::Approved,
                )
                .await?
            }
            (Answer::Consent | Answer::Object, op) => {
                let consent = how == Answer::Consent;
                self.consultation_answer(
                    &tx, actor, &decision, profile, &tenant, request, op, consent, reason,
                )
                .await?
            }
            (how, _) => {
                let to = match how {
                    Answer::Fulfil => RequestState::Fulfilled,
                    Answer::Approve => RequestState::Approved,
                    Answer::Decline => RequestState::Declined,
                    Answer::Reject | Answer::Consent | Answer::Object => RequestState::Rejected,
                };
                self.transition_in(&tx, actor, &decision, request, to, reason, None)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(request)
    }

    /// Consents to a pending consultation: the caller's party must be consulted (C). When
    /// every consulted party has consented, the activity runs, as the party that asked.
    pub async fn request_consent(
        &self,
        actor: &Actor,
        id: RequestId,
        input: RequestResolution,
    ) -> Result<Request> {
        self.answer(actor, id, Answer::Consent, input).await
    }

    /// Objects to a pending consultation, with a reason: the activity does not run, and the
    /// accountable party decides, approving it anyway or cancelling it.
    pub async fn request_object(
        &self,
        actor: &Actor,
        id: RequestId,
        input: RequestResolution,
    ) -> Result<Request> {
        self.answer(actor, id, Answer::Object, input).await
    }

    /// Wakes the termination of the request's tenant when the request is about destroying
    /// its configuration: a termination waiting on a consultation goes on (or stops) at
    /// once after an answer, not at its next check.
    pub(super) async fn wake_termination(&self, tx: &WriteTx, request: &Request) -> Result<()> {
        if request.activity.as_str() == super::activity::TENANT_DESTROY
            && let Some(t) = tx.termination_current(request.tenant_id).await?
        {
            tx.job_wake(
                super::jobs::TERMINATION_JOB,
                t.termination.id.uuid(),
                self.clock.now(),
            )
            .await?;
        }
        Ok(())
    }

    /// Withdraws a pending request or proposal: the caller's party must be the one that
    /// filed it, and the caller must exercise the letter it was filed with.
    pub async fn request_cancel(&self, actor: &Actor, id: RequestId) -> Result<Request> {
        let tx = self.store.begin().await?;
        let request = tx
            .request_view(actor.scope(), &self.partner_scope_profiles(actor), id)
            .await?
            .ok_or_else(|| Error::not_found("request", id))?;
        let profile = self.request_profile(actor, &request)?;
        let decision = profile.decide(actor.party(), actor.roles(), &request.activity);
        let letter = match request.kind {
            RequestKind::Request | RequestKind::Consultation => Duty::A,
            RequestKind::Proposal => Duty::R,
        };
        if actor.party() != request.requester_party || !decision.exercisable.has(letter) {
            return Err(Error::Forbidden(Box::new(decision.refusal())));
        }
        let (tx, request) = self.unless_expired(tx, request).await?;
        let request = self
            .transition_in(
                &tx,
                actor,
                &decision,
                request,
                RequestState::Cancelled,
                None,
                None,
            )
            .await?;
        // A withdrawn consultation on a destruction stops its termination at `blocked` now,
        // as an answer would, rather than at the termination's next check an hour later.
        self.wake_termination(&tx, &request).await?;
        tx.commit().await?;
        Ok(request)
    }

    /// Expires every pending request or proposal whose deadline has passed by the control
    /// plane's clock, as provider automation; returns how many expired. The server runs this
    /// periodically; an answer to an overdue request expires it too, so a slow sweep never
    /// lets a late answer through.
    pub async fn requests_expire(&self) -> Result<usize> {
        let due = {
            let tx = self.store.begin().await?;
            tx.requests_due(self.clock.now(), EXPIRY_BATCH).await?
        };
        let mut done = 0;
        // Each request in its own transaction: one that fails (its profile version is not
        // loaded, or a consulted activity no longer fits the tenant) rolls back alone and
        // does not hold up the others.
        for request in due {
            let id = request.id;
            let tx = self.store.begin().await?;
            let Some(request) = tx.request_view(Scope::All, &[], id).await? else {
                continue;
            };
            if request.state != RequestState::Pending {
                continue;
            }
            let open_consultation = is_open_consultation(&request);
            // The transaction ends here either way (a failure rolls it back), before any
            // other is opened: SQLite has one writer.
            let attempt = match self.expire_in(&tx, request.clone()).await {
                Ok(()) => tx.commit().await,
                Err(e) => {
                    drop(tx);
                    Err(e)
                }
            };
            match attempt {
                Ok(()) => done += 1,
                // A consultation whose activity cannot run any more expires instead, so it
                // is not retried for ever.
                Err(e) if open_consultation => {
                    tracing::warn!(request = %id, error = %e, "the consulted activity cannot run; it expires");
                    let tx = self.store.begin().await?;
                    let mut closed = request;
                    closed.addressed_to = vec![closed.requester_party];
                    let profile = self.request_profile_any(&closed)?;
                    let automation = Actor::provider(AUTOMATION_SUBJECT, &[AUTOMATION_ROLE]);
                    let decision =
                        profile.decide(automation.party(), automation.roles(), &closed.activity);
                    self.transition_in(
                        &tx,
                        &automation,
                        &decision,
                        closed,
                        RequestState::Expired,
                        Some(format!("the activity could not run at the deadline: {e}")),
                        None,
                    )
                    .await?;
                    tx.commit().await?;
                    done += 1;
                }
                Err(e) => {
                    tracing::warn!(request = %id, error = %e, "cannot expire the request; skipped");
                }
            }
        }
        Ok(done)
    }

    /// The loaded profile version a request was filed under, whoever asks.
    fn request_profile_any(&self, request: &Request) -> Result<&Profile> {
        self.policies
            .get_version(&request.profile, request.profile_version)
            .map(|p| p.as_ref())
            .ok_or_else(|| {
                Error::internal(format!(
                    "request {} was filed under {}@{}, which is not loaded",
                    request.id, request.profile, request.profile_version
                ))
            })
    }

    /// Passes the request through when it is still within its deadline. An overdue one is
    /// expired and committed, and the caller learns that it expired.
    async fn unless_expired(&self, tx: WriteTx, request: Request) -> Result<(WriteTx, Request)> {
        let overdue = request.expires_at.filter(|at| *at <= self.clock.now());
        let Some(at) = overdue.filter(|_| request.state == RequestState::Pending) else {
            return Ok((tx, request));
        };
        let proceeds = is_open_consultation(&request);
        self.expire_in(&tx, request).await?;
        tx.commit().await?;
        let at = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Err(Error::conflict(
            None,
            if proceeds {
                format!(
                    "the consultation's deadline passed at {at} without an objection; the activity was carried out"
                )
            } else {
                format!("the request expired at {at}; file a new one")
            },
        ))
    }

    /// Moves one pending request to `expired`, as provider automation, in `tx`.
    async fn expire_in(&self, tx: &WriteTx, request: Request) -> Result<()> {
        let profile = self.request_profile_any(&request)?;
        let automation = Actor::provider(AUTOMATION_SUBJECT, &[AUTOMATION_ROLE]);
        let decision = profile.decide(automation.party(), automation.roles(), &request.activity);
        // A consultation nobody objected to proceeds at its deadline, as the party that
        // asked; one an objection handed back to the accountable party expires.
        if is_open_consultation(&request) {
            let tenant = tx
                .tenant_view(Scope::All, request.tenant_id)
                .await?
                .ok_or_else(|| Error::not_found("tenant", request.tenant_id))?;
            let op = Self::operation_of(&request)?;
            return self
                .consultation_proceed(tx, &automation, &decision, profile, &tenant, request, op)
                .await
                .map(|_| ());
        }
        match self
            .transition_in(
                tx,
                &automation,
                &decision,
                request,
                RequestState::Expired,
                None,
                None,
            )
            .await
        {
            // Someone answered it between the read and the update: nothing to expire.
            Err(Error::Conflict { .. }) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Moves a pending request to `to` in `tx` and records it: the audit row names the
    /// request, and the requester and the parties it waited for learn the outcome.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn transition_in(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        decision: &Decision,
        request: Request,
        to: RequestState,
        reason: Option<String>,
        result: Option<serde_json::Value>,
    ) -> Result<Request> {
        let decided = tx
            .request_decide(
                request.id,
                RequestDecision {
                    to,
                    by: actor.subject(),
                    reason,
                    result,
                },
            )
            .await?;
        if !decided {
            return Err(Error::conflict(
                None,
                format!(
                    "the {} is no longer pending; only a pending one can be {}",
                    request.kind.as_str(),
                    to.as_str()
                ),
            ));
        }
        let mut change = Self::change(
            actor,
            decision,
            Some(request.tenant_id),
            AuditTarget::Request,
            request.id,
            to.audit_outcome()
                .ok_or_else(|| Error::internal("a request never moves back to pending"))?,
        );
        change.request_id = Some(request.id);
        // The letters an answer uses: R to fulfil or decline, A to approve or reject or to
        // cancel a request, R to cancel a proposal; expiry uses none.
        change.letters = match to {
            // A consultation closes on the last consent (C) or at its deadline (none).
            RequestState::Fulfilled if request.kind == RequestKind::Consultation => {
                if request.addressed_to.contains(&actor.party()) {
                    Letters::one(Duty::C)
                } else {
                    Letters::NONE
                }
            }
            RequestState::Fulfilled | RequestState::Declined => Letters::one(Duty::R),
            RequestState::Approved | RequestState::Rejected => Letters::one(Duty::A),
            RequestState::Cancelled if request.kind != RequestKind::Proposal => {
                Letters::one(Duty::A)
            }
            RequestState::Cancelled => Letters::one(Duty::R),
            RequestState::Expired | RequestState::Pending => Letters::NONE,
        };
        add(&mut change.audience, request.requester_party);
        for p in &request.addressed_to {
            add(&mut change.audience, *p);
        }
        tx.record(change).await?;
        tx.request_view(Scope::All, &[], request.id)
            .await?
            .ok_or_else(|| Error::not_found("request", request.id))
    }
}

/// A consultation still waiting for its consulted parties (no objection handed it back to
/// the accountable party, the one that asked).
fn is_open_consultation(request: &Request) -> bool {
    request.kind == RequestKind::Consultation
        && !request.addressed_to.contains(&request.requester_party)
}

/// Checks every text of a request's payload, keys as lines and values as prose, since the
/// payload is shown to the party that answers; each problem names the path of its value
/// (`payload.users[2]`, or `users[2]` from the root path `""`).
pub(super) fn payload_text(problems: &mut Problems, path: &str, value: &serde_json::Value) {
    use mailplane_types::text::{TextKind, check};
    match value {
        serde_json::Value::String(s) => {
            if let Err(rule) = check(s, TextKind::Prose) {
                problems.add(path, rule);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                payload_text(problems, &format!("{path}[{i}]"), item);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                if let Err(rule) = check(key, TextKind::Line) {
                    let field = if path.is_empty() { "body" } else { path };
                    problems.add(field, format!("has a key that {rule}"));
                    continue;
                }
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                payload_text(problems, &path, item);
            }
        }
        _ => {}
    }
}

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
use mailplane_types::{Duty, Error, Letters, Result, TenantId};
use uuid::Uuid;

use super::operations::{AUTOMATION_ROLE, AUTOMATION_SUBJECT, Pending, add, check_note};
use super::{Change, ControlPlane, page_request};
use crate::Actor;
use crate::input::{Problems, RequestCreate, RequestResolution};

/// What a party does with a pending request or proposal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Fulfil,
    Decline,
    Approve,
    Reject,
}

impl Answer {
    fn kind(self) -> RequestKind {
        match self {
            Answer::Fulfil | Answer::Decline => RequestKind::Request,
            Answer::Approve | Answer::Reject => RequestKind::Proposal,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Answer::Fulfil => "fulfilled",
            Answer::Decline => "declined",
            Answer::Approve => "approved",
            Answer::Reject => "rejected",
        }
    }

    /// The letter the answering party must exercise: R to carry a request out, A to
    /// approve a proposal.
    fn letter(self) -> Duty {
        match self.kind() {
            RequestKind::Request => Duty::R,
            RequestKind::Proposal => Duty::A,
        }
    }

    fn needs_reason(self) -> bool {
        matches!(self, Answer::Decline | Answer::Reject)
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
        let found = tx.tenant_get(actor.scope(), tenant).await?;
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
    pub async fn request_get(&self, actor: &Actor, id: Uuid) -> Result<Request> {
        let request = self
            .store
            .request_get(actor.scope(), &self.partner_scope_profiles(actor), id)
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
        let profile = self
            .policies
            .get(&request.profile)
            .filter(|p| p.version == request.profile_version)
            .ok_or_else(|| {
                Error::internal(format!(
                    "request {} was filed under {}@{}, which is not loaded",
                    request.id, request.profile, request.profile_version
                ))
            })?;
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
        id: Uuid,
        input: RequestResolution,
    ) -> Result<Request> {
        self.answer(actor, id, Answer::Fulfil, input).await
    }

    /// Declines a pending request with a reason: the caller must exercise R on its activity.
    pub async fn request_decline(
        &self,
        actor: &Actor,
        id: Uuid,
        input: RequestResolution,
    ) -> Result<Request> {
        self.answer(actor, id, Answer::Decline, input).await
    }

    /// Approves a pending proposal: the caller's party must be accountable and the caller
    /// must exercise A. The proposal's operation runs now, as the proposer.
    pub async fn request_approve(
        &self,
        actor: &Actor,
        id: Uuid,
        input: RequestResolution,
    ) -> Result<Request> {
        self.answer(actor, id, Answer::Approve, input).await
    }

    /// Rejects a pending proposal with a reason: the caller must exercise A.
    pub async fn request_reject(
        &self,
        actor: &Actor,
        id: Uuid,
        input: RequestResolution,
    ) -> Result<Request> {
        self.answer(actor, id, Answer::Reject, input).await
    }

    async fn answer(
        &self,
        actor: &Actor,
        id: Uuid,
        how: Answer,
        input: RequestResolution,
    ) -> Result<Request> {
        let reason = input
            .reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        let mut problems = Problems::default();
        match &reason {
            None if how.needs_reason() => problems.add(
                "reason",
                format!("is required when a request is {}", how.verb()),
            ),
            Some(r) if r.chars().count() > 2000 => {
                problems.add("reason", "must be at most 2000 characters")
            }
            Some(r) if r.contains('\0') => {
                problems.add("reason", "must not contain NUL characters")
            }
            _ => {}
        }
        let tx = self.store.begin().await?;
        let request = tx
            .request_get(actor.scope(), &self.partner_scope_profiles(actor), id)
            .await?
            .ok_or_else(|| Error::not_found("request", id))?;
        let profile = self.request_profile(actor, &request)?;
        let decision = profile.decide(actor.party(), actor.roles(), &request.activity);
        if !decision.exercisable.has(how.letter()) || !request.addressed_to.contains(&actor.party())
        {
            return Err(Error::Forbidden(Box::new(decision.refusal())));
        }
        if request.kind != how.kind() {
            let other = match request.kind {
                RequestKind::Request => "fulfil or decline",
                RequestKind::Proposal => "approve or reject",
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
            .tenant_get(Scope::All, request.tenant_id)
            .await?
            .ok_or_else(|| Error::not_found("tenant", request.tenant_id))?;
        let op = Self::operation_of(&request)?;
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
                self.approve_with(&tx, actor, &decision, pending, reason)
                    .await?
            }
            (how, _) => {
                let to = match how {
                    Answer::Fulfil => RequestState::Fulfilled,
                    Answer::Approve => RequestState::Approved,
                    Answer::Decline => RequestState::Declined,
                    Answer::Reject => RequestState::Rejected,
                };
                self.transition_in(&tx, actor, &decision, request, to, reason, None)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(request)
    }

    /// Withdraws a pending request or proposal: the caller's party must be the one that
    /// filed it, and the caller must exercise the letter it was filed with.
    pub async fn request_cancel(&self, actor: &Actor, id: Uuid) -> Result<Request> {
        let tx = self.store.begin().await?;
        let request = tx
            .request_get(actor.scope(), &self.partner_scope_profiles(actor), id)
            .await?
            .ok_or_else(|| Error::not_found("request", id))?;
        let profile = self.request_profile(actor, &request)?;
        let decision = profile.decide(actor.party(), actor.roles(), &request.activity);
        let letter = match request.kind {
            RequestKind::Request => Duty::A,
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
        tx.commit().await?;
        Ok(request)
    }

    /// Expires every pending request or proposal whose deadline has passed by the control
    /// plane's clock, as provider automation; returns how many expired. The server runs this
    /// periodically; an answer to an overdue request expires it too, so a slow sweep never
    /// lets a late answer through.
    pub async fn requests_expire(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let tx = self.store.begin().await?;
            let due = tx.requests_due(self.clock.now(), EXPIRY_BATCH).await?;
            let n = due.len();
            for request in due {
                let id = request.id;
                // One request that cannot be expired (its profile version is not loaded)
                // must not hold up the others: it is reported and skipped.
                if let Err(e) = self.expire_in(&tx, request).await {
                    tracing::warn!(request = %id, error = %e, "cannot expire the request; skipped");
                }
            }
            tx.commit().await?;
            total += n;
            if (n as u64) < EXPIRY_BATCH {
                return Ok(total);
            }
        }
    }

    /// Passes the request through when it is still within its deadline. An overdue one is
    /// expired and committed, and the caller learns that it expired.
    async fn unless_expired(&self, tx: WriteTx, request: Request) -> Result<(WriteTx, Request)> {
        let overdue = request.expires_at.filter(|at| *at <= self.clock.now());
        let Some(at) = overdue.filter(|_| request.state == RequestState::Pending) else {
            return Ok((tx, request));
        };
        self.expire_in(&tx, request).await?;
        tx.commit().await?;
        Err(Error::conflict(
            None,
            format!(
                "the request expired at {}; file a new one",
                at.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ),
        ))
    }

    /// Moves one pending request to `expired`, as provider automation, in `tx`.
    async fn expire_in(&self, tx: &WriteTx, request: Request) -> Result<()> {
        let profile = self
            .policies
            .get(&request.profile)
            .filter(|p| p.version == request.profile_version)
            .ok_or_else(|| {
                Error::internal(format!(
                    "request {} was filed under {}@{}, which is not loaded",
                    request.id, request.profile, request.profile_version
                ))
            })?;
        let automation = Actor::provider(AUTOMATION_SUBJECT, &[AUTOMATION_ROLE]);
        let decision = profile.decide(automation.party(), automation.roles(), &request.activity);
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
        let mut change: Change = Self::record(
            actor,
            decision,
            Some(request.tenant_id),
            "request",
            request.id,
            to.as_str(),
        );
        change.record.request_id = Some(request.id);
        // The letters an answer uses: R to fulfil or decline, A to approve or reject or to
        // cancel a request, R to cancel a proposal; expiry uses none.
        change.record.letters = match to {
            RequestState::Fulfilled | RequestState::Declined => Letters::one(Duty::R),
            RequestState::Approved | RequestState::Rejected => Letters::one(Duty::A),
            RequestState::Cancelled if request.kind == RequestKind::Request => {
                Letters::one(Duty::A)
            }
            RequestState::Cancelled => Letters::one(Duty::R),
            RequestState::Expired | RequestState::Pending => Letters::NONE,
        };
        add(&mut change.audience, request.requester_party);
        for p in &request.addressed_to {
            add(&mut change.audience, *p);
        }
        let entry = tx.audit_append(change.record).await?;
        tx.event_append(&entry, &change.audience).await?;
        tx.request_get(Scope::All, &[], request.id)
            .await?
            .ok_or_else(|| Error::not_found("request", request.id))
    }
}

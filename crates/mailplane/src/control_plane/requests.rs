//! Requests: the accountable party asks, the responsible party carries out (A without R).
//!
//! A request is filed under the tenant's profile version and keeps it. The responsible party
//! fulfils or declines it at most once: the transition out of `pending` is a conditional
//! update in the same transaction as its audit row and event, so of two operators clicking
//! at once exactly one wins. The requester may cancel while it is pending.

use mailplane_policy::{Decision, Profile, Verdict};
use mailplane_store::{NewRequest, Page, Scope};
use mailplane_types::resources::{Request, RequestState};
use mailplane_types::{Duty, Error, Result, TenantId};
use uuid::Uuid;

use super::{Change, ControlPlane, page_request};
use crate::Actor;
use crate::input::{RequestCreate, RequestResolution};

/// What the responsible party does with a request.
#[derive(Clone, Copy)]
enum Resolution {
    Fulfil,
    Decline,
}

impl ControlPlane {
    fn partner_scope_profiles(&self, actor: &Actor) -> Vec<String> {
        self.profiles_naming_party(actor, |_| true)
    }

    /// Files a request for `activity` on a tenant. Only a caller whose party is accountable
    /// but not responsible files one; a party that may carry the activity out itself is told
    /// so, and any other caller is refused with the letters.
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
        match decision.verdict {
            Verdict::Request => {}
            Verdict::Execute => {
                return Err(Error::invalid(
                    "activity",
                    format!(
                        "your party holds R and A on `{activity}`: it carries it out itself, no request is needed"
                    ),
                ));
            }
            _ => return Err(Error::Forbidden(Box::new(decision.refusal()))),
        }
        let mut problems = crate::input::Problems::default();
        let payload = input.payload.unwrap_or_else(|| serde_json::json!({}));
        if !payload.is_object() {
            problems.add("payload", "must be a JSON object");
        } else if payload.to_string().len() > 16 * 1024 {
            problems.add("payload", "must be at most 16 KiB");
        }
        let note = input.note.unwrap_or_default();
        if note.chars().count() > 2000 {
            problems.add("note", "must be at most 2000 characters");
        } else if note.contains('\0') {
            problems.add("note", "must not contain NUL characters");
        }
        problems.finish()?;
        let responsible = decision.responsible();
        let request = tx
            .request_insert(NewRequest {
                tenant_id: tenant,
                activity,
                profile: tenant_row.profile.clone(),
                profile_version: tenant_row.profile_version,
                payload,
                note,
                requester: (
                    actor.subject().to_string(),
                    actor.party(),
                    actor.org().to_string(),
                ),
                responsible: responsible.clone(),
            })
            .await?;
        // The responsible parties are owed news of the request, whatever letters of I.
        let mut change = Self::record(
            actor,
            &decision,
            Some(tenant),
            "request",
            request.id,
            "requested",
        );
        for p in responsible {
            if !change.audience.contains(&p) {
                change.audience.push(p);
            }
        }
        Self::audit_and_commit(tx, change).await?;
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
                    Error::invalid("state", "must be pending, fulfilled, declined or cancelled")
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

    /// Carries a pending request out: the caller's party must be responsible (exercise R).
    pub async fn request_fulfil(
        &self,
        actor: &Actor,
        id: Uuid,
        input: RequestResolution,
    ) -> Result<Request> {
        self.resolve(actor, id, Resolution::Fulfil, input).await
    }

    /// Declines a pending request with a reason: the caller's party must be responsible.
    pub async fn request_decline(
        &self,
        actor: &Actor,
        id: Uuid,
        input: RequestResolution,
    ) -> Result<Request> {
        self.resolve(actor, id, Resolution::Decline, input).await
    }

    async fn resolve(
        &self,
        actor: &Actor,
        id: Uuid,
        how: Resolution,
        input: RequestResolution,
    ) -> Result<Request> {
        let reason = input
            .reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        let mut problems = crate::input::Problems::default();
        match (&reason, how) {
            (None, Resolution::Decline) => problems.add("reason", "is required to decline"),
            (Some(r), _) if r.chars().count() > 2000 => {
                problems.add("reason", "must be at most 2000 characters")
            }
            (Some(r), _) if r.contains('\0') => {
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
        if !decision.exercisable.has(Duty::R) {
            return Err(Error::Forbidden(Box::new(decision.refusal())));
        }
        problems.finish()?;
        let (to, outcome) = match how {
            Resolution::Fulfil => (RequestState::Fulfilled, "fulfilled"),
            Resolution::Decline => (RequestState::Declined, "declined"),
        };
        self.transition(tx, actor, &decision, request, to, outcome, reason)
            .await
    }

    /// Withdraws a pending request: the caller's party must be the requesting, accountable one.
    pub async fn request_cancel(&self, actor: &Actor, id: Uuid) -> Result<Request> {
        let tx = self.store.begin().await?;
        let request = tx
            .request_get(actor.scope(), &self.partner_scope_profiles(actor), id)
            .await?
            .ok_or_else(|| Error::not_found("request", id))?;
        let profile = self.request_profile(actor, &request)?;
        let decision = profile.decide(actor.party(), actor.roles(), &request.activity);
        if actor.party() != request.requester_party || !decision.exercisable.has(Duty::A) {
            return Err(Error::Forbidden(Box::new(decision.refusal())));
        }
        self.transition(
            tx,
            actor,
            &decision,
            request,
            RequestState::Cancelled,
            "cancelled",
            None,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn transition(
        &self,
        tx: mailplane_store::WriteTx,
        actor: &Actor,
        decision: &Decision,
        request: Request,
        to: RequestState,
        outcome: &'static str,
        reason: Option<String>,
    ) -> Result<Request> {
        if !tx
            .request_decide(request.id, to, actor.subject(), reason)
            .await?
        {
            return Err(Error::conflict(
                None,
                format!(
                    "the request is {} already; only a pending request can be {outcome}",
                    request.state.as_str()
                ),
            ));
        }
        let mut change: Change = Self::record(
            actor,
            decision,
            Some(request.tenant_id),
            "request",
            request.id,
            outcome,
        );
        // The requesting party always learns what became of its request.
        if !change.audience.contains(&request.requester_party)
            && actor.party() != request.requester_party
        {
            change.audience.push(request.requester_party);
        }
        Self::audit_and_commit(tx, change).await?;
        self.store
            .request_get(Scope::All, &[], request.id)
            .await?
            .ok_or_else(|| Error::not_found("request", request.id))
    }
}

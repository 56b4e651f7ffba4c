//! The evidence of changes and who may read it: the audit trail (`audit.review`), each
//! organisation's feed of events, the chain check, and how a change records its audit row
//! and its event in one call.
//!
//! Every change writes its audit row and its event (to the parties that hold I, and to the
//! accountable party when another party acted) in its own transaction, so that the change,
//! its evidence and the news of it land together or not at all.

use mailplane_policy::Decision;
use mailplane_store::audit::Change;
use mailplane_store::{Page, WriteTx};
use mailplane_types::resources::{AuditEntry, Event};
use mailplane_types::{AuditOutcome, AuditTarget, Duty, Error, OrgId, Party, Result, TenantId};

use super::{ControlPlane, Need, activity, page_limit};
use crate::Actor;

impl ControlPlane {
    /// What a change records: its audit row and the parties owed its event, for
    /// [`WriteTx::record`] or [`Self::record_and_commit`], the one way to record a change.
    /// The target and the outcome are enums with one spelling each.
    pub(super) fn change(
        actor: &Actor,
        decision: &Decision,
        tenant_id: Option<TenantId>,
        target: AuditTarget,
        target_id: impl ToString,
        outcome: AuditOutcome,
    ) -> Change {
        Change {
            actor: actor.subject().to_string(),
            party: actor.party(),
            org: actor.org().to_string(),
            roles: actor.roles().to_vec(),
            activity: decision.activity.to_string(),
            letters: decision.letters_used(),
            tenant_id,
            target,
            target_id: target_id.to_string(),
            outcome,
            request_id: None,
            audience: audience(actor, decision),
        }
    }

    /// Records a change's audit row and event, then commits: the change, its evidence and
    /// the news of it land together or not at all.
    pub(super) async fn record_and_commit(tx: WriteTx, change: Change) -> Result<()> {
        tx.record(change).await?;
        tx.commit().await
    }

    /// Audit rows the actor may read (`audit.review`): the provider all of them, a partner
    /// those of its customers' tenants, a customer those of its own tenant.
    pub async fn audit_list(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<AuditEntry>> {
        let after = seq_cursor(cursor)?;
        let limit = page_limit(limit)?;
        let profile = match actor.org() {
            OrgId::Tenant(t) => {
                let found = self.store.tenant_view(actor.scope(), t).await?;
                self.visible(actor, found, t)?.1
            }
            _ => self.platform_profile(),
        };
        self.authorize(actor, profile, activity::AUDIT_REVIEW, Need::View)?;
        // A partner reads its customers' rows only under profiles that make it a party
        // informed of the audit trail; a resold tenant under a two-party profile stays
        // invisible to it, as it does everywhere else.
        let partner_profiles: Vec<String> = self
            .policies
            .iter()
            .filter(|p| p.id != self.config.platform_profile && p.parties.contains(&actor.party()))
            .filter(|p| {
                p.decide(actor.party(), actor.roles(), activity::AUDIT_REVIEW)
                    .can_view()
            })
            .map(|p| p.id.clone())
            .collect();
        self.store
            .audit_list(actor.scope(), &partner_profiles, after, limit)
            .await
    }

    // ----- events ---------------------------------------------------------------------

    /// The actor's organisation's feed: the changes its party is owed news of, within its
    /// scope (a customer: its tenant; a partner: its customers' tenants under profiles that
    /// name partners; the provider: all).
    pub async fn event_list(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<Event>> {
        let after = seq_cursor(cursor)?;
        let limit = page_limit(limit)?;
        if let OrgId::Tenant(t) = actor.org() {
            let found = self.store.tenant_view(actor.scope(), t).await?;
            self.visible(actor, found, t)?;
        }
        let partner_profiles = self.profiles_naming_party(actor, |_| true);
        self.store
            .event_list(
                actor.scope(),
                actor.party(),
                &partner_profiles,
                after,
                limit,
            )
            .await
    }

    /// Verifies the whole audit chain. Not tenant-scoped: an operator's command.
    pub async fn audit_verify(&self) -> Result<mailplane_store::AuditReport> {
        self.store.audit_verify().await
    }
}

/// A cursor over a sequence (audit rows, events): the last `seq` seen.
fn seq_cursor(cursor: Option<&str>) -> Result<Option<i64>> {
    cursor
        .map(|c| {
            c.parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(|| {
                Error::invalid("cursor", "must be a cursor returned by a previous page")
            })
        })
        .transpose()
}

/// The parties owed the event of a change: those holding I for the activity, and the
/// accountable party when another party acted under its A.
fn audience(actor: &Actor, decision: &Decision) -> Vec<Party> {
    let mut audience: Vec<Party> = Party::ALL
        .into_iter()
        .filter(|p| decision.letters[p.index()].has(Duty::I))
        .collect();
    if let Some(accountable) = decision.accountable()
        && accountable != actor.party()
        && !audience.contains(&accountable)
    {
        audience.push(accountable);
    }
    audience
}

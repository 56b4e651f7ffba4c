//! The dunning ladder's job: one per tenant suspension for non-payment, due when its grace
//! ends. It has one step, `grace`, which ends the contract for cause when the suspension is
//! still placed, and otherwise only finishes. The step reads everything it decides on in the
//! transaction that commits its change, so a second run finds the termination it opened and
//! only finishes.

use std::fmt;

use mailplane_policy::Decision;
use mailplane_store::{JobClaim, JobNext, WriteTx};
use mailplane_types::lifecycle::TerminationState;
use mailplane_types::resources::Tenant;
use mailplane_types::suspensions::SuspensionReason;
use mailplane_types::{AuditOutcome, AuditTarget, Duty, Error, Result};

use super::{Step, automation, step_of};
use crate::control_plane::ControlPlane;
use crate::control_plane::activity::CONTRACT_END;

/// The one step of the dunning ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DunningStep {
    /// Waits for the grace to end, then ends the contract unless the suspension was lifted
    /// (`grace`).
    Grace,
}

impl fmt::Display for DunningStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DunningStep::Grace => f.write_str("grace"),
        }
    }
}

impl Step for DunningStep {
    fn parse(stored: &str) -> Option<Self> {
        (stored == "grace").then_some(DunningStep::Grace)
    }
}

impl ControlPlane {
    /// Runs the ladder of one suspension: done when it was lifted or already ended the
    /// contract, or when the tenant's contract ended otherwise meanwhile (that end is
    /// recorded as the ladder's; the customer's own termination, still cancellable, is made
    /// one for `non_payment` first); waits while the grace runs; then ends the contract for
    /// `non_payment` as provider automation, audited under its letters and announced to the
    /// informed parties and the accountable one. When the matrix gives automation no R on
    /// `contract.end`, the ladder stops for good at the grace's end (see `dunning_refused`).
    pub(super) async fn dunning_step(&self, claim: &JobClaim) -> Result<()> {
        let DunningStep::Grace = step_of(claim)?;
        let tx = self.store.begin().await?;
        // The tenant's suspensions lock comes before any read: a lift racing the grace's end
        // either commits first, and the step reads it lifted, or waits, and then reads the
        // ladder ended (the store's `suspension_ended` also refuses a lifted suspension).
        if let Some(id) = claim.job.tenant_id {
            tx.suspensions_lock(id).await?;
        }
        let progress = claim.job.progress.clone();
        let done = JobNext::Done {
            progress: progress.clone(),
        };
        // A tenant deleted, or whose configuration (its suspensions with it) was destroyed
        // at the end of its service, has no ladder left to climb.
        let tenant = match self.job_tenant(&tx, claim).await {
            Ok(t) => t,
            Err(Error::NotFound { .. }) => return self.advance(tx, claim, done).await,
            Err(e) => return Err(e),
        };
        let Some(s) = tx
            .suspension_get(tenant.id, claim.job.subject.into())
            .await?
        else {
            return self.advance(tx, claim, done).await;
        };
        let Some(dunning) = s.dunning.as_ref().filter(|d| d.termination_id.is_none()) else {
            return self.advance(tx, claim, done).await;
        };
        if !s.active {
            return self.advance(tx, claim, done).await;
        }
        if self.clock.now() < dunning.grace_ends_at {
            let until = dunning.grace_ends_at;
            return self
                .advance(tx, claim, JobNext::Wait { until, progress })
                .await;
        }
        // Provider automation acts for the provider: the matrix must give it R to end a
        // contract, or to take over the customer's own termination.
        let actor = automation();
        let decision = self
            .profile_of(&tenant)?
            .decide(actor.party(), actor.roles(), CONTRACT_END);
        let may_end = decision.exercisable.has(Duty::R);
        let note = format!(
            "suspended for non_payment on {}; the grace ended on {} with the suspension still placed",
            s.placed_at.date(),
            dunning.grace_ends_at.date()
        );
        if let Some(current) = tx.termination_current(tenant.id).await? {
            let t = current.termination;
            // The customer's own termination, still in its window, is one the customer may
            // cancel: adopted as it is, it would let the customer cancel it after the ladder
            // ended and never be ended. It becomes one for non-payment, keeping its dates.
            if t.cause.is_none() && t.state == TerminationState::Terminating {
                if !may_end {
                    return self.dunning_refused(tx, claim, &tenant, &decision).await;
                }
                let note = format!(
                    "{note}; the customer's own termination of {} became one for cause",
                    t.terminated_at.date()
                );
                tx.termination_for_cause(t.id, SuspensionReason::NonPayment, Some(&note))
                    .await?;
                self.automation_audit(
                    &tx,
                    &tenant,
                    CONTRACT_END,
                    (AuditTarget::Termination, t.id.to_string()),
                    AuditOutcome::Terminated,
                    true,
                )
                .await?;
            }
            tx.suspension_ended(s.id, t.id).await?;
            return self.advance(tx, claim, done).await;
        }
        if !may_end {
            return self.dunning_refused(tx, claim, &tenant, &decision).await;
        }
        let t = self
            .end_for_cause(
                &tx,
                &actor,
                &tenant,
                SuspensionReason::NonPayment,
                Some(&note),
            )
            .await?;
        tx.suspension_ended(s.id, t.id).await?;
        self.automation_audit(
            &tx,
            &tenant,
            CONTRACT_END,
            (AuditTarget::Termination, t.id.to_string()),
            AuditOutcome::Terminated,
            true,
        )
        .await?;
        self.advance(tx, claim, done).await
    }

    /// The grace ended but provider automation holds no R on `contract.end`: the matrix
    /// gives the end to another party, and automation (capped at R and I) cannot ask it
    /// either, since asking is the accountable party's A. Retrying cannot change that, so
    /// the step finishes the job for good, with the reason in its progress and the log,
    /// instead of failing and being retried for ever; the suspension stays placed, and the
    /// responsible party ends the contract with `contract.end`.
    async fn dunning_refused(
        &self,
        tx: WriteTx,
        claim: &JobClaim,
        tenant: &Tenant,
        decision: &Decision,
    ) -> Result<()> {
        let why = format!(
            "the dunning grace ended, but provider automation holds no R on `{CONTRACT_END}` in {}: the ladder stops, the suspension stays placed, and the party the matrix names ends the contract",
            decision.profile
        );
        tracing::error!(job = %claim.job.id, tenant = %tenant.id, "{why}");
        let progress = serde_json::json!({ "refused": why });
        self.advance(tx, claim, JobNext::Done { progress }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_reads_back_its_one_spelling() {
        let step = DunningStep::Grace;
        assert_eq!(DunningStep::parse(&step.to_string()), Some(step));
        assert_eq!(DunningStep::parse("Grace"), None);
    }
}

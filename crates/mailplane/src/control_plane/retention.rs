//! Retention policies, legal holds and the retention sweep.
//!
//! A tenant's policy deletes mail after N days, keeps it at least N days, or both
//! (`retention.manage`); a locked policy is never shortened or removed. A legal hold on a
//! mailbox or the whole tenant (`legal-hold.manage`) outranks every delete path: the sweep
//! skips what it covers and records the hold, deleting the mailbox or the tenant is refused
//! naming it. The sweep runs in `serve`; each mailbox's result is recorded.

use mailplane_store::WriteTx;
use mailplane_types::resources::Tenant;
use mailplane_types::retention::{LegalHold, RetentionPolicy, RetentionRun};
use mailplane_types::{
    AuditOutcome, AuditTarget, Error, HoldId, MailboxId, Result, RetentionRunId, TenantId,
};

use super::{ControlPlane, Operation, Outcome, activity};
use crate::Actor;
use crate::input::{HoldPlace, HoldRelease, MAX_RETENTION_DAYS, Problems, RetentionSet};

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Mailboxes looked at.
    pub mailboxes: u64,
    /// Messages deleted.
    pub deleted_messages: u64,
    /// Mailboxes a legal hold kept whole.
    pub held: u64,
    /// Whether a deleting policy was found (per-tenant sweeps only).
    pub policy: bool,
}

/// The input rules of a retention policy that do not depend on the current one.
pub(super) fn retention_rules(p: &mut Problems, input: &RetentionSet) {
    for (field, v) in [
        ("delete_after_days", input.delete_after_days),
        ("keep_at_least_days", input.keep_at_least_days),
    ] {
        if let Some(d) = v
            && !(1..=MAX_RETENTION_DAYS).contains(&d)
        {
            p.add(
                field,
                format!("must be from 1 to {MAX_RETENTION_DAYS} days"),
            );
        }
    }
    if let (Some(del), Some(keep)) = (input.delete_after_days, input.keep_at_least_days)
        && keep > del
    {
        p.add(
            "keep_at_least_days",
            format!("must not exceed delete_after_days ({del}): mail cannot be kept longer than it lives"),
        );
    }
    if input.locked && input.delete_after_days.is_none() && input.keep_at_least_days.is_none() {
        p.add("locked", "a policy without values has nothing to lock");
    }
}

/// A reason of 1 to 2000 characters of safe prose.
pub(super) fn reason_rule(p: &mut Problems, reason: &str) {
    p.prose("reason", reason, true, mailplane_types::limits::NOTE_CHARS);
}

impl ControlPlane {
    /// The tenant's retention policy, if one is set.
    pub async fn retention_view(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Option<RetentionPolicy>> {
        self.tenant_for_read(actor, tenant, activity::RETENTION)
            .await?;
        self.store.retention_view(tenant).await
    }

    /// Sets the tenant's retention policy (`retention.manage`).
    pub async fn retention_set(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: RetentionSet,
    ) -> Result<Outcome<Option<RetentionPolicy>>> {
        self.run(actor, tenant, Operation::RetentionSet(input), None)
            .await
    }

    /// What the retention sweep did to the tenant's mailboxes.
    pub async fn retention_run_list(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Vec<RetentionRun>> {
        self.tenant_for_read(actor, tenant, activity::RETENTION)
            .await?;
        self.store.retention_run_list(tenant).await
    }

    /// The tenant's legal holds, active and released.
    pub async fn hold_list(&self, actor: &Actor, tenant: TenantId) -> Result<Vec<LegalHold>> {
        self.tenant_for_read(actor, tenant, activity::HOLDS).await?;
        self.store.hold_list(tenant).await
    }

    /// Places a legal hold (`legal-hold.manage`).
    pub async fn hold_place(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: HoldPlace,
    ) -> Result<Outcome<LegalHold>> {
        self.run(actor, tenant, Operation::HoldPlace(input), None)
            .await
    }

    /// Releases a legal hold (`legal-hold.manage`).
    pub async fn hold_release(
        &self,
        actor: &Actor,
        tenant: TenantId,
        hold: HoldId,
        input: HoldRelease,
    ) -> Result<Outcome<LegalHold>> {
        let op = Operation::HoldRelease {
            hold_id: hold,
            release: input,
        };
        self.run(actor, tenant, op, None).await
    }

    /// Applies `retention.set` against the current policy: a locked policy is never
    /// shortened, removed or unlocked.
    pub(super) async fn apply_retention(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: &RetentionSet,
    ) -> Result<Option<RetentionPolicy>> {
        let current = tx.retention_view(tenant.id).await?;
        if let Some(c) = current.as_ref().filter(|c| c.locked) {
            let mut p = Problems::default();
            if !input.locked {
                p.add("locked", "the policy is locked: it stays locked");
            }
            for (field, now, asked) in [
                (
                    "delete_after_days",
                    c.delete_after_days,
                    input.delete_after_days,
                ),
                (
                    "keep_at_least_days",
                    c.keep_at_least_days,
                    input.keep_at_least_days,
                ),
            ] {
                match (now, asked) {
                    (Some(n), None) => p.add(
                        field,
                        format!("the policy is locked at {n} days: it cannot be removed"),
                    ),
                    (Some(n), Some(a)) if a < n => p.add(
                        field,
                        format!("the policy is locked at {n} days: it cannot be shortened to {a}"),
                    ),
                    _ => {}
                }
            }
            p.finish()?;
        }
        let now = self.clock.now();
        if input.delete_after_days.is_none() && input.keep_at_least_days.is_none() {
            // No values: no policy. (A locked one was refused above.)
            tx.retention_remove(tenant.id).await?;
            return Ok(None);
        }
        let policy = tx
            .retention_set(
                tenant.id,
                input.delete_after_days,
                input.keep_at_least_days,
                input.locked,
                now,
            )
            .await?;
        if policy.delete_after_days.is_some() {
            // The sweep runs as a recurring durable job, one per tenant.
            tx.job_insert(
                super::jobs::SWEEP_JOB,
                tenant.id.uuid(),
                Some(tenant.id),
                "sweep",
                now,
                &serde_json::json!({}),
                now,
            )
            .await?;
        }
        Ok(Some(policy))
    }

    /// Applies `hold.place`.
    pub(super) async fn apply_hold_place(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: TenantId,
        input: &HoldPlace,
    ) -> Result<LegalHold> {
        if let Some(m) = input.mailbox_id
            && tx.mailbox_view(tenant, m).await?.is_none()
        {
            return Err(Error::invalid(
                "mailbox_id",
                "must be a mailbox of this tenant",
            ));
        }
        tx.hold_insert(
            tenant,
            input.mailbox_id,
            input.reason.trim(),
            (actor.subject(), actor.party()),
            self.clock.now(),
        )
        .await
    }

    /// Refuses a deletion a legal hold covers, naming the hold.
    pub(super) async fn not_held(
        &self,
        tx: &WriteTx,
        tenant: TenantId,
        mailbox: Option<MailboxId>,
        what: &str,
    ) -> Result<()> {
        if let Some(hold) = tx.hold_covering(tenant, mailbox).await? {
            return Err(Error::conflict(
                None,
                format!(
                    "legal hold {} ({}, placed by {} on {}) stops {what}: release it first",
                    hold.id,
                    hold.reason,
                    hold.placed_by,
                    hold.placed_at.date()
                ),
            ));
        }
        Ok(())
    }

    /// Applies every deleting retention policy once: for each mailbox of each such tenant,
    /// the messages older than the policy allows are deleted, unless a legal hold covers the
    /// mailbox; each mailbox's result is recorded. `serve` runs the same per tenant as a
    /// recurring durable job.
    pub async fn retention_sweep(&self) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        for policy in self.store.retention_deleting().await? {
            let r = self.retention_sweep_tenant(policy.tenant_id).await?;
            report.mailboxes += r.mailboxes;
            report.deleted_messages += r.deleted_messages;
            report.held += r.held;
        }
        Ok(report)
    }

    /// Gives every tenant with a deleting retention policy its recurring sweep job (one
    /// already pending is left as it is); returns how many policies there are. `serve`
    /// calls it at start.
    pub async fn retention_schedule(&self) -> Result<u64> {
        let now = self.clock.now();
        let policies = self.store.retention_deleting().await?;
        let tx = self.store.begin().await?;
        for p in &policies {
            tx.job_insert(
                super::jobs::SWEEP_JOB,
                p.tenant_id.uuid(),
                Some(p.tenant_id),
                "sweep",
                now,
                &serde_json::json!({}),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(policies.len() as u64)
    }

    /// Applies a tenant's retention policy once; `policy` in the report says whether the
    /// tenant still has a deleting one.
    pub(super) async fn retention_sweep_tenant(&self, tenant: TenantId) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        let Some(data_plane) = self.data_plane.clone() else {
            return Ok(report);
        };
        let Some(policy) = self.store.retention_view(tenant).await? else {
            return Ok(report);
        };
        let Some(after) = policy.delete_after_days else {
            return Ok(report);
        };
        report.policy = true;
        let days = after.max(policy.keep_at_least_days.unwrap_or(0));
        let now = self.clock.now();
        let before = now - time::Duration::days(i64::from(days));
        // The tenant's active holds, read once: a tenant-wide one covers every mailbox.
        let holds: Vec<_> = self
            .store
            .hold_list(policy.tenant_id)
            .await?
            .into_iter()
            .filter(|h| h.active)
            .collect();
        let covering = |mailbox| {
            holds
                .iter()
                .find(|h| h.mailbox_id.is_none_or(|m| m == mailbox))
                .cloned()
        };
        for mailbox in self.store.mailbox_ids(policy.tenant_id).await? {
            report.mailboxes += 1;
            let hold = covering(mailbox);
            let deleted = match &hold {
                Some(_) => {
                    report.held += 1;
                    crate::data_plane::Usage::default()
                }
                None => {
                    data_plane
                        .delete_older_than(policy.tenant_id, mailbox, before)
                        .await?
                }
            };
            report.deleted_messages += deleted.messages;
            if deleted.messages == 0 && hold.is_none() {
                continue;
            }
            let tx = self.store.begin().await?;
            tx.retention_run_insert(&RetentionRun {
                id: RetentionRunId::new(),
                tenant_id: policy.tenant_id,
                mailbox_id: mailbox,
                at: now,
                deleted_messages: deleted.messages,
                deleted_bytes: deleted.bytes,
                blocked_by: hold.map(|h| h.id),
            })
            .await?;
            tx.commit().await?;
        }
        Ok(report)
    }
}

// The retention operations (`retention.set`, `hold.place`, `hold.release`): their input rules
// and the changes they make, reached by the dispatchers through `parse` and `retention_apply`.

use super::workflow::{Applied, Made};

/// A retention or legal hold operation whose input passed its check, with the values the check
/// parsed (or borrowed as they are).
pub(super) enum Checked<'a> {
    RetentionSet(&'a RetentionSet),
    HoldPlace(&'a HoldPlace),
    HoldRelease(HoldId, &'a HoldRelease),
}

/// Parses a retention or legal hold operation's input into `p`'s problems and a checked value:
/// `None` when `p` holds a problem, or for another resource's operation, which the dispatcher never
/// routes here.
pub(super) fn parse<'a>(op: &'a Operation, p: &mut Problems) -> Option<Checked<'a>> {
    match op {
        Operation::RetentionSet(i) => retention_set_check(p, i),
        Operation::HoldPlace(i) => hold_place_check(p, i),
        Operation::HoldRelease { hold_id, release } => hold_release_check(p, *hold_id, release),
        _ => None,
    }
}

impl ControlPlane {
    /// Makes the change of a retention or legal hold operation whose input passed its check.
    pub(super) async fn retention_apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        t: &Tenant,
        checked: Checked<'_>,
    ) -> Result<Made> {
        match checked {
            Checked::RetentionSet(i) => self.retention_set_apply(tx, t, i).await,
            Checked::HoldPlace(i) => self.hold_place_apply(tx, actor, t, i).await,
            Checked::HoldRelease(id, i) => self.hold_release_apply(tx, actor, t, id, i).await,
        }
    }
}

/// Checks `retention.set`.
fn retention_set_check<'a>(p: &mut Problems, input: &'a RetentionSet) -> Option<Checked<'a>> {
    retention_rules(p, input);
    Some(Checked::RetentionSet(input))
}

/// Checks `hold.place`: a reason.
fn hold_place_check<'a>(p: &mut Problems, input: &'a HoldPlace) -> Option<Checked<'a>> {
    reason_rule(p, &input.reason);
    Some(Checked::HoldPlace(input))
}

/// Checks `hold.release`: a reason.
fn hold_release_check<'a>(
    p: &mut Problems,
    hold_id: HoldId,
    release: &'a HoldRelease,
) -> Option<Checked<'a>> {
    reason_rule(p, &release.reason);
    Some(Checked::HoldRelease(hold_id, release))
}

impl ControlPlane {
    /// Applies `retention.set`.
    async fn retention_set_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: &RetentionSet,
    ) -> Result<Made> {
        let r = self.apply_retention(tx, tenant, input).await?;
        Ok(Made::new(
            Applied::Retention(r),
            AuditTarget::Retention,
            tenant.id,
            AuditOutcome::Set,
        ))
    }

    /// Applies `hold.place`.
    async fn hold_place_apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
        input: &HoldPlace,
    ) -> Result<Made> {
        let hold = self.apply_hold_place(tx, actor, tenant.id, input).await?;
        let id = hold.id;
        Ok(Made::new(
            Applied::Hold(hold),
            AuditTarget::LegalHold,
            id,
            AuditOutcome::Placed,
        ))
    }

    /// Applies `hold.release`.
    async fn hold_release_apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
        hold_id: HoldId,
        release: &HoldRelease,
    ) -> Result<Made> {
        let tid = tenant.id;
        let hold = tx
            .hold_release(
                tid,
                hold_id,
                actor.subject(),
                release.reason.trim(),
                self.clock.now(),
            )
            .await?;
        // Mailboxes the hold kept enter their undelete window, or their destruction checks
        // again.
        self.holds_released(tx, tenant).await?;
        // A termination blocked by the hold checks again at once.
        if let Some(t) = tx.termination_current(tid).await? {
            tx.job_wake(
                super::jobs::TERMINATION_JOB,
                t.termination.id.uuid(),
                self.clock.now(),
            )
            .await?;
        }
        Ok(Made::new(
            Applied::Hold(hold),
            AuditTarget::LegalHold,
            hold_id,
            AuditOutcome::Released,
        ))
    }
}

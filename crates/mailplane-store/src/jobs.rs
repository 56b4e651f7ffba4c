//! Durable jobs: a kind, a subject, the step it is at, and the lease of the worker running
//! that step.
//!
//! A worker claims a due job by a conditional update that only succeeds while nobody holds
//! a live lease, so two servers on one database never run a step at once; every claim is
//! written to the `job_steps` ledger. A step's own changes and the job's move to its next
//! step commit in one transaction, under the claim: a worker whose lease ran out and was
//! taken over records nothing. A partial unique index keeps one finished ledger row per
//! step, so a finished step is never finished twice, whatever the timing.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::{Error, JobId, Result, TenantId};

use crate::entity::{job, job_step};
use crate::{DataStore, WriteTx, db_error};

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    /// The job's id.
    pub id: JobId,
    /// What it does (`export`, `termination`, `retention-sweep`).
    pub kind: String,
    /// What it works on: an export, a termination, a tenant.
    pub subject: Uuid,
    /// The tenant concerned, if any.
    pub tenant_id: Option<TenantId>,
    /// The next step to run.
    pub step: String,
    /// `pending` or `done`.
    pub state: String,
    /// When the step is due.
    pub run_after: OffsetDateTime,
    /// How many times the current step was claimed.
    pub attempts: u32,
    /// What earlier steps left for the next ones.
    pub progress: serde_json::Value,
    /// Why the last try failed.
    pub last_error: Option<String>,
}

/// A job a worker holds the lease of.
#[derive(Debug, Clone)]
pub struct JobClaim {
    /// The job as claimed.
    pub job: JobRow,
    /// The worker holding the lease.
    pub owner: String,
    /// The ledger row of this claim.
    pub ledger: Uuid,
}

/// One claim of a step, from the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStepRow {
    /// The step.
    pub step: String,
    /// The worker that claimed it.
    pub owner: String,
    /// Which claim of the step this was (1 for the first).
    pub attempt: u32,
    /// When it was claimed.
    pub started_at: OffsetDateTime,
    /// When it finished, if it did.
    pub finished_at: Option<OffsetDateTime>,
    /// `done`, `failed`, or none (still running, or its worker died).
    pub outcome: Option<String>,
}

/// Where a step sends its job.
#[derive(Debug, Clone)]
pub enum JobNext {
    /// Another step, due at `run_after`.
    Step {
        /// The step's name.
        step: String,
        /// When it is due.
        run_after: OffsetDateTime,
        /// What the next step needs.
        progress: serde_json::Value,
    },
    /// The same step again at `until`: a deadline not reached yet, a block not lifted,
    /// a recurring sweep. The claim is closed as `waited`, not `done`.
    Wait {
        /// When the step is due again.
        until: OffsetDateTime,
        /// What the step needs then.
        progress: serde_json::Value,
    },
    /// The job is finished.
    Done {
        /// What it left.
        progress: serde_json::Value,
    },
}

/// The state of a job that still has a step to run.
pub const JOB_PENDING: &str = "pending";
/// The state of a finished job.
pub const JOB_DONE: &str = "done";

fn job_row(r: job::Model) -> JobRow {
    JobRow {
        id: r.id.into(),
        kind: r.kind,
        subject: r.subject,
        tenant_id: r.tenant_id.map(Into::into),
        step: r.step,
        state: r.state,
        run_after: r.run_after,
        attempts: u32::try_from(r.attempts).unwrap_or(0),
        progress: serde_json::from_str(&r.progress).unwrap_or(serde_json::Value::Null),
        last_error: r.last_error,
    }
}

/// The condition of a job nobody holds a live lease of at `now`.
fn unleased(now: OffsetDateTime) -> Condition {
    Condition::any()
        .add(job::Column::LeaseUntil.is_null())
        .add(job::Column::LeaseUntil.lte(now))
}

/// The condition of the job row as `claim` left it.
fn held(claim: &JobClaim) -> Condition {
    Condition::all()
        .add(job::Column::Id.eq(claim.job.id.uuid()))
        .add(job::Column::Step.eq(claim.job.step.clone()))
        .add(job::Column::LeaseOwner.eq(claim.owner.clone()))
        .add(job::Column::Attempts.eq(claim.job.attempts as i32))
}

impl DataStore {
    /// Claims one due job for `owner` until `now + lease`, and writes the claim to the
    /// ledger; `None` when no job is due.
    pub async fn job_claim(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<Option<JobClaim>> {
        let due = job::Entity::find()
            .filter(job::Column::State.eq(JOB_PENDING))
            .filter(job::Column::RunAfter.lte(now))
            .filter(unleased(now))
            .order_by_asc(job::Column::RunAfter)
            .order_by_asc(job::Column::Id)
            .limit(8)
            .all(self.reader())
            .await
            .map_err(db_error)?;
        for row in due {
            let tx = self.begin().await?;
            let won = job::Entity::update_many()
                .col_expr(job::Column::LeaseOwner, Expr::value(owner))
                .col_expr(job::Column::LeaseUntil, Expr::value(now + lease))
                .col_expr(job::Column::Attempts, Expr::value(row.attempts + 1))
                .col_expr(job::Column::UpdatedAt, Expr::value(now))
                .filter(job::Column::Id.eq(row.id))
                .filter(job::Column::State.eq(JOB_PENDING))
                // The row as read: a worker that claimed or advanced it meanwhile changed
                // one of these.
                .filter(job::Column::Step.eq(row.step.clone()))
                .filter(job::Column::Attempts.eq(row.attempts))
                .filter(unleased(now))
                .exec(&tx.tx)
                .await
                .map_err(db_error)?;
            if won.rows_affected != 1 {
                continue;
            }
            let ledger = Uuid::now_v7();
            job_step::ActiveModel {
                id: Set(ledger),
                job_id: Set(row.id),
                step: Set(row.step.clone()),
                owner: Set(owner.to_string()),
                attempt: Set(row.attempts + 1),
                started_at: Set(now),
                finished_at: Set(None),
                outcome: Set(None),
                error: Set(None),
            }
            .insert(&tx.tx)
            .await
            .map_err(db_error)?;
            tx.commit().await?;
            let mut job = job_row(row);
            job.attempts += 1;
            return Ok(Some(JobClaim {
                job,
                owner: owner.to_string(),
                ledger,
            }));
        }
        Ok(None)
    }

    /// Extends a claim's lease to `until`; false when the claim was lost.
    pub async fn job_renew(&self, claim: &JobClaim, until: OffsetDateTime) -> Result<bool> {
        let r = job::Entity::update_many()
            .col_expr(job::Column::LeaseUntil, Expr::value(until))
            .filter(held(claim))
            .exec(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(r.rows_affected == 1)
    }

    /// Gives up every lease `owner` holds, so that another worker takes the steps over at
    /// once instead of after the lease runs out: a stopping server's last act. The ledger
    /// rows of those claims stay open, as a dead worker's do. Returns how many.
    pub async fn job_release_leases(&self, owner: &str, now: OffsetDateTime) -> Result<u64> {
        Ok(job::Entity::update_many()
            .col_expr(job::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(
                job::Column::LeaseUntil,
                Expr::value(Option::<OffsetDateTime>::None),
            )
            .col_expr(job::Column::UpdatedAt, Expr::value(now))
            .filter(job::Column::LeaseOwner.eq(owner))
            .filter(job::Column::State.eq(JOB_PENDING))
            .exec(&self.writer)
            .await
            .map_err(db_error)?
            .rows_affected)
    }

    /// Records that a claimed step failed: the lease is released and the step is due again
    /// at `retry_at`. A lost claim records nothing.
    pub async fn job_failed(
        &self,
        claim: &JobClaim,
        error: &str,
        retry_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        let tx = self.begin().await?;
        let r = job::Entity::update_many()
            .col_expr(job::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(
                job::Column::LeaseUntil,
                Expr::value(Option::<OffsetDateTime>::None),
            )
            .col_expr(job::Column::RunAfter, Expr::value(retry_at))
            .col_expr(job::Column::LastError, Expr::value(error))
            .col_expr(job::Column::UpdatedAt, Expr::value(now))
            .filter(held(claim))
            .exec(&tx.tx)
            .await
            .map_err(db_error)?;
        if r.rows_affected == 1 {
            job_step::Entity::update_many()
                .col_expr(job_step::Column::FinishedAt, Expr::value(now))
                .col_expr(job_step::Column::Outcome, Expr::value("failed"))
                .col_expr(job_step::Column::Error, Expr::value(error))
                .filter(job_step::Column::Id.eq(claim.ledger))
                .exec(&tx.tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await
    }

    /// The job of a kind for a subject, if there is one.
    pub async fn job_get(&self, kind: &str, subject: Uuid) -> Result<Option<JobRow>> {
        Ok(job::Entity::find()
            .filter(job::Column::Kind.eq(kind))
            .filter(job::Column::Subject.eq(subject))
            .one(self.reader())
            .await
            .map_err(db_error)?
            .map(job_row))
    }

    /// Every claim of a job's steps, in order.
    pub async fn job_steps(&self, job: JobId) -> Result<Vec<JobStepRow>> {
        Ok(job_step::Entity::find()
            .filter(job_step::Column::JobId.eq(job.uuid()))
            .order_by_asc(job_step::Column::StartedAt)
            .order_by_asc(job_step::Column::Id)
            .all(self.reader())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|r| JobStepRow {
                step: r.step,
                owner: r.owner,
                attempt: u32::try_from(r.attempt).unwrap_or(0),
                started_at: r.started_at,
                finished_at: r.finished_at,
                outcome: r.outcome,
            })
            .collect())
    }

    /// How many jobs still have a step to run.
    pub async fn jobs_pending(&self) -> Result<u64> {
        use sea_orm::PaginatorTrait;
        job::Entity::find()
            .filter(job::Column::State.eq(JOB_PENDING))
            .count(self.reader())
            .await
            .map_err(db_error)
    }
}

impl WriteTx {
    /// Creates the job of a kind for a subject, starting at `step`. When one exists and is
    /// done, it is started again; when one is pending, it is left as it is. Returns the
    /// job's id.
    #[allow(clippy::too_many_arguments)]
    pub async fn job_insert(
        &self,
        kind: &str,
        subject: Uuid,
        tenant: Option<TenantId>,
        step: &str,
        run_after: OffsetDateTime,
        progress: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<JobId> {
        let existing = job::Entity::find()
            .filter(job::Column::Kind.eq(kind))
            .filter(job::Column::Subject.eq(subject))
            .one(&self.tx)
            .await
            .map_err(db_error)?;
        if let Some(j) = existing {
            if j.state == JOB_DONE {
                // A finished job started again (the tenant's next relocation) runs its steps
                // anew: the ledger guards one run's steps, and the finished run's rows would
                // make each step look finished already. The audit log keeps the history.
                job_step::Entity::delete_many()
                    .filter(job_step::Column::JobId.eq(j.id))
                    .exec(&self.tx)
                    .await
                    .map_err(db_error)?;
                job::Entity::update_many()
                    .col_expr(job::Column::State, Expr::value(JOB_PENDING))
                    .col_expr(job::Column::Step, Expr::value(step))
                    .col_expr(job::Column::RunAfter, Expr::value(run_after))
                    .col_expr(job::Column::Progress, Expr::value(progress.to_string()))
                    .col_expr(job::Column::Attempts, Expr::value(0))
                    .col_expr(job::Column::UpdatedAt, Expr::value(now))
                    .filter(job::Column::Id.eq(j.id))
                    .exec(&self.tx)
                    .await
                    .map_err(db_error)?;
            }
            return Ok(j.id.into());
        }
        let id = Uuid::now_v7();
        job::ActiveModel {
            id: Set(id),
            kind: Set(kind.to_string()),
            subject: Set(subject),
            tenant_id: Set(tenant.map(|t| t.uuid())),
            step: Set(step.to_string()),
            state: Set(JOB_PENDING.to_string()),
            run_after: Set(run_after),
            lease_owner: Set(None),
            lease_until: Set(None),
            attempts: Set(0),
            progress: Set(progress.to_string()),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        Ok(id.into())
    }

    /// Moves a claimed job to its next step (or finishes it) and closes the claim's ledger
    /// row, in this transaction. A lost claim is a conflict, and the transaction must be
    /// dropped: another worker owns the step now.
    pub async fn job_advance(
        &self,
        claim: &JobClaim,
        next: JobNext,
        now: OffsetDateTime,
    ) -> Result<()> {
        let (step, state, run_after, progress, outcome) = match next {
            JobNext::Step {
                step,
                run_after,
                progress,
            } => (step, JOB_PENDING, run_after, progress, "done"),
            JobNext::Wait { until, progress } => (
                claim.job.step.clone(),
                JOB_PENDING,
                until,
                progress,
                "waited",
            ),
            JobNext::Done { progress } => (claim.job.step.clone(), JOB_DONE, now, progress, "done"),
        };
        let r = job::Entity::update_many()
            .col_expr(job::Column::Step, Expr::value(step))
            .col_expr(job::Column::State, Expr::value(state))
            .col_expr(job::Column::RunAfter, Expr::value(run_after))
            .col_expr(job::Column::Progress, Expr::value(progress.to_string()))
            .col_expr(job::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(
                job::Column::LeaseUntil,
                Expr::value(Option::<OffsetDateTime>::None),
            )
            .col_expr(job::Column::Attempts, Expr::value(0))
            .col_expr(job::Column::LastError, Expr::value(Option::<String>::None))
            .col_expr(job::Column::UpdatedAt, Expr::value(now))
            .filter(held(claim))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        if r.rows_affected != 1 {
            return Err(Error::conflict(
                None,
                format!(
                    "the lease on step `{}` of job {} was lost: another worker runs it",
                    claim.job.step, claim.job.id
                ),
            ));
        }
        job_step::Entity::update_many()
            .col_expr(job_step::Column::FinishedAt, Expr::value(now))
            .col_expr(job_step::Column::Outcome, Expr::value(outcome))
            .filter(job_step::Column::Id.eq(claim.ledger))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Sends a pending job back to `step` with fresh `progress`, due at `at`, taking any
    /// lease from it: a worker still running the old step finds its claim gone and commits
    /// nothing. Returns whether a pending job was found.
    pub async fn job_restart(
        &self,
        kind: &str,
        subject: Uuid,
        step: &str,
        progress: &serde_json::Value,
        at: OffsetDateTime,
    ) -> Result<bool> {
        let r = job::Entity::update_many()
            .col_expr(job::Column::Step, Expr::value(step))
            .col_expr(job::Column::Progress, Expr::value(progress.to_string()))
            .col_expr(job::Column::RunAfter, Expr::value(at))
            .col_expr(job::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(
                job::Column::LeaseUntil,
                Expr::value(Option::<OffsetDateTime>::None),
            )
            .col_expr(job::Column::Attempts, Expr::value(0))
            .col_expr(job::Column::UpdatedAt, Expr::value(at))
            .filter(job::Column::Kind.eq(kind))
            .filter(job::Column::Subject.eq(subject))
            .filter(job::Column::State.eq(JOB_PENDING))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(r.rows_affected == 1)
    }

    /// Makes a pending job's current step due at `at` (sooner than planned): a hold was
    /// released, an export acknowledged.
    pub async fn job_wake(&self, kind: &str, subject: Uuid, at: OffsetDateTime) -> Result<()> {
        job::Entity::update_many()
            .col_expr(job::Column::RunAfter, Expr::value(at))
            .filter(job::Column::Kind.eq(kind))
            .filter(job::Column::Subject.eq(subject))
            .filter(job::Column::State.eq(JOB_PENDING))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

//! The background work a deployment needs, started by the library itself: without it an
//! export is never packaged, a termination never closes, a webhook is never delivered and
//! an overdue request stays pending.
//!
//! [`spawn`] starts four loops on the current tokio runtime over one [`ControlPlane`]:
//! the durable job worker ([`ControlPlane::jobs_run_due`]: exports, terminations, mailbox
//! destruction and the retention sweeps, which it schedules once at start with
//! [`ControlPlane::retention_schedule`]), the webhook pump ([`ControlPlane::webhooks_pump`]),
//! and the request sweep ([`ControlPlane::requests_expire`] and
//! [`ControlPlane::idempotency_purge`]). The server starts them through this module, as an
//! embedder does, so that the two cannot drift apart. [`Workers::stop`] stops them
//! gracefully: the job worker finishes the step it holds and claims no other, the other
//! loops finish their pass, and the leases this worker still holds are given up so that
//! another replica takes the steps over at once (a lease not given up simply runs out).

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::ControlPlane;

/// How often each loop runs. The defaults are the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How often the job worker looks for due steps (exports, terminations, retention
    /// sweeps, mailbox destruction). Default: every second.
    pub job_poll: Duration,
    /// How often the event outbox is pumped into webhook deliveries. Default: every 2 s.
    pub webhook_pump: Duration,
    /// How often overdue requests are expired and old idempotency keys purged. An answer
    /// to an overdue request expires it on the spot, so this only bounds how long a stale
    /// request shows as pending. Default: every 60 s.
    pub request_sweep: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            job_poll: Duration::from_secs(1),
            webhook_pump: Duration::from_secs(2),
            request_sweep: Duration::from_secs(60),
        }
    }
}

/// The running background work; [`Workers::stop`] ends it. Dropping it without stopping
/// leaves the loops running until the runtime ends.
pub struct Workers {
    control_plane: ControlPlane,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("loops", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

/// Starts the background work of `control_plane` on the current tokio runtime (call it
/// from within one). Start it once per process: every replica of a deployment may run its
/// own, since a job step is claimed under a lease and a webhook delivery at most once.
pub fn spawn(control_plane: ControlPlane, settings: WorkerSettings) -> Workers {
    let (stop, stopping) = watch::channel(false);
    let tasks = vec![
        tokio::spawn(jobs(
            control_plane.clone(),
            settings.job_poll,
            stopping.clone(),
        )),
        tokio::spawn(webhooks(
            control_plane.clone(),
            settings.webhook_pump,
            stopping.clone(),
        )),
        tokio::spawn(requests(
            control_plane.clone(),
            settings.request_sweep,
            stopping,
        )),
    ];
    Workers {
        control_plane,
        stop,
        tasks,
    }
}

impl Workers {
    /// Stops the background work and waits for it: the job worker finishes the step it
    /// is in (a step is safe to repeat, so one cut short by a crash is redone elsewhere)
    /// and claims no other; then every lease it still holds is given up.
    pub async fn stop(self) {
        self.stop_within(Duration::MAX).await;
    }

    /// Like [`Workers::stop`], waiting at most `grace` for the loops to finish their pass;
    /// a loop still running then is abandoned. The leases are given up either way, so
    /// another replica takes an abandoned step over at once. Returns whether every loop
    /// finished in time.
    pub async fn stop_within(self, grace: Duration) -> bool {
        self.control_plane.jobs_stop();
        let _ = self.stop.send(true);
        let mut tasks = self.tasks;
        let finished = tokio::time::timeout(grace, async {
            for task in tasks.iter_mut() {
                let _ = task.await;
            }
        })
        .await
        .is_ok();
        for task in &tasks {
            task.abort();
        }
        match self.control_plane.jobs_release_leases().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "released job leases"),
            Err(e) => {
                tracing::warn!(error = %e, "releasing job leases failed; they run out by themselves")
            }
        }
        finished
    }
}

/// Waits for the next tick, or for the stop signal: false when stopping.
async fn next(tick: &mut tokio::time::Interval, stopping: &mut watch::Receiver<bool>) -> bool {
    let ticked = tokio::select! {
        _ = tick.tick() => true,
        _ = stopping.wait_for(|s| *s) => false,
    };
    ticked && !*stopping.borrow()
}

/// The durable job worker: every due step, each `poll`.
async fn jobs(control_plane: ControlPlane, poll: Duration, mut stopping: watch::Receiver<bool>) {
    // Tenants whose retention policy deletes mail get their recurring sweep job; a job
    // already pending is left as it is.
    if let Err(e) = control_plane.retention_schedule().await {
        tracing::warn!(error = %e, "scheduling the retention sweeps failed; they start when a policy is set");
    }
    let mut tick = tokio::time::interval(poll);
    while next(&mut tick, &mut stopping).await {
        match control_plane.jobs_run_due().await {
            Ok(r) if r.steps + r.failed > 0 => {
                tracing::info!(steps = r.steps, failed = r.failed, "ran job steps")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the job worker failed; retrying later"),
        }
    }
}

/// The webhook pump: the event outbox into deliveries, each `period`.
async fn webhooks(
    control_plane: ControlPlane,
    period: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(period);
    while next(&mut tick, &mut stopping).await {
        match control_plane.webhooks_pump().await {
            Ok(r) if r.delivered + r.failed_attempts > 0 => tracing::info!(
                delivered = r.delivered,
                failed = r.failed_attempts,
                "webhook deliveries"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the webhook pump failed; retrying later"),
        }
    }
}

/// The request sweep: overdue requests expired and old idempotency keys purged, each
/// `period`.
async fn requests(
    control_plane: ControlPlane,
    period: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(period);
    while next(&mut tick, &mut stopping).await {
        match control_plane.requests_expire().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "expired overdue requests"),
            Err(e) => tracing::warn!(error = %e, "expiring requests failed; retrying later"),
        }
        if let Err(e) = control_plane.idempotency_purge().await {
            tracing::warn!(error = %e, "purging expired idempotency keys failed; retrying later");
        }
    }
}

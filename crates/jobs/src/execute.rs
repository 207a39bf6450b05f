//! What happens to a claimed job: run its handler, turn the result into an outcome, and record
//! outcomes in batches (one `delete` for every job that finished since the last write), with
//! heartbeats keeping the leases of running jobs alive meanwhile.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use dealbridge_core::ErrorChain;
use dealbridge_storage::{JobFailure, JobId, JobLease, Store};
use futures::FutureExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::registry::{JobContext, Registry};
use crate::JobError;

/// Counters of one worker run.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub completed: AtomicU64,
    pub retried: AtomicU64,
    pub dead: AtomicU64,
    pub lost: AtomicU64,
    pub released: AtomicU64,
}

/// Leases this worker holds. `running`: the handler has not finished (released at shutdown if it
/// never does). `held`: not yet recorded (kept alive by heartbeats until the outcome is written).
#[derive(Debug, Default)]
pub(crate) struct Leases {
    pub running: Mutex<HashMap<JobId, JobLease>>,
    pub held: Mutex<HashMap<JobId, JobLease>>,
}

impl Leases {
    /// A claimed job: its lease is kept alive from now until its outcome is recorded.
    pub fn hold(&self, lease: JobLease) {
        Self::insert(&self.held, lease);
    }

    /// A held job whose handler starts now.
    pub fn start(&self, lease: JobLease) {
        Self::insert(&self.running, lease);
    }

    fn insert(map: &Mutex<HashMap<JobId, JobLease>>, lease: JobLease) {
        if let Ok(mut map) = map.lock() {
            map.insert(lease.id, lease);
        }
    }

    pub fn remove(map: &Mutex<HashMap<JobId, JobLease>>, id: JobId) {
        if let Ok(mut map) = map.lock() {
            map.remove(&id);
        }
    }

    pub fn snapshot(map: &Mutex<HashMap<JobId, JobLease>>) -> Vec<JobLease> {
        map.lock()
            .map(|map| map.values().copied().collect())
            .unwrap_or_default()
    }
}

#[derive(Debug)]
pub(crate) enum Outcome {
    Done(JobLease, String),
    Failed(JobLease, String, JobFailure),
}

/// How a job's attempt ended, once recorded in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The handler succeeded and the job is gone from the queue.
    Done,
    /// The handler failed and the job is queued to run again.
    Retried,
    /// The handler failed for good (or ran out of attempts): the job is dead.
    Dead,
}

impl Finished {
    pub fn as_str(self) -> &'static str {
        match self {
            Finished::Done => "done",
            Finished::Retried => "retried",
            Finished::Dead => "dead",
        }
    }
}

/// Told of every recorded outcome with the job's kind. Lets the app count outcomes (metrics)
/// without this crate depending on a metrics library.
pub type FinishObserver = Arc<dyn Fn(&str, Finished) + Send + Sync>;

/// Runs one job and sends its outcome; the permit returns the worker slot when this ends.
pub(crate) async fn run_job(
    registry: Arc<Registry>,
    ctx: JobContext,
    leases: Arc<Leases>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    _permit: OwnedSemaphorePermit,
) {
    let job = &ctx.job;
    let Some(lease) = job.lease() else { return };
    let (attempts, max_attempts) = (job.attempts, job.max_attempts);
    let kind = job.kind.clone();
    let result = match registry.get(&kind) {
        // Another worker version may know the kind (rolling deploy), so this is worth a retry.
        None => Err(JobError::retry(format!(
            "no handler for job kind {kind:?} in this worker"
        ))),
        Some(registered) => {
            let run = registered.handler.run(ctx.clone());
            match AssertUnwindSafe(run).catch_unwind().await {
                Ok(result) => result,
                Err(_) => Err(JobError::retry(format!("handler of {kind:?} panicked"))),
            }
        }
    };
    let backoff = registry.get(&kind).map(|r| r.backoff).unwrap_or_default();
    let outcome = match result {
        Ok(()) => Outcome::Done(lease, kind),
        Err(err) => {
            let retry_at = match &err {
                JobError::Permanent(_) => None,
                _ if attempts >= max_attempts => None,
                JobError::RetryAt(_, at) => Some(*at),
                JobError::Retry(_) => {
                    let delay = backoff.delay(attempts, &mut rand::thread_rng());
                    Some(Utc::now() + chrono::TimeDelta::from_std(delay).unwrap_or_default())
                }
            };
            // The one place a failure is handled: the log gets its whole cause chain. The job row
            // keeps only the cause's own message: the dashboard shows it to the tenant's admin,
            // and what lies below it (database or transport details) is ours to read.
            tracing::warn!(job.id = %lease.id, job.kind = %kind, job.attempts = attempts,
                retry = retry_at.is_some(), error = %err.chain(), "job failed");
            let error = err.cause().to_string();
            Outcome::Failed(lease, kind, JobFailure { error, retry_at })
        }
    };
    Leases::remove(&leases.running, lease.id);
    // The recorder outlives every job task, so a send can only fail while the runtime shuts down.
    let _ = outcomes.send(outcome);
}

/// Writes outcomes until every sender is gone. Completions are batched: whatever finished while
/// the previous write was in flight goes into the next one.
pub(crate) async fn record_outcomes(
    store: Arc<dyn Store>,
    mut outcomes: mpsc::UnboundedReceiver<Outcome>,
    leases: Arc<Leases>,
    counters: Arc<Counters>,
    observer: Option<FinishObserver>,
) {
    let observe = |kind: &str, finished: Finished| {
        if let Some(observer) = &observer {
            observer(kind, finished);
        }
    };
    const MAX_BATCH: usize = 1000;
    while let Some(first) = outcomes.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match outcomes.try_recv() {
                Ok(outcome) => batch.push(outcome),
                Err(_) => break,
            }
        }
        let mut done = Vec::new();
        let mut done_kinds = Vec::new();
        for outcome in batch {
            match outcome {
                Outcome::Done(lease, kind) => {
                    done.push(lease);
                    done_kinds.push(kind);
                }
                Outcome::Failed(lease, kind, failure) => {
                    let dead = failure.retry_at.is_none();
                    match with_retries(|| store.fail_job(&lease, &failure)).await {
                        Some(true) if dead => {
                            bump(&counters.dead, 1);
                            observe(&kind, Finished::Dead);
                        }
                        Some(true) => {
                            bump(&counters.retried, 1);
                            observe(&kind, Finished::Retried);
                        }
                        Some(false) => lost(&counters, &lease),
                        None => {}
                    }
                    Leases::remove(&leases.held, lease.id);
                }
            }
        }
        if !done.is_empty() {
            if let Some(n) = with_retries(|| store.complete_jobs(&done)).await {
                bump(&counters.completed, n);
                let missing = done.len() as u64 - n.min(done.len() as u64);
                if missing > 0 {
                    bump(&counters.lost, missing);
                    tracing::warn!(jobs = missing, "finished jobs whose lease was lost");
                } else {
                    // The store does not say which leases of a batch were lost, so a batch with
                    // losses is left out rather than counted against the wrong kinds.
                    for kind in &done_kinds {
                        observe(kind, Finished::Done);
                    }
                }
            }
            for lease in &done {
                Leases::remove(&leases.held, lease.id);
            }
        }
    }
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn lost(counters: &Counters, lease: &JobLease) {
    bump(&counters.lost, 1);
    tracing::warn!(job.id = %lease.id, "result discarded: the lease was lost");
}

/// A few tries across a short database outage. If they all fail, the outcome is dropped: the lease
/// expires and the job runs again, which idempotent handlers tolerate.
async fn with_retries<T, F, Fut>(mut write: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = dealbridge_storage::StoreResult<T>>,
{
    for attempt in 0..3u32 {
        match write().await {
            Ok(value) => return Some(value),
            Err(e) => {
                tracing::error!(error = %ErrorChain(&e), attempt, "recording job outcomes failed");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
            }
        }
    }
    None
}

/// Extends the leases of held jobs every `lease / 3`, so a job outlives its lease only if this
/// process stalls or dies.
pub(crate) async fn heartbeat(store: Arc<dyn Store>, leases: Arc<Leases>, lease: Duration) {
    let mut tick = tokio::time::interval(lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let held = Leases::snapshot(&leases.held);
        if held.is_empty() {
            continue;
        }
        let until = Utc::now() + chrono::TimeDelta::from_std(lease).unwrap_or_default();
        match store.extend_leases(&held, until).await {
            Ok(extended) if extended.len() < held.len() => {
                for lease in held.iter().filter(|l| !extended.contains(&l.id)) {
                    // Cancelled, or expired and taken by another worker: its result will not count
                    // (the recorder counts it as lost when the write is refused).
                    tracing::warn!(job.id = %lease.id, "job lease lost while running");
                    Leases::remove(&leases.held, lease.id);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %ErrorChain(&e), "extending job leases failed"),
        }
    }
}

//! The worker: one claim loop per process that keeps up to `concurrency` handlers busy.
//!
//! Each pass claims as many jobs as there are free slots, plus an adaptive reserve of ready jobs
//! while claims cannot keep up with the handlers (`prefetch`), in one fair, batched claim; handlers
//! run as tasks; their outcomes are recorded in batches by one recorder task; a heartbeat task extends
//! leases. The loop sleeps on store wake-ups (LISTEN/NOTIFY) with a polling fallback, and also
//! recovers jobs whose worker died and enqueues periodic jobs.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use dealbridge_core::ErrorChain;
use dealbridge_storage::{Claim, Job, JobLease, LeaseId, Store, StoreResult};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::budget::{BudgetGate, Unlimited};
use crate::execute::{
    heartbeat, record_outcomes, run_job, Counters, FinishObserver, Leases, Outcome,
};
use crate::fair::Planner;
use crate::prefetch::Prefetch;
use crate::registry::{JobContext, Registry};
use crate::Error;

/// The longest a worker waits for more free slots before claiming for the few it has.
const LINGER: Duration = Duration::from_millis(5);

#[derive(Debug, Clone)]
struct Config {
    worker_id: String,
    concurrency: usize,
    batch_size: u32,
    /// Most claimed jobs kept ready beyond the free slots; `None`: the concurrency.
    prefetch: Option<usize>,
    lease: Duration,
    poll_interval: Duration,
    shutdown_grace: Duration,
    max_queues: u32,
}

/// What one run of a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    pub completed: u64,
    pub retried: u64,
    pub dead: u64,
    /// Results refused because the lease was lost (expired and re-claimed, or cancelled).
    pub lost: u64,
    /// Jobs handed back unrun at shutdown.
    pub released: u64,
}

pub struct WorkerBuilder {
    store: Arc<dyn Store>,
    registry: Registry,
    budget: Arc<dyn BudgetGate>,
    observer: Option<FinishObserver>,
    config: Config,
}

impl WorkerBuilder {
    /// Handlers running at once in this process (default 16).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.config.concurrency = n.max(1);
        self
    }

    /// Most jobs taken in one claim (default 64).
    pub fn batch_size(mut self, n: u32) -> Self {
        self.config.batch_size = n.max(1);
        self
    }

    /// Most claimed jobs kept ready beyond the free slots (default: the concurrency; 0 turns the
    /// reserve off). The reserve adapts between 0 and this: it grows only while handlers finish
    /// before a claim comes back, so slow jobs keep none (see `prefetch.rs`). A claim still takes
    /// at most `batch_size` jobs.
    pub fn prefetch(mut self, max: usize) -> Self {
        self.config.prefetch = Some(max);
        self
    }

    /// How long a claim holds a job without a heartbeat (default 30 s). After a crash the job runs
    /// again once this expires.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease.max(Duration::from_millis(300));
        self
    }

    /// The longest sleep between claim attempts when no wake-up arrives (default 1 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How long shutdown waits for running handlers before releasing their jobs (default 30 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    pub fn budget(mut self, gate: Arc<dyn BudgetGate>) -> Self {
        self.budget = gate;
        self
    }

    /// Called with the kind and outcome of every job whose outcome was recorded (metrics).
    pub fn on_finished(mut self, observer: FinishObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Shown in `locked_by` (default `worker-<pid>-<random>`).
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.config.worker_id = id.into();
        self
    }

    pub fn build(self) -> Worker {
        Worker {
            store: self.store,
            registry: Arc::new(self.registry),
            budget: self.budget,
            observer: self.observer,
            config: self.config,
        }
    }
}

pub struct Worker {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    budget: Arc<dyn BudgetGate>,
    observer: Option<FinishObserver>,
    config: Config,
}

impl Worker {
    pub fn builder(store: Arc<dyn Store>, registry: Registry) -> WorkerBuilder {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let config = Config {
            worker_id: format!("worker-{}-{}", std::process::id(), &suffix[..8]),
            concurrency: 16,
            batch_size: 64,
            prefetch: None,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            max_queues: 256,
        };
        WorkerBuilder {
            store,
            registry,
            budget: Arc::new(Unlimited),
            observer: None,
            config,
        }
    }

    pub fn id(&self) -> &str {
        &self.config.worker_id
    }

    /// Runs until `shutdown` resolves, then stops claiming, waits up to the grace period for
    /// running handlers, releases the jobs of those that did not finish, and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<WorkerReport, Error> {
        self.run_inner(shutdown, false).await
    }

    /// Runs until nothing is ready to claim and nothing is running (tests, batch tools).
    pub async fn run_until_idle(self) -> Result<WorkerReport, Error> {
        self.run_inner(std::future::pending(), true).await
    }

    async fn run_inner(
        self,
        shutdown: impl Future<Output = ()> + Send,
        stop_when_idle: bool,
    ) -> Result<WorkerReport, Error> {
        let config = &self.config;
        let store = self.store.clone();
        // Subscribe first: nothing has been spawned yet if this fails.
        let mut wakeups = store.job_wakeups().await?;
        let leases = Arc::new(Leases::default());
        let counters = Arc::new(Counters::default());
        let slots = Arc::new(Semaphore::new(config.concurrency));
        let (outcomes, received) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_outcomes(
            store.clone(),
            received,
            leases.clone(),
            counters.clone(),
            self.observer.clone(),
        ));
        let heartbeat = tokio::spawn(heartbeat(store.clone(), leases.clone(), config.lease));
        let mut tasks = JoinSet::new();
        let mut planner = Planner::default();
        let recovery_every =
            (config.lease / 2).clamp(Duration::from_millis(250), Duration::from_secs(5));
        let (mut next_recovery, mut next_periodic) = (Instant::now(), Instant::now());
        let mut lingering: Option<Instant> = None;
        // Claimed jobs waiting for a slot (their leases are held and heartbeated meanwhile).
        let mut ready: VecDeque<Job> = VecDeque::new();
        let mut reserve = Prefetch::new(config.prefetch.unwrap_or(config.concurrency));
        tracing::info!(worker.id = %config.worker_id, concurrency = config.concurrency, "worker started");
        tokio::pin!(shutdown);

        loop {
            while let Some(joined) = tasks.try_join_next() {
                log_join(joined);
            }
            if Instant::now() >= next_recovery {
                next_recovery = Instant::now() + recovery_every;
                match store.recover_expired(Utc::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(jobs = n, "recovered jobs with expired leases"),
                    Err(e) => {
                        tracing::error!(error = %ErrorChain(&e), "recovering expired leases failed")
                    }
                }
            }
            if Instant::now() >= next_periodic {
                next_periodic = Instant::now() + config.poll_interval.max(Duration::from_secs(5));
                self.schedule_periodic().await;
            }

            // New work (perhaps a quieter tenant's) while more claimed jobs wait than slots are
            // free: claim before starting any of them, so what the deal now puts first is ordered
            // ahead of the reserve instead of waiting for it to drain. When every waiting job can
            // start now there is nothing to overtake, and they start at once. Bounded: the reserve
            // may grow by one round of slots at most.
            let overtake = ready.len() > slots.available_permits()
                && ready.len() < reserve.target() + config.concurrency
                && wakeups.wait(Duration::ZERO).await;
            if overtake {
                planner.mark_stale();
            } else {
                self.start_ready(&mut ready, &slots, &mut tasks, &leases, &outcomes);
            }
            // Jobs to claim: one per free slot, plus what the reserve lacks; on new work while
            // jobs wait, one round of slots.
            let free = slots.available_permits();
            let room = if overtake {
                config.concurrency
            } else {
                (free + reserve.target()).saturating_sub(ready.len())
            };

            // Batch claims: with room for only a few jobs while handlers are still running, wait a
            // moment for more slots to free up, so a busy worker claims in batches instead of
            // paying a claim per finished job. Bounded by LINGER, so long handlers cannot idle
            // slots.
            let low_water = (config.concurrency / 4).max(1);
            if !overtake && room > 0 && room < low_water && !tasks.is_empty() {
                let since = *lingering.get_or_insert_with(Instant::now);
                if let Some(left) = LINGER.checked_sub(since.elapsed()) {
                    tokio::select! {
                        biased;
                        _ = &mut shutdown => break,
                        Some(joined) = tasks.join_next() => log_join(joined),
                        _ = tokio::time::sleep(left) => {}
                    }
                    continue;
                }
            }
            lingering = None;
            let mut claimed = 0;
            let mut wait = config.poll_interval;
            if room > 0 {
                // A wake-up that arrived while we were busy: new jobs, perhaps of a new tenant.
                if wakeups.wait(Duration::ZERO).await {
                    planner.mark_stale();
                }
                // While the claim is in flight, slots that free up take jobs from the reserve:
                // with short handlers a whole round of slots can finish in one claim's round
                // trip, and waiting for the claim would leave them idle.
                let claimed_jobs = {
                    let claim = self.claim(&mut planner, room);
                    tokio::pin!(claim);
                    loop {
                        tokio::select! {
                            biased;
                            result = &mut claim => break result,
                            Some(joined) = tasks.join_next(), if !ready.is_empty() => {
                                log_join(joined);
                                self.start_ready(&mut ready, &slots, &mut tasks, &leases, &outcomes);
                            }
                        }
                    }
                };
                match claimed_jobs {
                    Ok((jobs, wanted, reopen)) => {
                        claimed = jobs.len();
                        planner.charge(&jobs);
                        if claimed < wanted {
                            planner.mark_stale(); // a queue ran dry or was taken by others
                        }
                        if wanted > 0 {
                            let all_idle = slots.available_permits() == config.concurrency;
                            reserve.observe(claimed >= wanted, all_idle);
                        }
                        if let Some(reopen) = reopen {
                            let until = (reopen - Utc::now()).to_std().unwrap_or_default();
                            wait = wait.min(until.max(Duration::from_millis(10)));
                        }
                        let reserved = !ready.is_empty();
                        for job in jobs {
                            let Some(lease) = job.lease() else { continue };
                            leases.hold(lease);
                            ready.push_back(job);
                        }
                        if reserved {
                            planner.order_ready(ready.make_contiguous());
                        }
                    }
                    Err(e) => tracing::error!(error = %ErrorChain(&e), "claiming jobs failed"),
                }
            }
            if (claimed > 0 || overtake) && slots.available_permits() > 0 {
                continue; // start what was claimed (or held back); there may be more ready work
            }
            if stop_when_idle && claimed == 0 && tasks.is_empty() && ready.is_empty() {
                break;
            }
            let has_slots = slots.available_permits() > 0;
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => log_join(joined),
                woken = wakeups.wait(wait), if has_slots => {
                    if woken {
                        planner.mark_stale();
                    }
                }
                _ = tokio::time::sleep(wait), if !has_slots => {}
            }
        }

        tracing::info!(worker.id = %config.worker_id, running = tasks.len(), "worker stopping");
        // Jobs claimed but never started go back at once, for another worker to run.
        let unstarted: Vec<_> = ready.drain(..).filter_map(|job| job.lease()).collect();
        self.release(&unstarted, &leases, &counters).await;
        let finish = async {
            while let Some(joined) = tasks.join_next().await {
                log_join(joined)
            }
        };
        if tokio::time::timeout(config.shutdown_grace, finish)
            .await
            .is_err()
        {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            let unfinished = Leases::snapshot(&leases.running);
            self.release(&unfinished, &leases, &counters).await;
        }
        drop(outcomes);
        let recorded = recorder.await;
        heartbeat.abort();
        recorded?;
        Ok(WorkerReport {
            completed: counters.completed.load(Ordering::Relaxed),
            retried: counters.retried.load(Ordering::Relaxed),
            dead: counters.dead.load(Ordering::Relaxed),
            lost: counters.lost.load(Ordering::Relaxed),
            released: counters.released.load(Ordering::Relaxed),
        })
    }

    /// One fair claim for up to `free` slots: the jobs, how many were asked for, and when a
    /// budget-blocked queue reopens.
    async fn claim(
        &self,
        planner: &mut Planner,
        free: usize,
    ) -> StoreResult<(Vec<Job>, usize, Option<chrono::DateTime<Utc>>)> {
        let config = &self.config;
        let slots = u32::try_from(free)
            .unwrap_or(u32::MAX)
            .min(config.batch_size);
        let now = Utc::now();
        let (takes, reopen) = planner
            .plan(
                self.store.as_ref(),
                self.budget.as_ref(),
                now,
                slots,
                config.max_queues,
            )
            .await?;
        if takes.is_empty() {
            return Ok((Vec::new(), 0, reopen));
        }
        let wanted = takes.iter().map(|t| t.limit as usize).sum();
        let claim = Claim {
            worker: &config.worker_id,
            lease_id: LeaseId::new(),
            now,
            lease: config.lease,
            takes: &takes,
        };
        Ok((self.store.claim_jobs(&claim).await?, wanted, reopen))
    }

    /// Hands jobs back unrun (shutdown): queued again at once, their attempt not counted. If that
    /// fails, they run again once their leases expire.
    async fn release(&self, jobs: &[JobLease], leases: &Leases, counters: &Counters) {
        if jobs.is_empty() {
            return;
        }
        match self.store.release_jobs(jobs, Utc::now()).await {
            Ok(n) => {
                counters.released.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %ErrorChain(&e), "releasing unfinished jobs failed")
            }
        }
        for lease in jobs {
            Leases::remove(&leases.held, lease.id);
        }
    }

    async fn schedule_periodic(&self) {
        let now = Utc::now();
        for periodic in self.registry.periodic_jobs() {
            if let Err(e) = self.store.enqueue(&periodic.job_after(now)).await {
                tracing::error!(error = %ErrorChain(&e), job.kind = %periodic.kind, "scheduling periodic job failed");
            }
        }
    }
}

impl Worker {
    /// Starts ready jobs, oldest claim first, on as many slots as are free.
    fn start_ready(
        &self,
        ready: &mut VecDeque<Job>,
        slots: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
        leases: &Arc<Leases>,
        outcomes: &mpsc::UnboundedSender<Outcome>,
    ) {
        for (job, permit) in take_ready(ready, slots) {
            if let Some(lease) = job.lease() {
                leases.start(lease);
            }
            let span = job_span(&job);
            let task = run_job(
                self.registry.clone(),
                JobContext { job },
                leases.clone(),
                outcomes.clone(),
                permit,
            );
            tasks.spawn(task.instrument(span));
        }
    }
}

/// Takes ready jobs, oldest claim first, for as many slots as are free; each with its slot's
/// permit.
fn take_ready(
    ready: &mut VecDeque<Job>,
    slots: &Arc<Semaphore>,
) -> Vec<(Job, tokio::sync::OwnedSemaphorePermit)> {
    let mut started = Vec::new();
    while !ready.is_empty() {
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            break;
        };
        if let Some(job) = ready.pop_front() {
            started.push((job, permit));
        }
    }
    started
}

/// The span every log line of a job's run carries (and that trace exporters send on).
fn job_span(job: &Job) -> tracing::Span {
    let span = tracing::info_span!(
        "job",
        job.id = %job.id,
        job.kind = %job.kind,
        job.attempt = job.attempts,
        tenant.id = tracing::field::Empty,
    );
    if let Some(tenant) = job.tenant_id {
        span.record("tenant.id", tracing::field::display(tenant));
    }
    span
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        if e.is_panic() {
            tracing::error!("job task panicked outside its handler");
        }
    }
}

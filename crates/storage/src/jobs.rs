//! The job queue's rows and the contract both backends implement. Policy (fairness, budgets,
//! backoff, which kinds exist) lives in the `dealbridge-jobs` crate; this contract only moves rows,
//! atomically, and fences every write a worker makes with the lease it was given.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;
use uuid::Uuid;

use crate::StoreResult;

/// A job's id: UUIDv7, so new rows land at the end of the primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(Uuid);

impl JobId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The fencing token of one claim. Every claim writes a fresh one into the rows it takes, and every
/// later write (complete, fail, heartbeat, release) must present it: once a lease expired and the job
/// was claimed again, the stale attempt's writes match no row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseId(Uuid);

impl LeaseId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for LeaseId {
    fn default() -> Self {
        Self::new()
    }
}

/// Stored in place of a tenant id for system jobs (periodic sweeps), which belong to no tenant. The
/// nil UUID sorts before every UUIDv7, and keeping the column `not null` lets it lead every key.
pub const SYSTEM_TENANT: Uuid = Uuid::nil();

pub fn tenant_key(tenant_id: Option<TenantId>) -> Uuid {
    tenant_id.map_or(SYSTEM_TENANT, |t| t.as_uuid())
}

pub fn tenant_from_key(key: Uuid) -> Option<TenantId> {
    (!key.is_nil()).then(|| TenantId::from_uuid(key))
}

/// Lanes separate work by urgency: realtime events must not queue behind a tenant's own import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// Webhooks and user-visible events.
    Realtime,
    /// Ordinary background work (token refresh, reconcile).
    Default,
    /// Imports and backfills.
    Bulk,
}

impl Lane {
    pub const ALL: [Lane; 3] = [Lane::Realtime, Lane::Default, Lane::Bulk];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Realtime => "realtime",
            Self::Default => "default",
            Self::Bulk => "bulk",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|lane| lane.as_str() == s)
    }
}

/// Where a job is in its life. Finished jobs are deleted, so the table holds only open work and the
/// dead letters, and claiming stays fast however many jobs have ever run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Dead,
}

impl JobState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// A job to enqueue. Build it with [`NewJob::new`] and the setters.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// `None` for system jobs.
    pub tenant_id: Option<TenantId>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub lane: Lane,
    /// Lower runs first within one tenant's lane.
    pub priority: i16,
    /// Not before this time; `None` means now.
    pub run_at: Option<DateTime<Utc>>,
    pub max_attempts: u32,
    /// While a job with the same tenant and key is queued or running, enqueueing another is a no-op.
    pub unique_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            tenant_id: None,
            kind: kind.into(),
            payload,
            lane: Lane::Default,
            priority: 0,
            run_at: None,
            max_attempts: 10,
            unique_key: None,
        }
    }

    pub fn tenant(mut self, tenant_id: TenantId) -> Self {
        self.tenant_id = Some(tenant_id);
        self
    }

    pub fn lane(mut self, lane: Lane) -> Self {
        self.lane = lane;
        self
    }

    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    pub fn run_at(mut self, run_at: DateTime<Utc>) -> Self {
        self.run_at = Some(run_at);
        self
    }

    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }
}

/// The result of an enqueue: a new row, or the id of the open job holding the same unique key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    New(JobId),
    Duplicate(JobId),
}

impl Enqueued {
    pub fn id(&self) -> JobId {
        match self {
            Self::New(id) | Self::Duplicate(id) => *id,
        }
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub tenant_id: Option<TenantId>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub lane: Lane,
    pub priority: i16,
    pub state: JobState,
    /// Claims so far, this one included while running.
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
    pub locked_by: Option<String>,
    pub lease_id: Option<LeaseId>,
    pub last_error: Option<String>,
    pub unique_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Job {
    /// The handle a worker presents for every write about this attempt. `None` unless running.
    pub fn lease(&self) -> Option<JobLease> {
        Some(JobLease {
            tenant_id: self.tenant_id,
            id: self.id,
            lease_id: self.lease_id?,
        })
    }
}

/// One claimed attempt of a job: its key plus the fencing token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobLease {
    pub tenant_id: Option<TenantId>,
    pub id: JobId,
    pub lease_id: LeaseId,
}

/// One tenant's lane with at least one job ready to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReadyQueue {
    pub tenant_id: Option<TenantId>,
    pub lane: Lane,
}

/// How many jobs to take from one ready queue in a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueTake {
    pub queue: ReadyQueue,
    pub limit: u32,
}

/// One batched claim: the oldest ready jobs (by priority, then run_at) of each listed queue, up to
/// its limit, skipping rows another worker holds.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub worker: &'a str,
    pub lease_id: LeaseId,
    pub now: DateTime<Utc>,
    pub lease: Duration,
    pub takes: &'a [QueueTake],
}

/// A failed attempt: retry at `retry_at`, or go dead (`None`).
#[derive(Debug, Clone, PartialEq)]
pub struct JobFailure {
    pub error: String,
    pub retry_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub queued: u64,
    pub running: u64,
    pub dead: u64,
}

/// Wake-ups on new jobs: LISTEN/NOTIFY on Postgres, an in-process signal on SQLite. A hint only;
/// workers poll as well, so a lost wake-up delays work by at most the poll interval.
#[async_trait]
pub trait JobWakeups: Send {
    /// Returns true when woken by a new job, false on timeout.
    async fn wait(&mut self, timeout: Duration) -> bool;
}

#[async_trait]
pub trait Jobs: Send + Sync + 'static {
    /// Inserts a job, or finds the open job holding its unique key. To enqueue inside the
    /// transaction of the change that caused the job, use the backend's `enqueue_in`.
    async fn enqueue(&self, job: &NewJob) -> StoreResult<Enqueued>;

    /// Inserts many jobs in one statement; duplicates of open unique keys are skipped. Returns how
    /// many rows were inserted.
    async fn enqueue_batch(&self, jobs: &[NewJob]) -> StoreResult<u64>;

    async fn job(&self, tenant_id: Option<TenantId>, id: JobId) -> StoreResult<Option<Job>>;

    /// Queues (tenant, lane) that have a job ready at `now`, in key order, starting after `after`.
    /// Cost grows with the number of queues, not with the jobs in them.
    async fn ready_queues(
        &self,
        now: DateTime<Utc>,
        after: Option<ReadyQueue>,
        limit: u32,
    ) -> StoreResult<Vec<ReadyQueue>>;

    /// Marks the chosen jobs running under `claim.lease_id` until `now + lease`, counts the attempt,
    /// and returns them. A job is handed to at most one claim at a time.
    async fn claim_jobs(&self, claim: &Claim<'_>) -> StoreResult<Vec<Job>>;

    /// Extends the leases still held; returns the ids whose lease was extended (the others were
    /// lost: expired and taken again, cancelled, or finished).
    async fn extend_leases(
        &self,
        leases: &[JobLease],
        locked_until: DateTime<Utc>,
    ) -> StoreResult<Vec<JobId>>;

    /// Deletes the finished jobs whose lease is still current; returns how many. Each tenant's
    /// are counted on its UTC day (`JobDays`) in the same statement or transaction.
    async fn complete_jobs(&self, leases: &[JobLease]) -> StoreResult<u64>;

    /// Records a failed attempt (queued again at `retry_at`, or dead), counted on the tenant's UTC
    /// day (`JobDays`) in the same transaction. False if the lease was lost.
    async fn fail_job(&self, lease: &JobLease, failure: &JobFailure) -> StoreResult<bool>;

    /// Hands running jobs back unrun (graceful shutdown): queued at `run_at`, the attempt not
    /// counted. Returns how many were still held.
    async fn release_jobs(&self, leases: &[JobLease], run_at: DateTime<Utc>) -> StoreResult<u64>;

    /// Jobs whose lease expired (their worker died) are queued again, or go dead if that attempt
    /// was their last. Returns how many rows changed.
    async fn recover_expired(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Dead jobs of one tenant (or, with `None`, system jobs), newest first.
    async fn dead_jobs(&self, tenant_id: Option<TenantId>, limit: u32) -> StoreResult<Vec<Job>>;

    /// Queues a dead job again with a fresh attempt budget; its last error is kept until it runs.
    /// `NotFound` unless the job exists, belongs to the tenant and is dead.
    async fn retry_dead_job(&self, tenant_id: Option<TenantId>, id: JobId) -> StoreResult<()>;

    /// Deletes every job of the tenant, whatever its state (uninstall, pause). Running attempts
    /// lose their lease, so their results are discarded. Returns how many.
    async fn cancel_tenant_jobs(&self, tenant_id: TenantId) -> StoreResult<u64>;

    async fn job_counts(&self, tenant_id: Option<TenantId>) -> StoreResult<JobCounts>;

    /// [`Jobs::job_counts`] for pages: each count stops at `cap + 1` (shown as "10,000+"), so a
    /// tenant with a million jobs costs no more to count than one with `cap`.
    async fn job_counts_capped(
        &self,
        tenant_id: Option<TenantId>,
        cap: u64,
    ) -> StoreResult<JobCounts>;

    /// A subscription to new-job wake-ups.
    async fn job_wakeups(&self) -> StoreResult<Box<dyn JobWakeups>>;
}

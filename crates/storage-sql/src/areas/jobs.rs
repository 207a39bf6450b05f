//! The job queue. Batches bind one `Batch` column per field, and the statements that read them
//! differ per database (`Queue`, see `postgres/queue.rs` and `sqlite/queue.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;
use dealbridge_storage::{
    tenant_from_key, Claim, Enqueued, Job, JobCounts, JobFailure, JobId, JobLease, JobState,
    JobWakeups, Jobs, Lane, LeaseId, NewJob, ReadyQueue, StoreError, StoreResult,
};

use crate::backend::Backend;
use crate::statement::{count, sql};
use crate::values::{Batch, Id, QueueTime};
use crate::{commit, SqlStore};

pub(crate) const COLUMNS: &str = "tenant_id, id, kind, payload, lane, priority, state, attempts,
    max_attempts, run_at, locked_until, locked_by, lease_id, last_error, unique_key, created_at,
    updated_at";

/// Names the partial unique index, so an insert can skip exactly the open-duplicate case.
const ON_UNIQUE: &str = "on conflict (tenant_id, unique_key)
    where unique_key is not null and state in ('queued', 'running') do nothing";

const HOLDER: &str = "select id from jobs
    where tenant_id = $1 and unique_key = $2 and state in ('queued', 'running')";

const FAIL: &str = "update jobs set state = case when $1 is null then 'dead' else 'queued' end,
        run_at = coalesce($1, run_at), last_error = $2, locked_until = null, locked_by = null,
        lease_id = null, updated_at = $3
    where tenant_id = $4 and id = $5 and lease_id = $6 and state = 'running'
    returning kind";

const RECOVER: &str = "update jobs
    set state = case when attempts >= max_attempts then 'dead' else 'queued' end,
        last_error = 'lease expired: the worker stopped or stalled',
        locked_until = null, locked_by = null, lease_id = null, updated_at = $1
    where state = 'running' and locked_until < $1
    returning tenant_id, id, kind";

const RETRY: &str = "update jobs set state = 'queued', attempts = 0, run_at = $1, updated_at = $1
    where tenant_id = $2 and id = $3 and state = 'dead'";

const COUNTS: &str = "select state, count(*) as n from jobs where tenant_id = $1 group by state";

/// Each count reads at most `$2` rows through its state's partial index (`jobs_queued_tenant_idx`,
/// `jobs_running_tenant_idx`, `jobs_dead_idx`): counting a busy tenant's 150,000 jobs with
/// `COUNTS` took a parallel scan of the whole table (90 ms at a million jobs).
const CAPPED_COUNTS: &str = "select
    (select count(*) from (select 1 from jobs
        where tenant_id = $1 and state = 'queued' limit $2) q) as queued,
    (select count(*) from (select 1 from jobs
        where tenant_id = $1 and state = 'running' limit $2) r) as running,
    (select count(*) from (select 1 from jobs
        where tenant_id = $1 and state = 'dead' limit $2) d) as dead";

fn attempts_column(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// The leases of a batch: the `$1`..`$3` columns of the lease statements.
pub(super) fn lease_columns(leases: &[JobLease]) -> (Batch<Id>, Batch<Id>, Batch<Id>) {
    (
        Batch::of(leases, |l| Id::from(l.tenant_id)),
        Batch::of(leases, |l| Id(l.id.as_uuid())),
        Batch::of(leases, |l| Id(l.lease_id.as_uuid())),
    )
}

fn corrupt(what: &str, value: impl std::fmt::Debug) -> StoreError {
    StoreError::Corrupt(format!("job {what} {value:?}"))
}

pub(super) fn job_from_row<B: Backend>(row: &B::Row) -> StoreResult<Job> {
    let count = |name: &str| -> StoreResult<u32> {
        let value: i32 = B::get(row, name)?;
        u32::try_from(value).map_err(|_| corrupt(name, value))
    };
    let time = |name: &str| B::get(row, name).map(|t: QueueTime| t.0);
    let (lane, state): (String, String) = (B::get(row, "lane")?, B::get(row, "state")?);
    let (tenant, id): (Id, Id) = (B::get(row, "tenant_id")?, B::get(row, "id")?);
    let lease: Option<Id> = B::get(row, "lease_id")?;
    let locked_until: Option<QueueTime> = B::get(row, "locked_until")?;
    Ok(Job {
        id: JobId::from_uuid(id.0),
        tenant_id: tenant_from_key(tenant.0),
        kind: B::get(row, "kind")?,
        payload: B::get(row, "payload")?,
        lane: Lane::parse(&lane).ok_or_else(|| corrupt("lane", &lane))?,
        priority: B::get(row, "priority")?,
        state: JobState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        attempts: count("attempts")?,
        max_attempts: count("max_attempts")?,
        run_at: time("run_at")?,
        locked_until: locked_until.map(|t| t.0),
        locked_by: B::get(row, "locked_by")?,
        lease_id: lease.map(|l| LeaseId::from_uuid(l.0)),
        last_error: B::get(row, "last_error")?,
        unique_key: B::get(row, "unique_key")?,
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
    })
}

/// Inserts `jobs` under `ids` in one statement; how many were new (an open job holding its
/// unique key makes a job a no-op).
pub(super) async fn insert_jobs<B: Backend>(
    conn: &mut B::Connection,
    jobs: &[NewJob],
    ids: &[JobId],
) -> StoreResult<u64> {
    let now = Utc::now();
    let job = (
        Batch::of(jobs, |j| Id::from(j.tenant_id)),
        Batch::of(ids, |id| Id(id.as_uuid())),
        Batch::of(jobs, |j| j.kind.as_str()),
        Batch::of(jobs, |j| &j.payload),
        Batch::of(jobs, |j| j.lane.as_str()),
    );
    let schedule = (
        Batch::of(jobs, |j| j.priority),
        Batch::of(jobs, |j| attempts_column(j.max_attempts)),
        Batch::of(jobs, |j| QueueTime(j.run_at.unwrap_or(now))),
        Batch::of(jobs, |j| j.unique_key.as_deref()),
        QueueTime(now),
    );
    let statement = format!("{} {ON_UNIQUE}", B::ENQUEUE_BATCH);
    sql::<B>(&statement)
        .binds(job)
        .binds(schedule)
        .execute(conn)
        .await
}

impl<B: Backend> SqlStore<B> {
    /// Enqueues on a connection the caller controls, typically inside the transaction of the change
    /// that caused the job (`let mut tx = store.pool().begin().await?; ...;
    /// PgStore::enqueue_in(&mut tx, &job).await?; tx.commit().await?`): the job exists if and only
    /// if that change commits. Postgres workers are notified at commit; SQLite wakes this
    /// process's workers at once (if the transaction is still open they find nothing and wait on).
    pub async fn enqueue_in(conn: &mut B::Connection, job: &NewJob) -> StoreResult<Enqueued> {
        // A duplicate's holder can finish between our insert and our lookup; then insert again.
        for _ in 0..3 {
            let id = JobId::new();
            if insert_jobs::<B>(conn, std::slice::from_ref(job), &[id]).await? == 1 {
                B::wake_local_workers();
                return Ok(Enqueued::New(id));
            }
            let holder = sql::<B>(HOLDER).binds((Id::from(job.tenant_id), &job.unique_key));
            if let Some(row) = holder.fetch_optional(conn).await? {
                let id: Id = B::get(&row, "id")?;
                return Ok(Enqueued::Duplicate(JobId::from_uuid(id.0)));
            }
        }
        Err(StoreError::Conflict("unique job key kept changing hands"))
    }
}

#[async_trait]
impl<B: Backend> Jobs for SqlStore<B> {
    async fn enqueue(&self, job: &NewJob) -> StoreResult<Enqueued> {
        Self::enqueue_in(&mut *self.conn().await?, job).await
    }

    async fn enqueue_batch(&self, jobs: &[NewJob]) -> StoreResult<u64> {
        let ids: Vec<JobId> = jobs.iter().map(|_| JobId::new()).collect();
        // One statement on Postgres, several on SQLite: the transaction keeps the batch whole.
        let (mut tx, mut inserted, rows) = (self.begin().await?, 0, B::ENQUEUE_ROWS);
        for (jobs, ids) in jobs.chunks(rows).zip(ids.chunks(rows)) {
            inserted += insert_jobs::<B>(&mut tx, jobs, ids).await?;
        }
        commit(tx).await?;
        B::wake_local_workers();
        Ok(inserted)
    }

    async fn job(&self, tenant_id: Option<TenantId>, id: JobId) -> StoreResult<Option<Job>> {
        let statement = format!("select {COLUMNS} from jobs where tenant_id = $1 and id = $2");
        let values = (Id::from(tenant_id), Id(id.as_uuid()));
        self.fetch_optional(&statement, values, job_from_row::<B>)
            .await
    }

    async fn ready_queues(
        &self,
        now: DateTime<Utc>,
        after: Option<ReadyQueue>,
        limit: u32,
    ) -> StoreResult<Vec<ReadyQueue>> {
        // No cursor: the nil uuid (system jobs) and the empty lane sort before every queue.
        let (tenant, lane) = (
            after.and_then(|q| q.tenant_id),
            after.map_or("", |q| q.lane.as_str()),
        );
        let values = (Id::from(tenant), lane, QueueTime(now), i64::from(limit));
        let read = |row: &B::Row| {
            let (tenant, lane): (Id, String) = (B::get(row, "tenant_id")?, B::get(row, "lane")?);
            let lane = Lane::parse(&lane).ok_or_else(|| corrupt("lane", &lane))?;
            let tenant_id = tenant_from_key(tenant.0);
            Ok(ReadyQueue { tenant_id, lane })
        };
        self.fetch_all(B::READY_QUEUES, values, read).await
    }

    async fn claim_jobs(&self, claim: &Claim<'_>) -> StoreResult<Vec<Job>> {
        let takes = claim.takes;
        if takes.is_empty() {
            return Ok(Vec::new());
        }
        let lease = chrono::TimeDelta::from_std(claim.lease).unwrap_or(chrono::TimeDelta::MAX);
        let until = claim.now.checked_add_signed(lease);
        let until = QueueTime(until.unwrap_or(DateTime::<Utc>::MAX_UTC));
        let (tenants, lanes, limits) = (
            Batch::of(takes, |t| Id::from(t.queue.tenant_id)),
            Batch::of(takes, |t| t.queue.lane.as_str()),
            Batch::of(takes, |t| attempts_column(t.limit)),
        );
        let (now, lease_id) = (QueueTime(claim.now), Id(claim.lease_id.as_uuid()));
        let values = (tenants, lanes, limits, now, claim.worker, lease_id, until);
        let statement = B::claim_jobs(takes.len());
        self.fetch_all(&statement, values, job_from_row::<B>).await
    }

    async fn extend_leases(
        &self,
        leases: &[JobLease],
        locked_until: DateTime<Utc>,
    ) -> StoreResult<Vec<JobId>> {
        let (tenants, ids, lease_ids) = lease_columns(leases);
        let values = (tenants, ids, lease_ids, QueueTime(locked_until));
        let id = |row: &B::Row| B::get(row, "id").map(|id: Id| JobId::from_uuid(id.0));
        self.fetch_all(B::EXTEND_LEASES, values, id).await
    }

    async fn complete_jobs(&self, leases: &[JobLease]) -> StoreResult<u64> {
        self.complete_and_count(leases).await
    }

    async fn fail_job(&self, lease: &JobLease, failure: &JobFailure) -> StoreResult<bool> {
        let (retry_at, now) = (failure.retry_at.map(QueueTime), QueueTime(Utc::now()));
        let (id, lease_id) = (Id(lease.id.as_uuid()), Id(lease.lease_id.as_uuid()));
        let fail = sql::<B>(FAIL).binds((retry_at, &failure.error, now));
        let fail = fail.binds((Id::from(lease.tenant_id), id, lease_id));
        // The failure and its count on the tenant's day commit together.
        let mut tx = self.begin().await?;
        let failed = fail.fetch_optional(&mut tx).await?;
        if let Some(row) = &failed {
            let kind: String = B::get(row, "kind")?;
            Self::count_failed(&mut tx, lease, &kind).await?;
        }
        commit(tx).await?;
        if failure.retry_at.is_some() {
            B::wake_local_workers();
        }
        Ok(failed.is_some())
    }

    async fn release_jobs(&self, leases: &[JobLease], run_at: DateTime<Utc>) -> StoreResult<u64> {
        let (tenants, ids, lease_ids) = lease_columns(leases);
        let values = (tenants, ids, lease_ids, QueueTime(run_at));
        let released = self.execute(B::RELEASE_JOBS, values).await?;
        B::wake_local_workers();
        Ok(released)
    }

    async fn recover_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        // The recovered attempts count as failed on their tenants' days, in the same transaction.
        let mut tx = self.begin().await?;
        let rows = sql::<B>(RECOVER)
            .binds((QueueTime(now),))
            .fetch_all(&mut tx)
            .await?;
        Self::count_recovered(&mut tx, &rows).await?;
        commit(tx).await?;
        Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
    }

    async fn dead_jobs(&self, tenant_id: Option<TenantId>, limit: u32) -> StoreResult<Vec<Job>> {
        let statement = format!(
            "select {COLUMNS} from jobs where tenant_id = $1 and state = 'dead'
             order by updated_at desc, id desc limit $2"
        );
        let values = (Id::from(tenant_id), i64::from(limit));
        self.fetch_all(&statement, values, job_from_row::<B>).await
    }

    async fn retry_dead_job(&self, tenant_id: Option<TenantId>, id: JobId) -> StoreResult<()> {
        let values = (QueueTime(Utc::now()), Id::from(tenant_id), Id(id.as_uuid()));
        if self.execute(RETRY, values).await? == 0 {
            return Err(StoreError::NotFound("dead job"));
        }
        B::notify_retry(&self.pool).await
    }

    async fn cancel_tenant_jobs(&self, tenant_id: TenantId) -> StoreResult<u64> {
        let statement = "delete from jobs where tenant_id = $1";
        self.execute(statement, (Id(tenant_id.as_uuid()),)).await
    }

    async fn job_counts(&self, tenant_id: Option<TenantId>) -> StoreResult<JobCounts> {
        let mut counts = JobCounts::default();
        let read = |row: &B::Row| {
            let state: String = B::get(row, "state")?;
            let state = JobState::parse(&state).ok_or_else(|| corrupt("state", &state))?;
            Ok((state, count::<B>(row)?))
        };
        for (state, n) in self.fetch_all(COUNTS, (Id::from(tenant_id),), read).await? {
            match state {
                JobState::Queued => counts.queued = n,
                JobState::Running => counts.running = n,
                JobState::Dead => counts.dead = n,
            }
        }
        Ok(counts)
    }

    async fn job_counts_capped(
        &self,
        tenant_id: Option<TenantId>,
        cap: u64,
    ) -> StoreResult<JobCounts> {
        let limit = i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX);
        let read = |row: &B::Row| {
            let n = |name: &str| -> StoreResult<u64> {
                let n: i64 = B::get(row, name)?;
                u64::try_from(n).map_err(|_| corrupt(name, n))
            };
            Ok(JobCounts {
                queued: n("queued")?,
                running: n("running")?,
                dead: n("dead")?,
            })
        };
        self.fetch_one(CAPPED_COUNTS, (Id::from(tenant_id), limit), read)
            .await
    }

    async fn job_wakeups(&self) -> StoreResult<Box<dyn JobWakeups>> {
        B::job_wakeups(&self.pool).await
    }
}

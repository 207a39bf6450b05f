//! The job queue: single-job writes and reads here; the batched, fenced writes whose SQL differs
//! per database are `Queue` (see `postgres/queue.rs` and `sqlite/queue.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;
use dealbridge_storage::{
    tenant_from_key, Claim, Enqueued, Job, JobCounts, JobFailure, JobId, JobLease, JobState,
    JobWakeups, Jobs, Lane, LeaseId, NewJob, ReadyQueue, StoreError, StoreResult,
};

use crate::backend::Backend;
use crate::statement::sql;
use crate::values::{Id, QueueTime};
use crate::SqlStore;

pub(crate) const COLUMNS: &str = "tenant_id, id, kind, payload, lane, priority, state, attempts,
    max_attempts, run_at, locked_until, locked_by, lease_id, last_error, unique_key, created_at,
    updated_at";

/// Names the partial unique index, so an insert can skip exactly the open-duplicate case.
pub(crate) const ON_UNIQUE: &str = "on conflict (tenant_id, unique_key)
    where unique_key is not null and state in ('queued', 'running') do nothing";

const HOLDER: &str = "select id from jobs
    where tenant_id = $1 and unique_key = $2 and state in ('queued', 'running')";

const FAIL: &str = "update jobs set state = case when $1 is null then 'dead' else 'queued' end,
        run_at = coalesce($1, run_at), last_error = $2, locked_until = null, locked_by = null,
        lease_id = null, updated_at = $3
    where tenant_id = $4 and id = $5 and lease_id = $6 and state = 'running'";

const RECOVER: &str = "update jobs
    set state = case when attempts >= max_attempts then 'dead' else 'queued' end,
        last_error = 'lease expired: the worker stopped or stalled',
        locked_until = null, locked_by = null, lease_id = null, updated_at = $1
    where state = 'running' and locked_until < $1";

const RETRY: &str = "update jobs set state = 'queued', attempts = 0, run_at = $1, updated_at = $1
    where tenant_id = $2 and id = $3 and state = 'dead'";

const COUNTS: &str = "select state, count(*) as n from jobs where tenant_id = $1 group by state";

pub(crate) fn attempts_column(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn corrupt(what: &str, value: impl std::fmt::Debug) -> StoreError {
    StoreError::Corrupt(format!("job {what} {value:?}"))
}

pub(crate) fn job_from_row<B: Backend>(row: &B::Row) -> StoreResult<Job> {
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

/// Inserts one job; `None` when an open job holds its unique key.
pub(crate) async fn insert_job<B: Backend>(
    conn: &mut B::Connection,
    job: &NewJob,
    now: DateTime<Utc>,
) -> StoreResult<Option<JobId>> {
    let id = JobId::new();
    let statement = format!(
        "insert into jobs (tenant_id, id, kind, payload, lane, priority, state, attempts,
             max_attempts, run_at, unique_key, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8, $9, $10, $10) {ON_UNIQUE}"
    );
    let run_at = QueueTime(job.run_at.unwrap_or(now));
    let inserted = sql::<B>(&statement)
        .binds((
            Id::from(job.tenant_id),
            Id(id.as_uuid()),
            &job.kind,
            &job.payload,
        ))
        .binds((
            job.lane.as_str(),
            job.priority,
            attempts_column(job.max_attempts),
            run_at,
        ))
        .binds((&job.unique_key, QueueTime(now)))
        .execute(conn)
        .await?;
    Ok((inserted == 1).then_some(id))
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
            if let Some(id) = insert_job::<B>(conn, job, Utc::now()).await? {
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
        B::enqueue_batch(&self.pool, jobs).await
    }

    async fn job(&self, tenant_id: Option<TenantId>, id: JobId) -> StoreResult<Option<Job>> {
        let statement = format!("select {COLUMNS} from jobs where tenant_id = $1 and id = $2");
        let values = (Id::from(tenant_id), Id(id.as_uuid()));
        let row = self.fetch_optional(&statement, values).await?;
        row.as_ref().map(job_from_row::<B>).transpose()
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
        let rows = self.fetch_all(B::READY_QUEUES, values).await?;
        rows.iter()
            .map(|row| {
                let (tenant, lane): (Id, String) =
                    (B::get(row, "tenant_id")?, B::get(row, "lane")?);
                let lane = Lane::parse(&lane).ok_or_else(|| corrupt("lane", &lane))?;
                Ok(ReadyQueue {
                    tenant_id: tenant_from_key(tenant.0),
                    lane,
                })
            })
            .collect()
    }

    async fn claim_jobs(&self, claim: &Claim<'_>) -> StoreResult<Vec<Job>> {
        B::claim_jobs(&self.pool, claim).await
    }

    async fn extend_leases(
        &self,
        leases: &[JobLease],
        locked_until: DateTime<Utc>,
    ) -> StoreResult<Vec<JobId>> {
        B::extend_leases(&self.pool, leases, locked_until).await
    }

    async fn complete_jobs(&self, leases: &[JobLease]) -> StoreResult<u64> {
        B::complete_jobs(&self.pool, leases).await
    }

    async fn fail_job(&self, lease: &JobLease, failure: &JobFailure) -> StoreResult<bool> {
        let (retry_at, now) = (failure.retry_at.map(QueueTime), QueueTime(Utc::now()));
        let held = (
            Id::from(lease.tenant_id),
            Id(lease.id.as_uuid()),
            Id(lease.lease_id.as_uuid()),
        );
        let fail = sql::<B>(FAIL)
            .binds((retry_at, &failure.error, now))
            .binds(held);
        let failed = fail.execute(&mut *self.conn().await?).await?;
        if failure.retry_at.is_some() {
            B::wake_local_workers();
        }
        Ok(failed == 1)
    }

    async fn release_jobs(&self, leases: &[JobLease], run_at: DateTime<Utc>) -> StoreResult<u64> {
        B::release_jobs(&self.pool, leases, run_at).await
    }

    async fn recover_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.execute(RECOVER, (QueueTime(now),)).await
    }

    async fn dead_jobs(&self, tenant_id: Option<TenantId>, limit: u32) -> StoreResult<Vec<Job>> {
        let statement = format!(
            "select {COLUMNS} from jobs where tenant_id = $1 and state = 'dead'
             order by updated_at desc, id desc limit $2"
        );
        let rows = self
            .fetch_all(&statement, (Id::from(tenant_id), i64::from(limit)))
            .await?;
        rows.iter().map(job_from_row::<B>).collect()
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
        for row in self.fetch_all(COUNTS, (Id::from(tenant_id),)).await? {
            let (state, n): (String, i64) = (B::get(&row, "state")?, B::get(&row, "n")?);
            let n = u64::try_from(n).unwrap_or_default();
            match JobState::parse(&state) {
                Some(JobState::Queued) => counts.queued = n,
                Some(JobState::Running) => counts.running = n,
                Some(JobState::Dead) => counts.dead = n,
                None => return Err(corrupt("state", &state)),
            }
        }
        Ok(counts)
    }

    async fn job_wakeups(&self) -> StoreResult<Box<dyn JobWakeups>> {
        B::job_wakeups(&self.pool).await
    }
}

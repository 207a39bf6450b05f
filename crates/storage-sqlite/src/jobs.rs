//! The job queue on SQLite. One writer at a time makes every statement atomic, so a claim is one
//! `update ... returning` and needs no SKIP LOCKED; multi-row writes run in one transaction.
//! Times are integer milliseconds (see the migration).

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;
use dealbridge_storage::{
    tenant_from_key, tenant_key, Claim, Enqueued, Job, JobCounts, JobFailure, JobId, JobLease,
    JobState, JobWakeups, Jobs, Lane, LeaseId, NewJob, ReadyQueue, StoreError, StoreResult,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use tokio::sync::watch;

use crate::{db_error, parse_uuid, SqliteStore};

mod claims;

const COLUMNS: &str = "tenant_id, id, kind, payload, lane, priority, state, attempts, max_attempts,
    run_at, locked_until, locked_by, lease_id, last_error, unique_key, created_at, updated_at";

const ON_UNIQUE: &str = "on conflict (tenant_id, unique_key)
    where unique_key is not null and state in ('queued', 'running') do nothing";

/// In-process wake-ups, shared by every SQLite store of the process: a spurious wake-up costs one
/// empty claim, and workers in other processes fall back to polling.
fn wakeups() -> &'static watch::Sender<u64> {
    static SENDER: OnceLock<watch::Sender<u64>> = OnceLock::new();
    SENDER.get_or_init(|| watch::channel(0).0)
}

fn wake_workers() {
    wakeups().send_modify(|n| *n = n.wrapping_add(1));
}

pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("job time {ms}")))
}

fn job_from_row(row: &SqliteRow) -> StoreResult<Job> {
    let get_err = StoreError::backend;
    let text = |name: &str| -> StoreResult<String> { row.try_get(name).map_err(get_err) };
    let time = |name: &str| -> StoreResult<Option<DateTime<Utc>>> {
        row.try_get::<Option<i64>, _>(name)
            .map_err(get_err)?
            .map(from_millis)
            .transpose()
    };
    let count = |name: &str| -> StoreResult<u32> {
        let value: i64 = row.try_get(name).map_err(get_err)?;
        u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("job {name} {value}")))
    };
    let required = |name: &'static str| -> StoreResult<DateTime<Utc>> {
        time(name)?.ok_or_else(|| StoreError::Corrupt(format!("job {name} empty")))
    };
    let (lane, state, payload) = (text("lane")?, text("state")?, text("payload")?);
    let lease: Option<String> = row.try_get("lease_id").map_err(get_err)?;
    Ok(Job {
        id: JobId::from_uuid(parse_uuid(&text("id")?)?),
        tenant_id: tenant_from_key(parse_uuid(&text("tenant_id")?)?),
        kind: text("kind")?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt(format!("job payload: {e}")))?,
        lane: Lane::parse(&lane)
            .ok_or_else(|| StoreError::Corrupt(format!("job lane {lane:?}")))?,
        priority: row.try_get("priority").map_err(get_err)?,
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("job state {state:?}")))?,
        attempts: count("attempts")?,
        max_attempts: count("max_attempts")?,
        run_at: required("run_at")?,
        locked_until: time("locked_until")?,
        locked_by: row.try_get("locked_by").map_err(get_err)?,
        lease_id: lease
            .as_deref()
            .map(parse_uuid)
            .transpose()?
            .map(LeaseId::from_uuid),
        last_error: row.try_get("last_error").map_err(get_err)?,
        unique_key: row.try_get("unique_key").map_err(get_err)?,
        created_at: required("created_at")?,
        updated_at: required("updated_at")?,
    })
}

/// Inserts one job; `None` when an open job holds its unique key.
async fn insert(conn: &mut SqliteConnection, job: &NewJob, now: i64) -> StoreResult<Option<JobId>> {
    let id = JobId::new();
    let sql = format!(
        "insert into jobs (tenant_id, id, kind, payload, lane, priority, state, attempts,
             max_attempts, run_at, unique_key, created_at, updated_at)
         values (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?) {ON_UNIQUE}"
    );
    let done = sqlx::query(&sql)
        .bind(tenant_key(job.tenant_id).to_string())
        .bind(id.to_string())
        .bind(&job.kind)
        .bind(job.payload.to_string())
        .bind(job.lane.as_str())
        .bind(job.priority)
        .bind(i64::from(job.max_attempts))
        .bind(job.run_at.map_or(now, millis))
        .bind(&job.unique_key)
        .bind(now)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_error(e, "job"))?;
    Ok((done.rows_affected() == 1).then_some(id))
}

impl SqliteStore {
    /// Enqueues on a connection the caller controls, typically inside the transaction of the change
    /// that caused the job, so the job exists if and only if that change commits. Wakes this
    /// process's workers (early, if the transaction is still open: they find nothing and wait on).
    pub async fn enqueue_in(conn: &mut SqliteConnection, job: &NewJob) -> StoreResult<Enqueued> {
        let now = millis(Utc::now());
        if let Some(id) = insert(conn, job, now).await? {
            wake_workers();
            return Ok(Enqueued::New(id));
        }
        // Inside one connection nothing can finish the holder between the insert and this read.
        let holder: String = sqlx::query_scalar(
            "select id from jobs where tenant_id = ? and unique_key = ?
             and state in ('queued', 'running')",
        )
        .bind(tenant_key(job.tenant_id).to_string())
        .bind(&job.unique_key)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::backend)?;
        Ok(Enqueued::Duplicate(JobId::from_uuid(parse_uuid(&holder)?)))
    }
}

#[async_trait]
impl Jobs for SqliteStore {
    async fn enqueue(&self, job: &NewJob) -> StoreResult<Enqueued> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::backend)?;
        Self::enqueue_in(&mut conn, job).await
    }

    async fn enqueue_batch(&self, jobs: &[NewJob]) -> StoreResult<u64> {
        let now = millis(Utc::now());
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        let mut inserted = 0;
        for job in jobs {
            inserted += u64::from(insert(&mut tx, job, now).await?.is_some());
        }
        tx.commit().await.map_err(StoreError::backend)?;
        wake_workers();
        Ok(inserted)
    }

    async fn job(&self, tenant_id: Option<TenantId>, id: JobId) -> StoreResult<Option<Job>> {
        let sql = format!("select {COLUMNS} from jobs where tenant_id = ? and id = ?");
        let row = sqlx::query(&sql)
            .bind(tenant_key(tenant_id).to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn ready_queues(
        &self,
        now: DateTime<Utc>,
        after: Option<ReadyQueue>,
        limit: u32,
    ) -> StoreResult<Vec<ReadyQueue>> {
        claims::ready_queues(&self.pool, now, after, limit).await
    }

    async fn claim_jobs(&self, claim: &Claim<'_>) -> StoreResult<Vec<Job>> {
        claims::claim_jobs(&self.pool, claim).await
    }

    async fn extend_leases(
        &self,
        leases: &[JobLease],
        locked_until: DateTime<Utc>,
    ) -> StoreResult<Vec<JobId>> {
        claims::extend_leases(&self.pool, leases, locked_until).await
    }

    async fn complete_jobs(&self, leases: &[JobLease]) -> StoreResult<u64> {
        claims::complete_jobs(&self.pool, leases).await
    }

    async fn fail_job(&self, lease: &JobLease, failure: &JobFailure) -> StoreResult<bool> {
        claims::fail_job(&self.pool, lease, failure).await
    }

    async fn release_jobs(&self, leases: &[JobLease], run_at: DateTime<Utc>) -> StoreResult<u64> {
        claims::release_jobs(&self.pool, leases, run_at).await
    }

    async fn recover_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        claims::recover_expired(&self.pool, now).await
    }

    async fn dead_jobs(&self, tenant_id: Option<TenantId>, limit: u32) -> StoreResult<Vec<Job>> {
        let sql = format!(
            "select {COLUMNS} from jobs where tenant_id = ? and state = 'dead'
             order by updated_at desc, id desc limit ?"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_key(tenant_id).to_string())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        rows.iter().map(job_from_row).collect()
    }

    async fn retry_dead_job(&self, tenant_id: Option<TenantId>, id: JobId) -> StoreResult<()> {
        let now = millis(Utc::now());
        let done = sqlx::query(
            "update jobs set state = 'queued', attempts = 0, run_at = ?1, updated_at = ?1
             where tenant_id = ?2 and id = ?3 and state = 'dead'",
        )
        .bind(now)
        .bind(tenant_key(tenant_id).to_string())
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, "job"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("dead job"));
        }
        wake_workers();
        Ok(())
    }

    async fn cancel_tenant_jobs(&self, tenant_id: TenantId) -> StoreResult<u64> {
        let done = sqlx::query("delete from jobs where tenant_id = ?")
            .bind(tenant_id.to_string())
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(done.rows_affected())
    }

    async fn job_counts(&self, tenant_id: Option<TenantId>) -> StoreResult<JobCounts> {
        let rows =
            sqlx::query("select state, count(*) as n from jobs where tenant_id = ? group by state")
                .bind(tenant_key(tenant_id).to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::backend)?;
        let mut counts = JobCounts::default();
        for row in rows {
            let state: String = row.try_get("state").map_err(StoreError::backend)?;
            let n = u64::try_from(row.try_get::<i64, _>("n").map_err(StoreError::backend)?)
                .unwrap_or_default();
            match JobState::parse(&state) {
                Some(JobState::Queued) => counts.queued = n,
                Some(JobState::Running) => counts.running = n,
                Some(JobState::Dead) => counts.dead = n,
                None => return Err(StoreError::Corrupt(format!("job state {state:?}"))),
            }
        }
        Ok(counts)
    }

    async fn job_wakeups(&self) -> StoreResult<Box<dyn JobWakeups>> {
        Ok(Box::new(SqliteWakeups {
            receiver: wakeups().subscribe(),
        }))
    }
}

struct SqliteWakeups {
    receiver: watch::Receiver<u64>,
}

#[async_trait]
impl JobWakeups for SqliteWakeups {
    async fn wait(&mut self, timeout: Duration) -> bool {
        // The sender lives in a static, so `changed` never fails for a closed channel.
        matches!(
            tokio::time::timeout(timeout, self.receiver.changed()).await,
            Ok(Ok(()))
        )
    }
}

//! The job queue on Postgres: batched, fair claims with `for update skip locked`, fenced writes,
//! LISTEN/NOTIFY wake-ups. Arrays are bound with `unnest` so a batch costs one round trip.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;
use dealbridge_storage::{
    tenant_from_key, tenant_key, Claim, Enqueued, Job, JobCounts, JobFailure, JobId, JobLease,
    JobState, JobWakeups, Jobs, Lane, LeaseId, NewJob, ReadyQueue, StoreError, StoreResult,
};
use sqlx::postgres::{PgListener, PgRow};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{db_error, PgStore};

mod claims;

/// The channel the `jobs_notify` trigger signals.
const CHANNEL: &str = "dealbridge_jobs";

const COLUMNS: &str = "tenant_id, id, kind, payload, lane, priority, state, attempts, max_attempts,
    run_at, locked_until, locked_by, lease_id, last_error, unique_key, created_at, updated_at";

/// Names the partial unique index, so an insert can skip exactly the open-duplicate case.
const ON_UNIQUE: &str = "on conflict (tenant_id, unique_key)
    where unique_key is not null and state in ('queued', 'running') do nothing";

fn job_from_row(row: &PgRow) -> StoreResult<Job> {
    let get_err = StoreError::backend;
    let lane: String = row.try_get("lane").map_err(get_err)?;
    let state: String = row.try_get("state").map_err(get_err)?;
    let count = |name: &str| -> StoreResult<u32> {
        let value: i32 = row.try_get(name).map_err(get_err)?;
        u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("job {name} {value}")))
    };
    Ok(Job {
        id: JobId::from_uuid(row.try_get("id").map_err(get_err)?),
        tenant_id: tenant_from_key(row.try_get("tenant_id").map_err(get_err)?),
        kind: row.try_get("kind").map_err(get_err)?,
        payload: row.try_get("payload").map_err(get_err)?,
        lane: Lane::parse(&lane)
            .ok_or_else(|| StoreError::Corrupt(format!("job lane {lane:?}")))?,
        priority: row.try_get("priority").map_err(get_err)?,
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("job state {state:?}")))?,
        attempts: count("attempts")?,
        max_attempts: count("max_attempts")?,
        run_at: row.try_get("run_at").map_err(get_err)?,
        locked_until: row.try_get("locked_until").map_err(get_err)?,
        locked_by: row.try_get("locked_by").map_err(get_err)?,
        lease_id: row
            .try_get::<Option<Uuid>, _>("lease_id")
            .map_err(get_err)?
            .map(LeaseId::from_uuid),
        last_error: row.try_get("last_error").map_err(get_err)?,
        unique_key: row.try_get("unique_key").map_err(get_err)?,
        created_at: row.try_get("created_at").map_err(get_err)?,
        updated_at: row.try_get("updated_at").map_err(get_err)?,
    })
}

/// Lease triples as three parallel arrays for `unnest`.
fn lease_arrays(leases: &[JobLease]) -> (Vec<Uuid>, Vec<Uuid>, Vec<Uuid>) {
    let tenants = leases.iter().map(|l| tenant_key(l.tenant_id)).collect();
    let ids = leases.iter().map(|l| l.id.as_uuid()).collect();
    let lease_ids = leases.iter().map(|l| l.lease_id.as_uuid()).collect();
    (tenants, ids, lease_ids)
}

fn attempts_column(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl PgStore {
    /// Enqueues on a connection the caller controls, typically inside the transaction of the change
    /// that caused the job (`let mut tx = store.pool().begin().await?; ...;
    /// PgStore::enqueue_in(&mut tx, &job).await?; tx.commit().await?`): the job exists if and only
    /// if that change commits, and workers are notified at commit.
    pub async fn enqueue_in(conn: &mut PgConnection, job: &NewJob) -> StoreResult<Enqueued> {
        let tenant = tenant_key(job.tenant_id);
        let now = Utc::now();
        // A duplicate's holder can finish between our insert and our lookup; then insert again.
        for _ in 0..3 {
            let id = JobId::new();
            let sql = format!(
                "insert into jobs (tenant_id, id, kind, payload, lane, priority, state, attempts,
                     max_attempts, run_at, unique_key, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8, $9, $10, $10)
                 {ON_UNIQUE} returning id"
            );
            let inserted: Option<Uuid> = sqlx::query_scalar(&sql)
                .bind(tenant)
                .bind(id.as_uuid())
                .bind(&job.kind)
                .bind(&job.payload)
                .bind(job.lane.as_str())
                .bind(job.priority)
                .bind(attempts_column(job.max_attempts))
                .bind(job.run_at.unwrap_or(now))
                .bind(&job.unique_key)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| db_error(e, "job"))?;
            if inserted.is_some() {
                return Ok(Enqueued::New(id));
            }
            let holder: Option<Uuid> = sqlx::query_scalar(
                "select id from jobs where tenant_id = $1 and unique_key = $2
                 and state in ('queued', 'running')",
            )
            .bind(tenant)
            .bind(&job.unique_key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::backend)?;
            if let Some(holder) = holder {
                return Ok(Enqueued::Duplicate(JobId::from_uuid(holder)));
            }
        }
        Err(StoreError::Conflict("unique job key kept changing hands"))
    }
}

#[async_trait]
impl Jobs for PgStore {
    async fn enqueue(&self, job: &NewJob) -> StoreResult<Enqueued> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::backend)?;
        Self::enqueue_in(&mut conn, job).await
    }

    async fn enqueue_batch(&self, jobs: &[NewJob]) -> StoreResult<u64> {
        let now = Utc::now();
        let sql = format!(
            "insert into jobs (tenant_id, id, kind, payload, lane, priority, state, attempts,
                 max_attempts, run_at, unique_key, created_at, updated_at)
             select t, i, k, p, l, pr, 'queued', 0, m, r, u, $10, $10
             from unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::text[],
                 $6::int2[], $7::int4[], $8::timestamptz[], $9::text[])
                 as n(t, i, k, p, l, pr, m, r, u)
             {ON_UNIQUE}"
        );
        let done = sqlx::query(&sql)
            .bind(
                jobs.iter()
                    .map(|j| tenant_key(j.tenant_id))
                    .collect::<Vec<_>>(),
            )
            .bind(
                jobs.iter()
                    .map(|_| JobId::new().as_uuid())
                    .collect::<Vec<_>>(),
            )
            .bind(jobs.iter().map(|j| j.kind.clone()).collect::<Vec<_>>())
            .bind(jobs.iter().map(|j| j.payload.clone()).collect::<Vec<_>>())
            .bind(jobs.iter().map(|j| j.lane.as_str()).collect::<Vec<_>>())
            .bind(jobs.iter().map(|j| j.priority).collect::<Vec<_>>())
            .bind(
                jobs.iter()
                    .map(|j| attempts_column(j.max_attempts))
                    .collect::<Vec<_>>(),
            )
            .bind(
                jobs.iter()
                    .map(|j| j.run_at.unwrap_or(now))
                    .collect::<Vec<_>>(),
            )
            .bind(
                jobs.iter()
                    .map(|j| j.unique_key.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(e, "job"))?;
        Ok(done.rows_affected())
    }

    async fn job(&self, tenant_id: Option<TenantId>, id: JobId) -> StoreResult<Option<Job>> {
        let sql = format!("select {COLUMNS} from jobs where tenant_id = $1 and id = $2");
        let row = sqlx::query(&sql)
            .bind(tenant_key(tenant_id))
            .bind(id.as_uuid())
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
            "select {COLUMNS} from jobs where tenant_id = $1 and state = 'dead'
             order by updated_at desc, id desc limit $2"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_key(tenant_id))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        rows.iter().map(job_from_row).collect()
    }

    async fn retry_dead_job(&self, tenant_id: Option<TenantId>, id: JobId) -> StoreResult<()> {
        let now = Utc::now();
        let done = sqlx::query(
            "update jobs set state = 'queued', attempts = 0, run_at = $1, updated_at = $1
             where tenant_id = $2 and id = $3 and state = 'dead'",
        )
        .bind(now)
        .bind(tenant_key(tenant_id))
        .bind(id.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, "job"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("dead job"));
        }
        sqlx::query("select pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn cancel_tenant_jobs(&self, tenant_id: TenantId) -> StoreResult<u64> {
        let done = sqlx::query("delete from jobs where tenant_id = $1")
            .bind(tenant_id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(done.rows_affected())
    }

    async fn job_counts(&self, tenant_id: Option<TenantId>) -> StoreResult<JobCounts> {
        let rows = sqlx::query(
            "select state, count(*) as n from jobs where tenant_id = $1 group by state",
        )
        .bind(tenant_key(tenant_id))
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
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(StoreError::backend)?;
        Ok(Box::new(PgWakeups { listener }))
    }
}

struct PgWakeups {
    listener: PgListener,
}

#[async_trait]
impl JobWakeups for PgWakeups {
    async fn wait(&mut self, timeout: Duration) -> bool {
        match tokio::time::timeout(timeout, self.listener.recv()).await {
            Ok(Ok(_)) => {
                // Several inserts may have signalled while we worked; one wake-up covers them all.
                while self.listener.next_buffered().is_some() {}
                true
            }
            Ok(Err(e)) => {
                // The listener reconnects on the next call; until then the poll interval applies.
                tracing::warn!(error = %e, "job wake-up listener failed");
                tokio::time::sleep(timeout).await;
                false
            }
            Err(_) => false,
        }
    }
}

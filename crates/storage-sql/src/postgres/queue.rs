//! The queue's batched writes on Postgres: arrays bound with `unnest` so a batch costs one round
//! trip, fair claims with `for update skip locked`, and LISTEN/NOTIFY wake-ups.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_storage::{
    tenant_key, Claim, Job, JobId, JobLease, JobWakeups, NewJob, StoreError, StoreResult,
};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use crate::areas::jobs::{attempts_column, job_from_row, COLUMNS, ON_UNIQUE};
use crate::backend::Queue;
use crate::statement::store_error;

/// The channel the `jobs_notify` trigger signals.
const CHANNEL: &str = "dealbridge_jobs";

/// A skip scan over the partial ready index: each step jumps to the next distinct (tenant, lane),
/// so 20,000 jobs of one tenant cost one index probe, not 20,000 rows.
pub(super) const READY_QUEUES: &str = "with recursive queues (tenant_id, lane) as (
        (select tenant_id, lane from jobs
         where state = 'queued' and (tenant_id, lane) > ($1, $2)
         order by tenant_id, lane limit 1)
        union all
        select next.tenant_id, next.lane from queues q
        cross join lateral (
            select tenant_id, lane from jobs
            where state = 'queued' and (tenant_id, lane) > (q.tenant_id, q.lane)
            order by tenant_id, lane limit 1) next
    )
    select tenant_id, lane from queues q
    where exists (select 1 from jobs j where j.tenant_id = q.tenant_id
        and j.lane = q.lane and j.state = 'queued' and j.run_at <= $3)
    limit $4";

/// Claims and completions commit without waiting for their WAL flush (`synchronous_commit` off for
/// that one transaction; `set_config(..., true)` lasts until its commit). Durability allows it: a
/// claim lost in a database crash leaves the job queued, and a lost completion runs the job again,
/// both what a worker crash already does (handlers are idempotent, delivery is at least once). WAL
/// stays ordered, so nothing else is affected; enqueues, failures and retries still wait for the
/// flush. The CTE is joined in, so it is evaluated before the statement's rows are written.
const RELAXED_COMMIT: &str =
    "relaxed as (select set_config('synchronous_commit', 'off', true) as setting)";

/// Lease triples as three parallel arrays for `unnest`.
fn lease_arrays(leases: &[JobLease]) -> (Vec<Uuid>, Vec<Uuid>, Vec<Uuid>) {
    let tenants = each(leases, |l| tenant_key(l.tenant_id));
    (
        tenants,
        each(leases, |l| l.id.as_uuid()),
        each(leases, |l| l.lease_id.as_uuid()),
    )
}

/// One array column for `unnest`: `value` of every item.
fn each<T, U>(items: &[T], value: impl FnMut(&T) -> U) -> Vec<U> {
    items.iter().map(value).collect()
}

#[async_trait]
impl Queue for Postgres {
    async fn enqueue_batch(pool: &PgPool, jobs: &[NewJob]) -> StoreResult<u64> {
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
            .bind(each(jobs, |j| tenant_key(j.tenant_id)))
            .bind(each(jobs, |_| JobId::new().as_uuid()))
            .bind(each(jobs, |j| j.kind.clone()))
            .bind(each(jobs, |j| j.payload.clone()))
            .bind(each(jobs, |j| j.lane.as_str()))
            .bind(each(jobs, |j| j.priority))
            .bind(each(jobs, |j| attempts_column(j.max_attempts)))
            .bind(each(jobs, |j| j.run_at.unwrap_or(now)))
            .bind(each(jobs, |j| j.unique_key.clone()))
            .bind(now)
            .execute(pool)
            .await
            .map_err(store_error::<Postgres>)?;
        Ok(done.rows_affected())
    }

    async fn claim_jobs(pool: &PgPool, claim: &Claim<'_>) -> StoreResult<Vec<Job>> {
        if claim.takes.is_empty() {
            return Ok(Vec::new());
        }
        let lease = chrono::TimeDelta::from_std(claim.lease).unwrap_or(chrono::TimeDelta::MAX);
        let sql = format!(
            // The picked rows are locked, so their ctids are stable until we commit; updating by
            // ctid is a TID scan, where a join back on the key let the planner hash the whole table.
            "with {RELAXED_COMMIT}
             update jobs set state = 'running', attempts = attempts + 1, locked_by = $5,
                 lease_id = $6, locked_until = $7, updated_at = $4
             from relaxed
             where jobs.ctid = any(array(
                 select j.ctid
                 from unnest($1::uuid[], $2::text[], $3::int4[]) as q(tenant_id, lane, take)
                 cross join lateral (
                     select ctid from jobs
                     where tenant_id = q.tenant_id and lane = q.lane and state = 'queued'
                         and run_at <= $4
                     order by priority, run_at, id
                     limit q.take
                     for update skip locked) j))
             returning {COLUMNS}"
        );
        let takes = claim.takes;
        let rows = sqlx::query(&sql)
            .bind(each(takes, |t| tenant_key(t.queue.tenant_id)))
            .bind(each(takes, |t| t.queue.lane.as_str()))
            .bind(each(takes, |t| attempts_column(t.limit)))
            .bind(claim.now)
            .bind(claim.worker)
            .bind(claim.lease_id.as_uuid())
            .bind(claim.now + lease)
            .fetch_all(pool)
            .await
            .map_err(StoreError::backend)?;
        rows.iter().map(job_from_row::<Postgres>).collect()
    }

    async fn extend_leases(
        pool: &PgPool,
        leases: &[JobLease],
        locked_until: DateTime<Utc>,
    ) -> StoreResult<Vec<JobId>> {
        let (tenants, ids, lease_ids) = lease_arrays(leases);
        let held: Vec<Uuid> = sqlx::query_scalar(
            "update jobs j set locked_until = $4
             from unnest($1::uuid[], $2::uuid[], $3::uuid[]) as d(tenant_id, id, lease_id)
             where j.tenant_id = d.tenant_id and j.id = d.id and j.lease_id = d.lease_id
                 and j.state = 'running'
             returning j.id",
        )
        .bind(tenants)
        .bind(ids)
        .bind(lease_ids)
        .bind(locked_until)
        .fetch_all(pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(held.into_iter().map(JobId::from_uuid).collect())
    }

    async fn complete_jobs(pool: &PgPool, leases: &[JobLease]) -> StoreResult<u64> {
        let (tenants, ids, lease_ids) = lease_arrays(leases);
        let sql = format!(
            "with {RELAXED_COMMIT}
             delete from jobs j
             using unnest($1::uuid[], $2::uuid[], $3::uuid[]) as d(tenant_id, id, lease_id), relaxed
             where j.tenant_id = d.tenant_id and j.id = d.id and j.lease_id = d.lease_id
                 and j.state = 'running'"
        );
        let done = sqlx::query(&sql)
            .bind(tenants)
            .bind(ids)
            .bind(lease_ids)
            .execute(pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(done.rows_affected())
    }

    async fn release_jobs(
        pool: &PgPool,
        leases: &[JobLease],
        run_at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let (tenants, ids, lease_ids) = lease_arrays(leases);
        let done = sqlx::query(
            "update jobs j set state = 'queued', attempts = greatest(j.attempts - 1, 0),
                 run_at = $4, locked_until = null, locked_by = null, lease_id = null,
                 updated_at = $4
             from unnest($1::uuid[], $2::uuid[], $3::uuid[]) as d(tenant_id, id, lease_id)
             where j.tenant_id = d.tenant_id and j.id = d.id and j.lease_id = d.lease_id
                 and j.state = 'running'",
        )
        .bind(tenants)
        .bind(ids)
        .bind(lease_ids)
        .bind(run_at)
        .execute(pool)
        .await
        .map_err(StoreError::backend)?;
        Ok(done.rows_affected())
    }

    async fn job_wakeups(pool: &PgPool) -> StoreResult<Box<dyn JobWakeups>> {
        let mut listener = PgListener::connect_with(pool)
            .await
            .map_err(StoreError::backend)?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(StoreError::backend)?;
        Ok(Box::new(PgWakeups { listener }))
    }

    fn wake_local_workers() {}

    async fn notify_retry(pool: &PgPool) -> StoreResult<()> {
        sqlx::query("select pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(pool)
            .await
            .map(drop)
            .map_err(StoreError::backend)
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

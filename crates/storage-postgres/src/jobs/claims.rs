//! The claim side on Postgres: listing queues with ready work, fair batched claims with
//! `for update skip locked`, and every write fenced by the claim's lease.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dealbridge_storage::{
    tenant_from_key, tenant_key, Claim, Job, JobFailure, JobId, JobLease, Lane, ReadyQueue,
    StoreError, StoreResult,
};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::{attempts_column, job_from_row, lease_arrays, COLUMNS};

pub(super) async fn ready_queues(
    pool: &PgPool,
    now: DateTime<Utc>,
    after: Option<ReadyQueue>,
    limit: u32,
) -> StoreResult<Vec<ReadyQueue>> {
    // A skip scan over the partial ready index: each step jumps to the next distinct
    // (tenant, lane), so 20,000 jobs of one tenant cost one index probe, not 20,000 rows.
    let rows = sqlx::query(
        "with recursive queues (tenant_id, lane) as (
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
         limit $4",
    )
    .bind(after.map_or(Uuid::nil(), |q| tenant_key(q.tenant_id)))
    .bind(after.map_or("", |q| q.lane.as_str()))
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(StoreError::backend)?;
    rows.iter()
        .map(|row| {
            let lane: String = row.try_get("lane").map_err(StoreError::backend)?;
            Ok(ReadyQueue {
                tenant_id: tenant_from_key(row.try_get("tenant_id").map_err(StoreError::backend)?),
                lane: Lane::parse(&lane)
                    .ok_or_else(|| StoreError::Corrupt(format!("job lane {lane:?}")))?,
            })
        })
        .collect()
}

pub(super) async fn claim_jobs(pool: &PgPool, claim: &Claim<'_>) -> StoreResult<Vec<Job>> {
    if claim.takes.is_empty() {
        return Ok(Vec::new());
    }
    let locked_until = claim.now + lease_delta(claim.lease);
    let sql = format!(
        // The picked rows are locked, so their ctids are stable until we commit; updating by
        // ctid is a TID scan, where a join back on the key let the planner hash the whole table.
        "update jobs set state = 'running', attempts = attempts + 1, locked_by = $5,
             lease_id = $6, locked_until = $7, updated_at = $4
         where ctid = any(array(
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
    let rows = sqlx::query(&sql)
        .bind(
            claim
                .takes
                .iter()
                .map(|t| tenant_key(t.queue.tenant_id))
                .collect::<Vec<_>>(),
        )
        .bind(
            claim
                .takes
                .iter()
                .map(|t| t.queue.lane.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            claim
                .takes
                .iter()
                .map(|t| attempts_column(t.limit))
                .collect::<Vec<_>>(),
        )
        .bind(claim.now)
        .bind(claim.worker)
        .bind(claim.lease_id.as_uuid())
        .bind(locked_until)
        .fetch_all(pool)
        .await
        .map_err(StoreError::backend)?;
    rows.iter().map(job_from_row).collect()
}

pub(super) async fn extend_leases(
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

pub(super) async fn complete_jobs(pool: &PgPool, leases: &[JobLease]) -> StoreResult<u64> {
    let (tenants, ids, lease_ids) = lease_arrays(leases);
    let done = sqlx::query(
        "delete from jobs j
         using unnest($1::uuid[], $2::uuid[], $3::uuid[]) as d(tenant_id, id, lease_id)
         where j.tenant_id = d.tenant_id and j.id = d.id and j.lease_id = d.lease_id
             and j.state = 'running'",
    )
    .bind(tenants)
    .bind(ids)
    .bind(lease_ids)
    .execute(pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected())
}

pub(super) async fn fail_job(
    pool: &PgPool,
    lease: &JobLease,
    failure: &JobFailure,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "update jobs set state = case when $1::timestamptz is null then 'dead' else 'queued' end,
             run_at = coalesce($1, run_at), last_error = $2, locked_until = null,
             locked_by = null, lease_id = null, updated_at = $3
         where tenant_id = $4 and id = $5 and lease_id = $6 and state = 'running'",
    )
    .bind(failure.retry_at)
    .bind(&failure.error)
    .bind(Utc::now())
    .bind(tenant_key(lease.tenant_id))
    .bind(lease.id.as_uuid())
    .bind(lease.lease_id.as_uuid())
    .execute(pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn release_jobs(
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

pub(super) async fn recover_expired(pool: &PgPool, now: DateTime<Utc>) -> StoreResult<u64> {
    let done = sqlx::query(
        "update jobs set state = case when attempts >= max_attempts then 'dead' else 'queued' end,
             last_error = 'lease expired: the worker stopped or stalled',
             locked_until = null, locked_by = null, lease_id = null, updated_at = $1
         where state = 'running' and locked_until < $1",
    )
    .bind(now)
    .execute(pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected())
}

fn lease_delta(lease: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::MAX)
}

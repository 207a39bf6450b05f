//! The claim side on SQLite: listing queues with ready work, claims as one atomic
//! `update ... returning`, and every write fenced by the claim's lease.

use chrono::{DateTime, Utc};
use dealbridge_storage::{
    tenant_from_key, tenant_key, Claim, Job, JobFailure, JobId, JobLease, Lane, ReadyQueue,
    StoreError, StoreResult,
};
use sqlx::{Row, SqlitePool};

use super::{job_from_row, millis, wake_workers, COLUMNS};
use crate::parse_uuid;

/// The fenced `where` clause of every lease-holding write; `?1` is the statement's own value.
const HELD: &str = "tenant_id = ?2 and id = ?3 and lease_id = ?4 and state = 'running'";

async fn lease_update(
    pool: &SqlitePool,
    sql: &str,
    leases: &[JobLease],
    first: i64,
) -> StoreResult<u64> {
    let mut tx = pool.begin().await.map_err(StoreError::backend)?;
    let mut changed = 0;
    for lease in leases {
        let done = sqlx::query(sql)
            .bind(first)
            .bind(tenant_key(lease.tenant_id).to_string())
            .bind(lease.id.to_string())
            .bind(lease.lease_id.as_uuid().to_string())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        changed += done.rows_affected();
    }
    tx.commit().await.map_err(StoreError::backend)?;
    Ok(changed)
}

pub(super) async fn ready_queues(
    pool: &SqlitePool,
    now: DateTime<Utc>,
    after: Option<ReadyQueue>,
    limit: u32,
) -> StoreResult<Vec<ReadyQueue>> {
    // Skip scan over the partial ready index: one probe per distinct (tenant, lane).
    let rows = sqlx::query(
        "with recursive queues (tenant_id, lane) as (
             select * from (select tenant_id, lane from jobs
                 where state = 'queued' and (tenant_id, lane) > (?1, ?2)
                 order by tenant_id, lane limit 1)
             union all
             select j.tenant_id, j.lane from queues q join jobs j on j.rowid = (
                 select rowid from jobs
                 where state = 'queued' and (tenant_id, lane) > (q.tenant_id, q.lane)
                 order by tenant_id, lane limit 1)
         )
         select tenant_id, lane from queues q
         where exists (select 1 from jobs j where j.tenant_id = q.tenant_id
             and j.lane = q.lane and j.state = 'queued' and j.run_at <= ?3)
         limit ?4",
    )
    .bind(after.map_or(String::new(), |q| tenant_key(q.tenant_id).to_string()))
    .bind(after.map_or("", |q| q.lane.as_str()))
    .bind(millis(now))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(StoreError::backend)?;
    rows.iter()
        .map(|row| {
            let tenant: String = row.try_get("tenant_id").map_err(StoreError::backend)?;
            let lane: String = row.try_get("lane").map_err(StoreError::backend)?;
            Ok(ReadyQueue {
                tenant_id: tenant_from_key(parse_uuid(&tenant)?),
                lane: Lane::parse(&lane)
                    .ok_or_else(|| StoreError::Corrupt(format!("job lane {lane:?}")))?,
            })
        })
        .collect()
}

pub(super) async fn claim_jobs(pool: &SqlitePool, claim: &Claim<'_>) -> StoreResult<Vec<Job>> {
    if claim.takes.is_empty() {
        return Ok(Vec::new());
    }
    let pick = "select rowid from (select rowid from jobs where tenant_id = ? and lane = ?
        and state = 'queued' and run_at <= ? order by priority, run_at, id limit ?)";
    let picks = vec![pick; claim.takes.len()].join(" union all ");
    let sql = format!(
        "update jobs set state = 'running', attempts = attempts + 1, locked_by = ?,
             lease_id = ?, locked_until = ?, updated_at = ?
         where rowid in ({picks}) returning {COLUMNS}"
    );
    let now = millis(claim.now);
    let lease_ms = i64::try_from(claim.lease.as_millis()).unwrap_or(i64::MAX / 2);
    let mut query = sqlx::query(&sql)
        .bind(claim.worker)
        .bind(claim.lease_id.as_uuid().to_string())
        .bind(now.saturating_add(lease_ms))
        .bind(now);
    for take in claim.takes {
        query = query
            .bind(tenant_key(take.queue.tenant_id).to_string())
            .bind(take.queue.lane.as_str())
            .bind(now)
            .bind(i64::from(take.limit));
    }
    let rows = query.fetch_all(pool).await.map_err(StoreError::backend)?;
    rows.iter().map(job_from_row).collect()
}

pub(super) async fn extend_leases(
    pool: &SqlitePool,
    leases: &[JobLease],
    locked_until: DateTime<Utc>,
) -> StoreResult<Vec<JobId>> {
    let mut tx = pool.begin().await.map_err(StoreError::backend)?;
    let mut held = Vec::new();
    for lease in leases {
        let done = sqlx::query(&format!("update jobs set locked_until = ?1 where {HELD}"))
            .bind(millis(locked_until))
            .bind(tenant_key(lease.tenant_id).to_string())
            .bind(lease.id.to_string())
            .bind(lease.lease_id.as_uuid().to_string())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        if done.rows_affected() == 1 {
            held.push(lease.id);
        }
    }
    tx.commit().await.map_err(StoreError::backend)?;
    Ok(held)
}

pub(super) async fn complete_jobs(pool: &SqlitePool, leases: &[JobLease]) -> StoreResult<u64> {
    // A delete has no value of its own; `?1 is not null` keeps the shared bind order.
    let sql = format!("delete from jobs where ?1 is not null and {HELD}");
    lease_update(pool, &sql, leases, 0).await
}

pub(super) async fn fail_job(
    pool: &SqlitePool,
    lease: &JobLease,
    failure: &JobFailure,
) -> StoreResult<bool> {
    let sql = "update jobs set state = case when ?1 is null then 'dead' else 'queued' end,
             run_at = coalesce(?1, run_at), last_error = ?2, locked_until = null,
             locked_by = null, lease_id = null, updated_at = ?3
         where tenant_id = ?4 and id = ?5 and lease_id = ?6 and state = 'running'";
    let done = sqlx::query(sql)
        .bind(failure.retry_at.map(millis))
        .bind(&failure.error)
        .bind(millis(Utc::now()))
        .bind(tenant_key(lease.tenant_id).to_string())
        .bind(lease.id.to_string())
        .bind(lease.lease_id.as_uuid().to_string())
        .execute(pool)
        .await
        .map_err(StoreError::backend)?;
    if failure.retry_at.is_some() {
        wake_workers();
    }
    Ok(done.rows_affected() == 1)
}

pub(super) async fn release_jobs(
    pool: &SqlitePool,
    leases: &[JobLease],
    run_at: DateTime<Utc>,
) -> StoreResult<u64> {
    let sql = format!(
        "update jobs set state = 'queued', attempts = max(attempts - 1, 0), run_at = ?1,
             locked_until = null, locked_by = null, lease_id = null, updated_at = ?1
         where {HELD}"
    );
    let released = lease_update(pool, &sql, leases, millis(run_at)).await?;
    wake_workers();
    Ok(released)
}

pub(super) async fn recover_expired(pool: &SqlitePool, now: DateTime<Utc>) -> StoreResult<u64> {
    let done = sqlx::query(
        "update jobs set state = case when attempts >= max_attempts then 'dead' else 'queued' end,
             last_error = 'lease expired: the worker stopped or stalled',
             locked_until = null, locked_by = null, lease_id = null, updated_at = ?1
         where state = 'running' and locked_until < ?1",
    )
    .bind(millis(now))
    .execute(pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected())
}

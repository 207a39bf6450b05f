//! The queue's batched writes on SQLite: one statement per job inside one transaction, claims as
//! one atomic `update ... returning`, and in-process wake-ups.

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_storage::{
    Claim, Job, JobId, JobLease, JobWakeups, NewJob, StoreError, StoreResult,
};
use sqlx::{Sqlite, SqlitePool};
use tokio::sync::watch;

use crate::areas::jobs::{insert_job, job_from_row, COLUMNS};
use crate::backend::Queue;
use crate::commit;
use crate::statement::sql;
use crate::values::{Id, QueueTime};

/// Skip scan over the partial ready index: one probe per distinct (tenant, lane). SQLite has no
/// lateral join, so each step finds the next queue's row by rowid.
pub(super) const READY_QUEUES: &str = "with recursive queues (tenant_id, lane) as (
        select * from (select tenant_id, lane from jobs
            where state = 'queued' and (tenant_id, lane) > ($1, $2)
            order by tenant_id, lane limit 1)
        union all
        select j.tenant_id, j.lane from queues q join jobs j on j.rowid = (
            select rowid from jobs
            where state = 'queued' and (tenant_id, lane) > (q.tenant_id, q.lane)
            order by tenant_id, lane limit 1)
    )
    select tenant_id, lane from queues q
    where exists (select 1 from jobs j where j.tenant_id = q.tenant_id
        and j.lane = q.lane and j.state = 'queued' and j.run_at <= $3)
    limit $4";

/// The fenced `where` clause of every lease-holding write; `$1` is the statement's own value.
const HELD: &str = "tenant_id = $2 and id = $3 and lease_id = $4 and state = 'running'";

/// In-process wake-ups, shared by every SQLite store of the process: a spurious wake-up costs one
/// empty claim, and workers in other processes fall back to polling.
fn wakeups() -> &'static watch::Sender<u64> {
    static SENDER: OnceLock<watch::Sender<u64>> = OnceLock::new();
    SENDER.get_or_init(|| watch::channel(0).0)
}

/// Runs `statement` (binds: `$1` = `first`, then the lease) for each lease in one transaction;
/// the leases whose job it changed.
async fn per_lease(
    pool: &SqlitePool,
    statement: &str,
    leases: &[JobLease],
    first: i64,
) -> StoreResult<Vec<JobId>> {
    let mut tx = pool.begin().await.map_err(StoreError::backend)?;
    let mut changed = Vec::new();
    for lease in leases {
        let done = sql::<Sqlite>(statement)
            .binds((
                first,
                Id::from(lease.tenant_id),
                Id(lease.id.as_uuid()),
                Id(lease.lease_id.as_uuid()),
            ))
            .execute(&mut tx)
            .await?;
        if done == 1 {
            changed.push(lease.id);
        }
    }
    commit(tx).await?;
    Ok(changed)
}

fn count(ids: Vec<JobId>) -> u64 {
    u64::try_from(ids.len()).unwrap_or(u64::MAX)
}

#[async_trait]
impl Queue for Sqlite {
    async fn enqueue_batch(pool: &SqlitePool, jobs: &[NewJob]) -> StoreResult<u64> {
        let now = Utc::now();
        let mut tx = pool.begin().await.map_err(StoreError::backend)?;
        let mut inserted = 0;
        for job in jobs {
            inserted += u64::from(insert_job::<Sqlite>(&mut tx, job, now).await?.is_some());
        }
        commit(tx).await?;
        Self::wake_local_workers();
        Ok(inserted)
    }

    async fn claim_jobs(pool: &SqlitePool, claim: &Claim<'_>) -> StoreResult<Vec<Job>> {
        if claim.takes.is_empty() {
            return Ok(Vec::new());
        }
        // One statement, so the picks and the update are atomic (one writer at a time).
        let pick = "select rowid from (select rowid from jobs where tenant_id = ? and lane = ?
            and state = 'queued' and run_at <= ? order by priority, run_at, id limit ?)";
        let picks = vec![pick; claim.takes.len()].join(" union all ");
        let statement = format!(
            "update jobs set state = 'running', attempts = attempts + 1, locked_by = ?,
                 lease_id = ?, locked_until = ?, updated_at = ?
             where rowid in ({picks}) returning {COLUMNS}"
        );
        let lease = chrono::TimeDelta::from_std(claim.lease).unwrap_or(chrono::TimeDelta::MAX);
        let until = claim
            .now
            .checked_add_signed(lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut query = sql::<Sqlite>(&statement)
            .binds((claim.worker, Id(claim.lease_id.as_uuid()), QueueTime(until)))
            .bind(QueueTime(claim.now));
        for take in claim.takes {
            query = query
                .binds((
                    Id::from(take.queue.tenant_id),
                    take.queue.lane.as_str(),
                    QueueTime(claim.now),
                ))
                .bind(i64::from(take.limit));
        }
        let mut conn = pool.acquire().await.map_err(StoreError::backend)?;
        let rows = query.fetch_all(&mut conn).await?;
        rows.iter().map(job_from_row::<Sqlite>).collect()
    }

    async fn extend_leases(
        pool: &SqlitePool,
        leases: &[JobLease],
        locked_until: DateTime<Utc>,
    ) -> StoreResult<Vec<JobId>> {
        let statement = format!("update jobs set locked_until = $1 where {HELD}");
        per_lease(pool, &statement, leases, locked_until.timestamp_millis()).await
    }

    async fn complete_jobs(pool: &SqlitePool, leases: &[JobLease]) -> StoreResult<u64> {
        // A delete has no value of its own; `$1 is not null` keeps the shared bind order.
        let statement = format!("delete from jobs where $1 is not null and {HELD}");
        per_lease(pool, &statement, leases, 0).await.map(count)
    }

    async fn release_jobs(
        pool: &SqlitePool,
        leases: &[JobLease],
        run_at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let statement = format!(
            "update jobs set state = 'queued', attempts = max(attempts - 1, 0), run_at = $1,
                 locked_until = null, locked_by = null, lease_id = null, updated_at = $1
             where {HELD}"
        );
        let released = per_lease(pool, &statement, leases, run_at.timestamp_millis()).await?;
        Self::wake_local_workers();
        Ok(count(released))
    }

    async fn job_wakeups(_pool: &SqlitePool) -> StoreResult<Box<dyn JobWakeups>> {
        Ok(Box::new(SqliteWakeups {
            receiver: wakeups().subscribe(),
        }))
    }

    fn wake_local_workers() {
        wakeups().send_modify(|n| *n = n.wrapping_add(1));
    }

    async fn notify_retry(_pool: &SqlitePool) -> StoreResult<()> {
        Self::wake_local_workers();
        Ok(())
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

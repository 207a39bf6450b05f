//! The queue's batch statements on SQLite: a batch column is a JSON array (see `Batch`), read by
//! position with `->>`; one writer at a time makes each statement atomic. Wake-ups are in-process.

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use dealbridge_storage::{JobWakeups, StoreResult};
use sqlx::{Sqlite, SqlitePool};
use tokio::sync::watch;

use crate::areas::jobs::COLUMNS;
use crate::backend::Queue;

/// Skip scan over the partial ready index: one probe per distinct (tenant, lane). SQLite has no
/// lateral join, so each step finds the next queue's row by rowid. A paused tenant's queues are
/// left out, as they are by the claim itself.
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
    and not exists (select 1 from tenants t where t.id = q.tenant_id and t.status = 'paused')
    limit $4";

/// The jobs whose leases `$1`..`$3` hold, joined to `jobs`: the plan walks the tenants array and
/// probes the primary key with that position's job id. (`json_each` has an `id` column of its
/// own, hence the qualified names.)
macro_rules! held {
    () => {
        "json_each($1) t
         where jobs.tenant_id = t.value and jobs.id = $2 ->> t.key
             and jobs.lease_id = $3 ->> t.key and jobs.state = 'running'"
    };
}

/// In-process wake-ups, shared by every SQLite store of the process: a spurious wake-up costs one
/// empty claim, and workers in other processes fall back to polling.
fn wakeups() -> &'static watch::Sender<u64> {
    static SENDER: OnceLock<watch::Sender<u64>> = OnceLock::new();
    SENDER.get_or_init(|| watch::channel(0).0)
}

#[async_trait]
impl Queue for Sqlite {
    // `where true`: without it SQLite would read the `on conflict` that follows as a join's `on`.
    const ENQUEUE_BATCH: &'static str = "insert into jobs (tenant_id, id, kind, payload, lane,
            priority, state, attempts, max_attempts, run_at, unique_key, created_at, updated_at)
        select t.value, $2 ->> t.key, $3 ->> t.key, $4 ->> t.key, $5 ->> t.key, $6 ->> t.key,
            'queued', 0, $7 ->> t.key, $8 ->> t.key, $9 ->> t.key, $10, $10
        from json_each($1) t where true";
    // Each `->>` reads its array through SQLite's cache of four parsed JSON values; with eight
    // arrays a row misses every time and parses each array again, so one statement's cost grows
    // with the square of its rows. Measured fastest between 16 and 64 rows.
    const ENQUEUE_ROWS: usize = 32;

    const EXTEND_LEASES: &'static str = concat!(
        "update jobs set locked_until = $4 from ",
        held!(),
        " returning jobs.id as id"
    );

    const COMPLETE_JOBS: &'static str = concat!(
        "delete from jobs where rowid in (select jobs.rowid from jobs, ",
        held!(),
        ")"
    );
    // SQLite has no delete inside a `with`, so the count goes first, in the same transaction.
    const COUNT_DONE: Option<&'static str> = Some(concat!(
        "insert into job_days as c (tenant_id, day, kind, shard, done)
         select jobs.tenant_id, $4, jobs.kind, $5, count(*) from jobs, ",
        held!(),
        " and jobs.tenant_id <> '00000000-0000-0000-0000-000000000000'
         group by jobs.tenant_id, jobs.kind
         on conflict (tenant_id, day, kind, shard) do update set done = c.done + excluded.done"
    ));

    const RELEASE_JOBS: &'static str = concat!(
        "update jobs set state = 'queued', attempts = max(jobs.attempts - 1, 0), run_at = $4,
             locked_until = null, locked_by = null, lease_id = null, updated_at = $4 from ",
        held!()
    );

    /// SQLite cannot limit a subquery by an outer column, so each queue is its own pick, reading
    /// its tenant, lane and take from the arrays by position; all in one atomic statement. A paused
    /// tenant's pick is empty.
    fn claim_jobs(takes: usize) -> String {
        let pick = |i: usize| {
            format!(
                "select rowid from (select rowid from jobs
                     where tenant_id = $1 ->> {i} and lane = $2 ->> {i} and state = 'queued'
                         and run_at <= $4
                         and not exists (select 1 from tenants t
                             where t.id = $1 ->> {i} and t.status = 'paused')
                     order by priority, run_at, id limit $3 ->> {i})"
            )
        };
        let picks: Vec<String> = (0..takes).map(pick).collect();
        format!(
            "update jobs set state = 'running', attempts = attempts + 1, locked_by = $5,
                 lease_id = $6, locked_until = $7, updated_at = $4
             where rowid in ({}) returning {COLUMNS}",
            picks.join(" union all ")
        )
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

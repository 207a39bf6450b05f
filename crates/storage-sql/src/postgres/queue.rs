//! The queue's batch statements on Postgres: batch columns are arrays read with `unnest`, so a
//! batch costs one round trip; fair claims with `for update skip locked`; LISTEN/NOTIFY wake-ups.

use std::time::Duration;

use async_trait::async_trait;
use dealbridge_storage::{JobWakeups, StoreError, StoreResult};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Postgres};

use crate::areas::jobs::COLUMNS;
use crate::backend::Queue;

/// The channel the `jobs_notify` trigger signals.
const CHANNEL: &str = "dealbridge_jobs";

/// A skip scan over the partial ready index: each step jumps to the next distinct (tenant, lane),
/// so 20,000 jobs of one tenant cost one index probe, not 20,000 rows. A paused tenant's queues
/// are left out (one primary-key probe per queue), as they are by the claim itself.
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
    and not exists (select 1 from tenants t where t.id = q.tenant_id and t.status = 'paused')
    limit $4";

/// Claims and completions commit without waiting for their WAL flush (`synchronous_commit` off for
/// that one transaction; `set_config(..., true)` lasts until its commit). Durability allows it: a
/// claim lost in a database crash leaves the job queued, and a lost completion runs the job again,
/// both what a worker crash already does (handlers are idempotent, delivery is at least once). WAL
/// stays ordered, so nothing else is affected; enqueues, failures and retries still wait for the
/// flush. The CTE is joined in, so it is evaluated before the statement's rows are written.
macro_rules! relaxed_commit {
    () => {
        "with relaxed as (select set_config('synchronous_commit', 'off', true) as setting) "
    };
}

/// The leases `$1`..`$3` as rows `d(tenant_id, id, lease_id)`.
macro_rules! leases {
    () => {
        "unnest($1::uuid[], $2::uuid[], $3::uuid[]) as d(tenant_id, id, lease_id)"
    };
}

/// The jobs those leases hold (`j`).
macro_rules! held {
    () => {
        " where j.tenant_id = d.tenant_id and j.id = d.id and j.lease_id = d.lease_id
             and j.state = 'running'"
    };
}

#[async_trait]
impl Queue for Postgres {
    const ENQUEUE_BATCH: &'static str = "insert into jobs (tenant_id, id, kind, payload, lane,
            priority, state, attempts, max_attempts, run_at, unique_key, created_at, updated_at)
        select t, i, k, p, l, pr, 'queued', 0, m, r, u, $10, $10
        from unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::text[],
            $6::int2[], $7::int4[], $8::timestamptz[], $9::text[])
            as n(t, i, k, p, l, pr, m, r, u)";
    const ENQUEUE_ROWS: usize = usize::MAX;

    const EXTEND_LEASES: &'static str = concat!(
        "update jobs j set locked_until = $4 from ",
        leases!(),
        held!(),
        " returning j.id"
    );

    /// One statement, so completing stays one round trip: the delete's rows are counted per
    /// tenant and kind into `job_days` on the way (in key order, so two completions adding to the
    /// same rows lock them in the same order and cannot deadlock).
    const COMPLETE_JOBS: &'static str = concat!(
        relaxed_commit!(),
        ", done as (delete from jobs j using ",
        leases!(),
        ", relaxed",
        held!(),
        " returning j.tenant_id, j.kind),
         counted as (insert into job_days as c (tenant_id, day, kind, shard, done)
             select tenant_id, $4, kind, $5, count(*) from done
             where tenant_id <> '00000000-0000-0000-0000-000000000000'
             group by tenant_id, kind order by tenant_id, kind
             on conflict (tenant_id, day, kind, shard) do update set done = c.done + excluded.done)
         select count(*) as n from done"
    );
    const COUNT_DONE: Option<&'static str> = None;

    const RELEASE_JOBS: &'static str = concat!(
        "update jobs j set state = 'queued', attempts = greatest(j.attempts - 1, 0),
             run_at = $4, locked_until = null, locked_by = null, lease_id = null,
             updated_at = $4 from ",
        leases!(),
        held!()
    );

    /// One statement for any number of queues: `lateral` limits each queue's pick by its take. A
    /// paused tenant's queue yields nothing: the pause is in the store, so it holds for every
    /// instance's workers from their next claim.
    fn claim_jobs(_takes: usize) -> String {
        format!(
            // The picked rows are locked, so their ctids are stable until we commit; updating by
            // ctid is a TID scan, where a join back on the key let the planner hash the whole table.
            "{}
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
                         and not exists (select 1 from tenants t
                             where t.id = q.tenant_id and t.status = 'paused')
                     order by priority, run_at, id
                     limit q.take
                     for update skip locked) j))
             returning {COLUMNS}",
            relaxed_commit!()
        )
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

//! Jobs run per tenant, UTC day and kind (`job_days`): counted by the queue's completion and by
//! each failed attempt (a lease that expired is one), read by the console's timeline.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use dealbridge_core::TenantId;
use dealbridge_storage::{JobDay, JobDays, JobLease, StoreError, StoreResult};
use uuid::Uuid;

use crate::backend::Backend;
use crate::statement::{count, sql};
use crate::values::{day_from_iso, iso_day, Id};
use crate::{commit, SqlStore};

/// Adds `$5` failed attempts of kind `$3` to the tenant's (`$1`) day (`$2`), in shard `$4`.
const ADD_FAILED: &str = "insert into job_days as c (tenant_id, day, kind, shard, failed)
    values ($1, $2, $3, $4, $5)
    on conflict (tenant_id, day, kind, shard) do update set failed = c.failed + $5";

/// The tenant's (`$1`) latest `$3` days before `$2` that have counts, summed over the shards.
const DAYS: &str = "select day, kind, cast(sum(done) as bigint) as done,
        cast(sum(failed) as bigint) as failed
    from job_days
    where tenant_id = $1 and day in (select distinct day from job_days
        where tenant_id = $1 and day < $2 order by day desc limit $3)
    group by day, kind order by day desc, kind";

/// The shard a write about job `id` adds to: UUIDv7's last bits are random, so concurrent writers
/// (each completing its own batch) spread over the 16 rows of a (tenant, day, kind).
fn shard(id: Uuid) -> i32 {
    i32::from(id.as_bytes()[15] % 16)
}

fn today() -> String {
    iso_day(Utc::now().date_naive())
}

impl<B: Backend> SqlStore<B> {
    /// Deletes the jobs the leases hold and counts them on today's rows of their tenants; how many
    /// were deleted. One statement on Postgres (completion is the queue's hot path, so it stays
    /// one round trip), the count then the delete in one transaction on SQLite.
    pub(super) async fn complete_and_count(&self, leases: &[JobLease]) -> StoreResult<u64> {
        let (tenants, ids, lease_ids) = super::jobs::lease_columns(leases);
        let (day, shard) = (today(), leases.first().map_or(0, |l| shard(l.id.as_uuid())));
        let Some(count_done) = B::COUNT_DONE else {
            let values = (tenants, ids, lease_ids, day.as_str(), shard);
            return self.fetch_one(B::COMPLETE_JOBS, values, count::<B>).await;
        };
        let mut tx = self.begin_write().await?;
        let values = (tenants.clone(), ids.clone(), lease_ids.clone());
        sql::<B>(count_done)
            .binds((tenants, ids, lease_ids, day.as_str(), shard))
            .execute(&mut tx)
            .await?;
        let deleted = sql::<B>(B::COMPLETE_JOBS)
            .binds(values)
            .execute(&mut tx)
            .await?;
        commit(tx).await?;
        Ok(deleted)
    }

    /// Counts one failed attempt of a `kind` job of the lease's tenant on today's row, inside the
    /// caller's transaction (the one that recorded the failure). A system job is not counted.
    pub(super) async fn count_failed(
        conn: &mut B::Connection,
        lease: &JobLease,
        kind: &str,
    ) -> StoreResult<()> {
        let Some(tenant) = lease.tenant_id else {
            return Ok(());
        };
        let day = today();
        let values = (
            Id(tenant.as_uuid()),
            day.as_str(),
            kind,
            shard(lease.id.as_uuid()),
            1_i64,
        );
        sql::<B>(ADD_FAILED).binds(values).execute(conn).await?;
        Ok(())
    }

    /// Counts the attempts whose leases expired (`RECOVER`'s rows: tenant, id and kind) as
    /// failed, one upsert per tenant and kind; system jobs are not counted.
    pub(super) async fn count_recovered(
        conn: &mut B::Connection,
        rows: &[B::Row],
    ) -> StoreResult<()> {
        let mut groups: BTreeMap<(Uuid, String), (Uuid, i64)> = BTreeMap::new();
        for row in rows {
            let (tenant, id): (Id, Id) = (B::get(row, "tenant_id")?, B::get(row, "id")?);
            if tenant.0.is_nil() {
                continue;
            }
            let kind: String = B::get(row, "kind")?;
            groups.entry((tenant.0, kind)).or_insert((id.0, 0)).1 += 1;
        }
        let day = today();
        for ((tenant, kind), (first, n)) in &groups {
            let values = (Id(*tenant), day.as_str(), kind.as_str(), shard(*first), *n);
            sql::<B>(ADD_FAILED).binds(values).execute(conn).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl<B: Backend> JobDays for SqlStore<B> {
    async fn job_days(
        &self,
        tenant_id: TenantId,
        before: Option<NaiveDate>,
        days: u32,
    ) -> StoreResult<Vec<JobDay>> {
        // Without a cursor, a day after any kept one ("9999-12-31" sorts after every ISO day).
        let before = before.map_or_else(|| "9999-12-31".to_string(), iso_day);
        let values = (Id(tenant_id.as_uuid()), before.as_str(), i64::from(days));
        let read = |row: &B::Row| {
            let text: String = B::get(row, "day")?;
            Ok(JobDay {
                day: day_from_iso(&text)
                    .ok_or_else(|| StoreError::Corrupt(format!("job day {text:?}")))?,
                kind: B::get(row, "kind")?,
                done: B::get(row, "done")?,
                failed: B::get(row, "failed")?,
            })
        };
        self.fetch_all(DAYS, values, read).await
    }
}

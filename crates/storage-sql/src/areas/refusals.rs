//! Calls Pipedrive refused, one row each (`pipedrive_refusals`), at most a fixed number per
//! company and UTC day.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use dealbridge_core::CompanyId;
use dealbridge_storage::{
    NewRefusal, PipedriveRefusals, Refusal, StoreError, StoreResult, TimelineCursor,
    REFUSALS_KEPT_PER_DAY,
};
use uuid::Uuid;

use crate::backend::Backend;
use crate::values::{iso_day, Id, QueueTime};
use crate::SqlStore;

/// Takes the company's (`$1`) next number of the day (`$2`) while it is at most `$10`. Two
/// instances taking the same number conflict on the key: one row is kept, the other only counted.
const RECORD: &str = "insert into pipedrive_refusals
        (company_id, day, seq, id, at, status, method, path, retry_after_ms, which_limit)
    select $1, $2, coalesce(max(seq), 0) + 1, $3, $4, $5, $6, $7, $8, $9
    from pipedrive_refusals where company_id = $1 and day = $2
    having coalesce(max(seq), 0) < $10
    on conflict (company_id, day, seq) do nothing";

/// Strictly before the cursor `($2, $3)`, on `pipedrive_refusals_recent_idx`.
const RECENT: &str = "select company_id, id, at, status, method, path, retry_after_ms, which_limit
    from pipedrive_refusals
    where company_id = $1 and at <= $2 and (at < $2 or id < $3)
    order by at desc, id desc limit $4";

fn refusal_from_row<B: Backend>(row: &B::Row) -> StoreResult<Refusal> {
    let id: Id = B::get(row, "id")?;
    let status: i32 = B::get(row, "status")?;
    Ok(Refusal {
        id: id.0,
        company_id: CompanyId::new(B::get(row, "company_id")?),
        at: B::get(row, "at").map(|t: QueueTime| t.0)?,
        status: u16::try_from(status)
            .map_err(|_| StoreError::Corrupt(format!("refusal status {status}")))?,
        method: B::get(row, "method")?,
        path: B::get(row, "path")?,
        retry_after_ms: B::get(row, "retry_after_ms")?,
        limit: B::get(row, "which_limit")?,
    })
}

#[async_trait]
impl<B: Backend> PipedriveRefusals for SqlStore<B> {
    async fn record_refusal(&self, refusal: &NewRefusal) -> StoreResult<bool> {
        let day = iso_day(refusal.at.date_naive());
        let call = (
            refusal.company_id.get(),
            day.as_str(),
            Id(Uuid::now_v7()),
            QueueTime(refusal.at),
            i32::from(refusal.status),
        );
        let what = (
            refusal.method.as_str(),
            refusal.path.as_str(),
            refusal.retry_after_ms,
            refusal.limit.as_deref(),
            i64::from(REFUSALS_KEPT_PER_DAY),
        );
        let mut conn = self.conn().await?;
        let kept = crate::statement::sql::<B>(RECORD)
            .binds(call)
            .binds(what)
            .execute(&mut conn)
            .await?;
        Ok(kept == 1)
    }

    async fn refusals(
        &self,
        company_id: CompanyId,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Refusal>> {
        let (at, id) = match before {
            Some(c) => (QueueTime(c.at), Id(c.id)),
            None => (
                QueueTime(DateTime::<Utc>::MAX_UTC),
                Id(Uuid::from_u128(u128::MAX)),
            ),
        };
        let values = (company_id.get(), at, id, i64::from(limit));
        self.fetch_all(RECENT, values, refusal_from_row::<B>).await
    }

    async fn prune_refusals(&self, before: NaiveDate) -> StoreResult<u64> {
        let day = iso_day(before);
        let statement = "delete from pipedrive_refusals where day < $1";
        self.execute(statement, (day.as_str(),)).await
    }
}

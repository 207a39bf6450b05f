use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_storage::{
    fold_overview, LaneOverview, OverviewRow, QueueOverview, StoreError, StoreResult,
};
use sqlx::Row;

use crate::PgStore;

#[async_trait]
impl QueueOverview for PgStore {
    async fn queue_overview(&self, now: DateTime<Utc>) -> StoreResult<Vec<LaneOverview>> {
        let rows = sqlx::query(
            "select lane, state, count(*) as n,
                 min(case when state = 'queued' and run_at <= $1 then run_at end) as oldest
             from jobs group by lane, state",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok(OverviewRow {
                    lane: row.try_get("lane").map_err(StoreError::backend)?,
                    state: row.try_get("state").map_err(StoreError::backend)?,
                    count: row.try_get("n").map_err(StoreError::backend)?,
                    oldest_ready_at: row.try_get("oldest").map_err(StoreError::backend)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        fold_overview(rows)
    }
}

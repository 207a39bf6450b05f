use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_storage::{fold_overview, LaneOverview, OverviewRow, QueueOverview, StoreResult};

use crate::backend::Backend;
use crate::values::QueueTime;
use crate::SqlStore;

const OVERVIEW: &str = "select lane, state, count(*) as n,
        min(case when state = 'queued' and run_at <= $1 then run_at end) as oldest
    from jobs group by lane, state";

#[async_trait]
impl<B: Backend> QueueOverview for SqlStore<B> {
    async fn queue_overview(&self, now: DateTime<Utc>) -> StoreResult<Vec<LaneOverview>> {
        let read = |row: &B::Row| {
            let oldest: Option<QueueTime> = B::get(row, "oldest")?;
            Ok(OverviewRow {
                lane: B::get(row, "lane")?,
                state: B::get(row, "state")?,
                count: B::get(row, "n")?,
                oldest_ready_at: oldest.map(|t| t.0),
            })
        };
        fold_overview(self.fetch_all(OVERVIEW, (QueueTime(now),), read).await?)
    }
}

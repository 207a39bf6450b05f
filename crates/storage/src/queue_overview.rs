//! The whole queue at a glance, across tenants: how much work each lane holds and how far behind it
//! is. An operators' read (metrics and the support console), never a tenant's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{JobCounts, JobState, Lane, StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneOverview {
    pub lane: Lane,
    pub counts: JobCounts,
    /// The earliest `run_at` among jobs that could run now: how long the oldest ready job has been
    /// waiting. `None` when nothing in the lane is ready.
    pub oldest_ready_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait QueueOverview: Send + Sync + 'static {
    /// One entry per lane, in [`Lane::ALL`] order, zeros included.
    async fn queue_overview(&self, now: DateTime<Utc>) -> StoreResult<Vec<LaneOverview>>;

    /// The same for pages: each count stops at `cap + 1` (shown as "10,000+"), so it walks at
    /// most that many index entries per lane and state instead of every job; the oldest ready
    /// job is exact.
    async fn queue_overview_capped(
        &self,
        now: DateTime<Utc>,
        cap: u64,
    ) -> StoreResult<Vec<LaneOverview>>;
}

/// One `group by lane, state` row as both backends read it.
pub struct OverviewRow {
    pub lane: String,
    pub state: String,
    pub count: i64,
    pub oldest_ready_at: Option<DateTime<Utc>>,
}

/// Folds grouped rows into the per-lane overview (shared by the backends).
pub fn fold_overview(
    rows: impl IntoIterator<Item = OverviewRow>,
) -> StoreResult<Vec<LaneOverview>> {
    let mut lanes: Vec<LaneOverview> = Lane::ALL
        .into_iter()
        .map(|lane| LaneOverview {
            lane,
            counts: JobCounts::default(),
            oldest_ready_at: None,
        })
        .collect();
    for row in rows {
        let lane = Lane::parse(&row.lane)
            .ok_or_else(|| StoreError::Corrupt(format!("job lane {:?}", row.lane)))?;
        let state = JobState::parse(&row.state)
            .ok_or_else(|| StoreError::Corrupt(format!("job state {:?}", row.state)))?;
        let Some(entry) = lanes.iter_mut().find(|l| l.lane == lane) else {
            continue;
        };
        let count = u64::try_from(row.count).unwrap_or_default();
        match state {
            JobState::Queued => entry.counts.queued += count,
            JobState::Running => entry.counts.running += count,
            JobState::Dead => entry.counts.dead += count,
        }
        entry.oldest_ready_at = match (entry.oldest_ready_at, row.oldest_ready_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(lanes)
}

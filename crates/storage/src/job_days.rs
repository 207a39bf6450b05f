//! Jobs run per tenant and UTC day, for the console's timeline. Finished jobs are deleted from the
//! queue, so these counts are the only record that a job ran well: completing a batch adds to its
//! day's count in the same statement (or, on SQLite, the same transaction), and each failed
//! attempt adds to `failed`. Jobs of no tenant (system sweeps) are not counted. The days are
//! pruned with finished events (`Retention::prune_finished_events`), so they are kept as long.

use async_trait::async_trait;
use chrono::NaiveDate;
use dealbridge_core::TenantId;

use crate::StoreResult;

/// One kind of job's runs on one of the tenant's UTC days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDay {
    pub day: NaiveDate,
    pub kind: String,
    /// Jobs that ran well (completed).
    pub done: i64,
    /// Attempts that failed, whether the job was to run again or went dead.
    pub failed: i64,
}

#[async_trait]
pub trait JobDays: Send + Sync + 'static {
    /// The tenant's counts on its `days` latest UTC days with any, strictly before `before` when
    /// given: newest day first, by kind within a day.
    async fn job_days(
        &self,
        tenant_id: TenantId,
        before: Option<NaiveDate>,
        days: u32,
    ) -> StoreResult<Vec<JobDay>>;
}

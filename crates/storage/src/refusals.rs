//! Calls Pipedrive refused (401 or 429), one record each, for the console's timeline. They are
//! rare by nature, but a flood (a revoked token retried, a burst limit hammered) must not grow the
//! table: at most [`REFUSALS_KEPT_PER_DAY`] are kept per company and UTC day, the rest only
//! counted (the per-day budget records count every one). Kept [`REFUSALS_KEPT_DAYS`] days, then
//! pruned by the retention job.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use dealbridge_core::CompanyId;
use uuid::Uuid;

use crate::{StoreResult, TimelineCursor};

/// Records kept per company and UTC day; later ones of the day are only counted.
pub const REFUSALS_KEPT_PER_DAY: u32 = 50;

/// Days refused calls are kept: as long as the per-day budget records beside them.
pub const REFUSALS_KEPT_DAYS: i64 = crate::BUDGET_DAYS_KEPT;

/// A refused call to record. `path` is the operation's path with ids as `{id}` and no query
/// string (the client's `call_path`); it is never a URL as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefusal {
    pub company_id: CompanyId,
    pub at: DateTime<Utc>,
    pub status: u16,
    pub method: String,
    pub path: String,
    pub retry_after_ms: Option<i64>,
    /// For a 429, which limit (`burst`, `search`, `daily_budget`, `daily_writes`).
    pub limit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub id: Uuid,
    pub company_id: CompanyId,
    pub at: DateTime<Utc>,
    pub status: u16,
    pub method: String,
    pub path: String,
    pub retry_after_ms: Option<i64>,
    pub limit: Option<String>,
}

#[async_trait]
pub trait PipedriveRefusals: Send + Sync + 'static {
    /// Keeps the record unless the company has [`REFUSALS_KEPT_PER_DAY`] on `refusal.at`'s UTC day
    /// already (also when several instances record at once); whether it was kept.
    async fn record_refusal(&self, refusal: &NewRefusal) -> StoreResult<bool>;

    /// The company's refused calls, newest first, strictly before `before` when given.
    async fn refusals(
        &self,
        company_id: CompanyId,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Refusal>>;

    /// Deletes every company's refused calls of UTC days before `before`; how many went.
    async fn prune_refusals(&self, before: NaiveDate) -> StoreResult<u64>;
}

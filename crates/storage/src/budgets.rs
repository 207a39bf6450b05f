//! Shared state of the Pipedrive budget ledger: per-company daily tokens, per-token window slots
//! and per-company figures. Every method is one atomic step on the database, so several app
//! instances can lease from the same rows without overspending.
//!
//! Budget rows are keyed by Pipedrive's company id, not by tenant: the ledger only knows the
//! company a call is for, the budget is Pipedrive's (it exists before and after an install), and
//! the rows hold counters only, never tenant data.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use dealbridge_core::{CompanyId, UserId};

use crate::StoreResult;

/// A company's daily token budget as the store holds it, rolled over to the current period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyBudget {
    /// Configured limit (a hard stop).
    pub daily_limit: Option<i64>,
    /// Limit learned from a daily rate limit when none was configured (sizes the reserve only).
    pub learned_limit: Option<i64>,
    /// Tokens charged this period, including tokens leased to instances and not yet returned.
    pub spent: i64,
    /// When the current period ends (the next daily reset).
    pub period_end: DateTime<Utc>,
    /// Set while the whole company waits for the reset.
    pub exhausted_until: Option<DateTime<Utc>>,
}

/// Ask for a block of daily tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenTake {
    pub company_id: CompanyId,
    pub now: DateTime<Utc>,
    /// The next reset after `now`; a row whose period ended starts this period at zero first.
    pub period_end: DateTime<Utc>,
    /// Tokens that must fit, or nothing is taken.
    pub min: i64,
    /// Tokens wanted; fewer (at least `min`) are taken when that is all there is.
    pub max: i64,
    /// Bulk takes may not reach into the priority reserve.
    pub bulk: bool,
    /// The priority reserve as basis points (1/10,000) of the configured, else learned, limit.
    pub reserve_bp: i64,
}

/// Which rolling window of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowKind {
    /// Every request of the token.
    Burst,
    /// Search requests of the token.
    Search,
}

impl WindowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Burst => "burst",
            WindowKind::Search => "search",
        }
    }
}

/// One token's window: (company, user, kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowKey {
    pub company_id: CompanyId,
    pub user_id: UserId,
    pub kind: WindowKind,
}

/// Ask for free send slots of a window. A window of limit `n` has slots `0..n`; a slot is busy
/// from the moment it is leased until its send has left the window, so at most `n` sends can be
/// in any window-long interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotTake {
    pub key: WindowKey,
    pub now: DateTime<Utc>,
    /// Only slots numbered below this may be taken (bulk work gets the lower share).
    pub below: i32,
    /// Take the highest free slots first (priority work), leaving the low ones to bulk work.
    pub prefer_high: bool,
    pub count: i32,
    /// Taken slots are busy until then unless released earlier.
    pub leased_until: DateTime<Utc>,
}

/// The answer to [`SlotTake`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlotsTaken {
    /// In ascending order.
    pub slots: Vec<i32>,
    /// When nothing was free: the earliest time an eligible slot frees.
    pub next_free: Option<DateTime<Utc>>,
}

/// Hand a leased slot back: busy until `busy_until` (the send's end plus the window, or now when
/// unused). Applied as given while the slot still carries this lease's `leased_until`, else only
/// to lengthen. Holds ([`Budgets::budget_hold_window`]) are kept apart and outlast any release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRelease {
    pub slot: i32,
    pub leased_until: DateTime<Utc>,
    pub busy_until: DateTime<Utc>,
}

/// Cumulative per-company figures for the dashboard and the support console.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BudgetFigures {
    pub calls: i64,
    pub tokens_spent: i64,
    pub rate_limited: i64,
    pub waited_ms: i64,
    pub deferred: i64,
    /// Calls Pipedrive answered 401: the access token was refused (the client refreshes it and
    /// tries once more).
    pub unauthorized: i64,
}

/// What one company was charged on one UTC day, for the dashboard's budget chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetDay {
    pub day: NaiveDate,
    pub calls: i64,
    pub tokens_spent: i64,
    pub rate_limited: i64,
    pub unauthorized: i64,
}

/// Days of per-day records kept; older ones are dropped as new ones are written.
pub const BUDGET_DAYS_KEPT: i64 = 35;

#[async_trait]
/// The budget ledger's store. It also keeps each call Pipedrive refused
/// ([`crate::PipedriveRefusals`]), which the ledger is told of beside its counts.
pub trait Budgets: crate::PipedriveRefusals + Send + Sync + 'static {
    /// Takes between `min` and `max` tokens if at least `min` fit under the configured limit
    /// (and, for bulk, above the priority reserve) and the company is not exhausted. Returns the
    /// tokens taken (0 when none) and the budget after the take.
    async fn budget_take_tokens(&self, take: &TokenTake) -> StoreResult<(i64, DailyBudget)>;

    /// Gives back tokens taken in the period ending `period_end` (unused lease, refunds). Tokens
    /// of a period that has ended are dropped.
    async fn budget_return_tokens(
        &self,
        company_id: CompanyId,
        period_end: DateTime<Utc>,
        tokens: i64,
    ) -> StoreResult<()>;

    /// Sets (or, with `None`, forgets) the configured daily limit.
    async fn budget_set_limit(
        &self,
        company_id: CompanyId,
        limit: Option<i64>,
        now: DateTime<Utc>,
        period_end: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Pipedrive said the budget is spent: blocks the company until `until` and, without a
    /// configured limit, learns the period's spend as a limit.
    async fn budget_mark_exhausted(
        &self,
        company_id: CompanyId,
        now: DateTime<Utc>,
        period_end: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<DailyBudget>;

    /// The budget as of `now` (a period that ended reads as empty); nothing is written.
    async fn budget_daily(
        &self,
        company_id: CompanyId,
        now: DateTime<Utc>,
        period_end: DateTime<Utc>,
    ) -> StoreResult<DailyBudget>;

    /// Creates the window with `size` slots if it has none; an existing window keeps its size.
    async fn budget_ensure_window(&self, key: WindowKey, size: i32) -> StoreResult<()>;

    /// Changes the window to `size` slots (Pipedrive reported a different limit). When it
    /// shrinks, the remaining slots stay busy at least until `hold_until`, since sends counted
    /// in removed slots may still be in the window.
    async fn budget_resize_window(
        &self,
        key: WindowKey,
        size: i32,
        hold_until: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Leases up to `count` free slots.
    async fn budget_take_slots(&self, take: &SlotTake) -> StoreResult<SlotsTaken>;

    async fn budget_release_slots(
        &self,
        key: WindowKey,
        releases: &[SlotRelease],
    ) -> StoreResult<()>;

    /// Keeps at most `keep_free` slots free as of `now`: the others are held until `until`
    /// (Pipedrive reported fewer requests left than the store shows). With 0 the whole window
    /// is blocked: every slot, leased ones included, stays busy at least until `until`.
    async fn budget_hold_window(
        &self,
        key: WindowKey,
        keep_free: i32,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Adds to the company's cumulative figures and, in the same transaction, to its record of
    /// `day` (the UTC day the figures were counted in); records older than
    /// [`BUDGET_DAYS_KEPT`] days before `day` are dropped.
    async fn budget_add_figures(
        &self,
        company_id: CompanyId,
        day: NaiveDate,
        delta: &BudgetFigures,
    ) -> StoreResult<()>;

    /// The company's day records from `from` to `to` (both included), oldest first; a day
    /// without calls has no record.
    async fn budget_days(
        &self,
        company_id: CompanyId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<BudgetDay>>;

    /// The company's figures (zeros when it has none).
    async fn budget_figures(&self, company_id: CompanyId) -> StoreResult<BudgetFigures>;

    /// Every company's figures, by company id.
    async fn budget_figures_all(&self) -> StoreResult<Vec<(CompanyId, BudgetFigures)>>;
}

/// Budget tables keep times as Unix milliseconds; backends convert with these.
pub fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `budget_companies` columns as read: daily limit, learned limit, spent, period end (ms),
/// exhausted until (ms).
pub type BudgetColumns = (Option<i64>, Option<i64>, i64, i64, Option<i64>);

/// Builds a [`DailyBudget`] from stored columns, reading a period that ended before `now` as a
/// fresh one ending at `period_end`.
pub fn rolled_budget(
    row: BudgetColumns,
    now: DateTime<Utc>,
    period_end: DateTime<Utc>,
) -> DailyBudget {
    let (daily_limit, learned_limit, spent, period_end_ms, exhausted_until_ms) = row;
    if period_end_ms <= to_millis(now) {
        return DailyBudget {
            daily_limit,
            learned_limit,
            spent: 0,
            period_end,
            exhausted_until: None,
        };
    }
    DailyBudget {
        daily_limit,
        learned_limit,
        spent,
        period_end: from_millis(period_end_ms),
        exhausted_until: exhausted_until_ms.map(from_millis),
    }
}

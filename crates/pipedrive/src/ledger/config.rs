//! What every ledger is configured with, and when the daily budget resets.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveTime, Offset as _, TimeZone as _, Utc};

/// Tunables every ledger accepts (the store-backed one, and the in-memory test double).
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// The daily budget resets at midnight in this offset. Pipedrive does not name its server
    /// time zone, so this is a setting (UTC by default).
    pub reset_offset: FixedOffset,
    /// Share of the daily budget kept for interactive and webhook work.
    pub priority_reserve: f64,
    /// Share of each burst and search window that bulk work may fill.
    pub bulk_window_share: f64,
    /// Burst limit assumed until Pipedrive reports one: the lowest OAuth plan's 80 per 2 s.
    pub default_burst_limit: u32,
    pub search_limit: u32,
    pub window: Duration,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            reset_offset: Utc.fix(),
            priority_reserve: 0.2,
            bulk_window_share: 0.75,
            default_burst_limit: 80,
            search_limit: 10,
            window: Duration::from_secs(2),
        }
    }
}

/// The first midnight (in `offset`) strictly after `now`.
pub fn next_reset(now: DateTime<Utc>, offset: FixedOffset) -> DateTime<Utc> {
    let local_date = now.with_timezone(&offset).date_naive();
    let next = local_date
        .succ_opt()
        .unwrap_or(local_date)
        .and_time(NaiveTime::MIN);
    offset
        .from_local_datetime(&next)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now + chrono::Duration::days(1))
}

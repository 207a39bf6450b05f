//! Rate limits of FACTS §5: a rolling 2-second window per access token (search has its own, 10
//! requests on every plan) and a daily token budget per company.

use std::collections::VecDeque;

use crate::world::Company;

const WINDOW_MS: i64 = 2000;
/// Search API burst limit on every plan (FACTS §5.2).
pub const SEARCH_BURST: u32 = 10;

/// Hit times of one token inside the current window.
#[derive(Debug, Default)]
pub struct Burst {
    hits: VecDeque<i64>,
}

/// Values of the `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: i64,
}

impl Burst {
    /// Counts a request if the window has room. Returns whether it did and the header values.
    pub fn hit(&mut self, limit: u32, now_ms: i64) -> (bool, Window) {
        self.expire(now_ms);
        let allowed = self.hits.len() < limit as usize;
        if allowed {
            self.hits.push_back(now_ms);
        }
        (allowed, self.window(limit, now_ms))
    }

    /// The header values without counting a request, for answers that never reach the limiter.
    pub fn peek(&mut self, limit: u32, now_ms: i64) -> Window {
        self.expire(now_ms);
        self.window(limit, now_ms)
    }

    fn expire(&mut self, now_ms: i64) {
        while self.hits.front().is_some_and(|t| now_ms - t >= WINDOW_MS) {
            self.hits.pop_front();
        }
    }

    fn window(&self, limit: u32, now_ms: i64) -> Window {
        let used = u32::try_from(self.hits.len()).unwrap_or(u32::MAX);
        let reset_ms = self
            .hits
            .front()
            .map_or(WINDOW_MS, |t| WINDOW_MS - (now_ms - t));
        Window {
            limit,
            remaining: limit.saturating_sub(used),
            // Pipedrive reports whole seconds; round up so clients never retry early.
            reset_secs: (reset_ms + 999) / 1000,
        }
    }
}

/// Day number for the daily budget, with days starting `reset_at_secs` after UTC midnight.
pub fn budget_day(now_ms: i64, reset_at_secs: u64) -> i64 {
    let shift = i64::try_from(reset_at_secs).unwrap_or(0) * 1000;
    (now_ms - shift).div_euclid(86_400_000)
}

impl Company {
    /// Rolls the budget over at the daily reset and says whether `cost` still fits.
    pub fn budget_allows(&mut self, cost: u32, day: i64) -> bool {
        if self.budget_day != day {
            self.budget_day = day;
            self.budget_used = 0;
        }
        self.budget_used + u64::from(cost) <= self.daily_budget()
    }

    pub fn charge(&mut self, cost: u32) {
        self.budget_used += u64::from(cost);
    }
}

//! A ledger that is exact within one process: one mutex makes every `reserve` atomic.
//! Several instances each running this ledger would together overspend, so production always
//! uses the store-backed ledger; this one is a test double (feature `test-util`) that the
//! client's tests and other crates' tests run against.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::clock::{Clock, TokioClock};
use super::config::{next_reset, LedgerConfig};
use super::types::*;
use super::{BudgetLedger, LedgerError};

/// A rolling window as a log of send times; entries older than the window drop out.
#[derive(Debug, Default)]
struct Window {
    sends: VecDeque<DateTime<Utc>>,
    blocked_until: Option<DateTime<Utc>>,
}

impl Window {
    fn prune(&mut self, now: DateTime<Utc>, window: chrono::Duration) {
        while self.sends.front().is_some_and(|t| *t + window <= now) {
            self.sends.pop_front();
        }
        if self.blocked_until.is_some_and(|t| t <= now) {
            self.blocked_until = None;
        }
    }

    /// `None` when one more send fits under `cap`, else when it will.
    fn admit_at(&self, cap: usize, window: chrono::Duration) -> Option<DateTime<Utc>> {
        if let Some(until) = self.blocked_until {
            return Some(until);
        }
        if self.sends.len() < cap {
            return None;
        }
        // The send that has to expire for one slot under `cap` to open.
        let index = self.sends.len() - cap.max(1);
        self.sends.get(index).map(|t| *t + window)
    }

    fn record(&mut self, at: DateTime<Utc>) {
        let pos = self.sends.partition_point(|t| *t <= at);
        self.sends.insert(pos, at);
    }
}

#[derive(Debug)]
struct Daily {
    limit: Option<u64>,
    learned: Option<u64>,
    spent: u64,
    resets_at: DateTime<Utc>,
    exhausted_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct TokenState {
    limit: Option<u32>,
    search_limit: Option<u32>,
    burst: Window,
    search: Window,
}

#[derive(Debug, Default)]
struct State {
    daily: HashMap<CompanyId, Daily>,
    tokens: HashMap<(CompanyId, UserId), TokenState>,
}

/// See the module docs.
pub struct InMemoryLedger {
    config: LedgerConfig,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    next_id: AtomicU64,
}

impl InMemoryLedger {
    /// A ledger on tokio's clock.
    pub fn new(config: LedgerConfig) -> Self {
        Self::with_clock(config, Arc::new(TokioClock::new()))
    }

    pub fn with_clock(config: LedgerConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            config,
            clock,
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(1),
        }
    }

    fn window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.window).unwrap_or(chrono::Duration::seconds(2))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain counters behind, still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn daily<'a>(
        &self,
        state: &'a mut State,
        company: CompanyId,
        now: DateTime<Utc>,
    ) -> &'a mut Daily {
        let offset = self.config.reset_offset;
        let daily = state.daily.entry(company).or_insert_with(|| Daily {
            limit: None,
            learned: None,
            spent: 0,
            resets_at: next_reset(now, offset),
            exhausted_until: None,
        });
        if now >= daily.resets_at {
            daily.spent = 0;
            daily.exhausted_until = None;
            daily.resets_at = next_reset(now, offset);
        }
        daily
    }

    fn reserve_share(&self, limit: u64) -> u64 {
        (limit as f64 * self.config.priority_reserve.clamp(0.0, 1.0)).ceil() as u64
    }

    fn lane_cap(&self, limit: u32, lane: Lane) -> usize {
        let limit = limit.max(1) as usize;
        if lane.is_priority() {
            return limit;
        }
        let share = self.config.bulk_window_share.clamp(0.0, 1.0);
        ((limit as f64 * share).floor() as usize).max(1)
    }
}

#[async_trait]
impl BudgetLedger for InMemoryLedger {
    async fn reserve(&self, request: &CallRequest) -> Result<Grant, LedgerError> {
        let now = self.clock.now();
        let window = self.window();
        let mut state = self.lock();

        {
            let daily = self.daily(&mut state, request.company, now);
            if let Some(until) = daily.exhausted_until {
                return Ok(wait(until, WaitReason::DailyBudget));
            }
            let after = daily.spent + u64::from(request.cost);
            // Only a configured limit is a hard stop. A learned one is our own spend on a day
            // the company ran dry (a floor, since other apps share the budget), so it only
            // sizes the priority reserve; Pipedrive's 429 remains the hard stop.
            if daily.limit.is_some_and(|limit| after > limit) {
                return Ok(wait(daily.resets_at, WaitReason::DailyBudget));
            }
            if let Some(reference) = daily.limit.or(daily.learned) {
                let floor = reference.saturating_sub(self.reserve_share(reference));
                if !request.lane.is_priority() && after > floor {
                    return Ok(wait(daily.resets_at, WaitReason::LaneReserve));
                }
            }
        }

        let default_limit = self.config.default_burst_limit;
        let token = state
            .tokens
            .entry((request.company, request.user))
            .or_default();
        token.burst.prune(now, window);
        token.search.prune(now, window);
        let burst_cap = self.lane_cap(token.limit.unwrap_or(default_limit), request.lane);
        if let Some(until) = token.burst.admit_at(burst_cap, window) {
            return Ok(wait(until, WaitReason::BurstWindow));
        }
        if request.search {
            let search_limit = token.search_limit.unwrap_or(self.config.search_limit);
            let search_cap = self.lane_cap(search_limit, request.lane);
            if let Some(until) = token.search.admit_at(search_cap, window) {
                return Ok(wait(until, WaitReason::SearchWindow));
            }
            token.search.record(now);
        }
        token.burst.record(now);
        self.daily(&mut state, request.company, now).spent += u64::from(request.cost);

        Ok(Grant::Granted(Reservation {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            request: *request,
            granted_at: now,
        }))
    }

    async fn settle(&self, reservation: Reservation, outcome: Outcome) -> Result<(), LedgerError> {
        let now = self.clock.now();
        let request = reservation.request;
        let mut state = self.lock();
        let daily = self.daily(&mut state, request.company, now);
        // A reservation from before the last reset was charged to a day that is gone.
        let same_period = reservation.granted_at >= daily.resets_at - chrono::Duration::days(1);
        let refund = match outcome {
            Outcome::NotSent | Outcome::RateLimited { .. } => same_period,
            Outcome::Responded { .. } | Outcome::Unknown => false,
        };
        if refund {
            daily.spent = daily.spent.saturating_sub(u64::from(request.cost));
        }
        if let Outcome::RateLimited { daily: true, .. } = outcome {
            daily.exhausted_until = Some(daily.resets_at);
            if daily.limit.is_none() {
                // Our own spend when the company ran dry: a floor for what we may spend
                // tomorrow (other apps share the budget, so the real limit is higher).
                daily.learned = Some(daily.learned.map_or(daily.spent, |l| l.max(daily.spent)));
            }
        }
        if let Outcome::RateLimited {
            daily: false,
            retry_after,
        } = outcome
        {
            let pause = retry_after.unwrap_or(self.config.window);
            let until = now + chrono::Duration::from_std(pause).unwrap_or(self.window());
            let token = state
                .tokens
                .entry((request.company, request.user))
                .or_default();
            token.burst.blocked_until =
                Some(token.burst.blocked_until.map_or(until, |t| t.max(until)));
        }
        Ok(())
    }

    async fn observe_headers(
        &self,
        company: CompanyId,
        user: UserId,
        headers: &RateHeaders,
    ) -> Result<(), LedgerError> {
        let now = self.clock.now();
        let window = self.window();
        let mut state = self.lock();
        let token = state.tokens.entry((company, user)).or_default();
        // A search call's headers describe its search window when they report a limit of
        // at most the search limit (the sandbox does); otherwise the burst window.
        let search = headers.search
            && headers.limit.is_none_or(|l| {
                l <= self
                    .config
                    .search_limit
                    .max(token.search_limit.unwrap_or(0))
            });
        let (known, target) = if search {
            (&mut token.search_limit, &mut token.search)
        } else {
            (&mut token.limit, &mut token.burst)
        };
        target.prune(now, window);
        if let Some(limit) = headers.limit {
            *known = Some(limit);
        }
        let (Some(limit), Some(remaining)) = (*known, headers.remaining) else {
            return Ok(());
        };
        let reset = headers
            .reset
            .and_then(|r| chrono::Duration::from_std(r).ok())
            .unwrap_or(window)
            .min(window);
        if remaining == 0 {
            let until = now + reset;
            target.blocked_until = Some(target.blocked_until.map_or(until, |t| t.max(until)));
        }
        let server_used = limit.saturating_sub(remaining) as usize;
        // Sends we do not know about expire when Pipedrive's window resets.
        let phantom_at = now + reset - window;
        while target.sends.len() < server_used {
            target.record(phantom_at);
        }
        Ok(())
    }

    async fn set_daily_limit(
        &self,
        company: CompanyId,
        tokens: Option<u64>,
    ) -> Result<(), LedgerError> {
        let now = self.clock.now();
        let mut state = self.lock();
        self.daily(&mut state, company, now).limit = tokens;
        Ok(())
    }

    async fn status(&self, company: CompanyId) -> Result<BudgetStatus, LedgerError> {
        let now = self.clock.now();
        let mut state = self.lock();
        let daily = self.daily(&mut state, company, now);
        let limit = daily.limit.or(daily.learned);
        let learned = daily.limit.is_none() && daily.learned.is_some();
        let (spent, resets_at, exhausted_until) =
            (daily.spent, daily.resets_at, daily.exhausted_until);
        Ok(BudgetStatus {
            daily_limit: limit,
            learned,
            spent,
            priority_reserve: limit.map(|l| self.reserve_share(l)).unwrap_or(0),
            resets_at,
            exhausted_until,
        })
    }
}

fn wait(until: DateTime<Utc>, reason: WaitReason) -> Grant {
    Grant::WaitUntil { until, reason }
}

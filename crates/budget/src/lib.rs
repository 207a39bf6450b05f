#![doc = include_str!("../README.md")]

mod gate;
mod lanes;
mod local;
mod sync;

pub use gate::{GateConfig, LedgerGate};
pub use lanes::ledger_lane;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_pipedrive::ledger::{next_reset, Clock, LedgerConfig, TokioClock};
use dealbridge_pipedrive::{
    call_path, BudgetLedger, BudgetStatus, CallRequest, CompanyId, Grant, LedgerError, Outcome,
    RateHeaders, RefusedCall, Reservation, UserId, WaitReason,
};
use dealbridge_storage::{
    BudgetFigures, Budgets, NewRefusal, StoreError, TokenTake, WindowKey, WindowKind,
};

use local::{InFlight, LeasedSlot, Local, TokenLease, WindowState, BULK, PRIORITY};

/// Tunables: the in-memory ledger's, plus lease sizes and lifetimes.
#[derive(Debug, Clone)]
pub struct StoreLedgerConfig {
    /// Reset offset, priority reserve, bulk window share, default burst and search limits.
    pub ledger: LedgerConfig,
    /// A token lease holds at most this many calls' worth of tokens...
    pub lease_calls: u32,
    /// ...and at most this share of the company's known limit (never less than one call).
    pub lease_share: f64,
    /// Unused leased tokens go back to the store after this.
    pub token_lease_ttl: Duration,
    /// Window slots taken per store round trip.
    pub slot_lease: u32,
    /// A leased slot unused after this goes back.
    pub slot_lease_ttl: Duration,
    /// The longest a sent call can take (the client's request timeout, with margin). A slot of an
    /// instance that died mid-call stays busy this long plus the window.
    pub send_timeout: Duration,
    /// How often [`StoreLedger::spawn_flusher`] writes releases, returns and figures back.
    pub flush_every: Duration,
}

impl Default for StoreLedgerConfig {
    fn default() -> Self {
        Self {
            ledger: LedgerConfig::default(),
            lease_calls: 4,
            lease_share: 0.01,
            token_lease_ttl: Duration::from_secs(30),
            slot_lease: 4,
            slot_lease_ttl: Duration::from_millis(250),
            send_timeout: Duration::from_secs(60),
            flush_every: Duration::from_millis(100),
        }
    }
}

/// A [`BudgetLedger`] whose state lives in the store, so every instance of the app spends from
/// the same budgets. See the crate README.
pub struct StoreLedger {
    store: Arc<dyn Budgets>,
    config: StoreLedgerConfig,
    clock: Arc<dyn Clock>,
    local: Mutex<Local>,
    next_id: AtomicU64,
}

/// A grant, or the wait the caller gets instead.
type Step<T> = Result<T, Grant>;

impl StoreLedger {
    /// A ledger on tokio's clock. Call [`StoreLedger::spawn_flusher`] once it is in an `Arc`.
    pub fn new(store: Arc<dyn Budgets>, config: StoreLedgerConfig) -> Self {
        Self::with_clock(store, config, Arc::new(TokioClock::new()))
    }

    pub fn with_clock(
        store: Arc<dyn Budgets>,
        config: StoreLedgerConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            config,
            clock,
            local: Mutex::new(Local::default()),
            // Ids only need to be unique within this instance.
            next_id: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.ledger.window)
            .unwrap_or(chrono::Duration::seconds(2))
    }

    fn period_end(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        next_reset(now, self.config.ledger.reset_offset)
    }

    fn reserve_bp(&self) -> i64 {
        (self.config.ledger.priority_reserve.clamp(0.0, 1.0) * 10_000.0).round() as i64
    }

    fn default_size(&self, kind: WindowKind) -> i32 {
        let size = match kind {
            WindowKind::Burst => self.config.ledger.default_burst_limit,
            WindowKind::Search => self.config.ledger.search_limit,
        };
        i32::try_from(size.max(1)).unwrap_or(i32::MAX)
    }

    /// One window slot for the call, from this instance's lease or a new one.
    async fn slot(
        &self,
        key: WindowKey,
        priority: bool,
        now: DateTime<Utc>,
    ) -> Result<Step<LeasedSlot>, LedgerError> {
        let default_size = self.default_size(key.kind);
        let (below, ensured, size) = {
            let mut local = self.lock();
            let window = local
                .windows
                .entry(key)
                .or_insert_with(|| WindowState::new(default_size));
            let below = if priority {
                window.size
            } else {
                let share = self.config.ledger.bulk_window_share.clamp(0.0, 1.0);
                ((f64::from(window.size) * share).floor() as i32).max(1)
            };
            if let Some(slot) = window.take(below, priority, now) {
                return Ok(Ok(slot));
            }
            (below, window.ensured, window.size)
        };
        if !ensured {
            self.store
                .budget_ensure_window(key, size)
                .await
                .map_err(unavailable)?;
            if let Some(w) = self.lock().windows.get_mut(&key) {
                w.ensured = true;
            }
        }
        let hold =
            chrono::Duration::from_std(self.config.slot_lease_ttl + self.config.send_timeout)
                .unwrap_or(chrono::Duration::MAX)
                + self.window();
        let take = dealbridge_storage::SlotTake {
            key,
            now,
            below,
            prefer_high: priority,
            count: i32::try_from(self.config.slot_lease.max(1)).unwrap_or(1),
            leased_until: now + hold,
        };
        let taken = self
            .store
            .budget_take_slots(&take)
            .await
            .map_err(unavailable)?;
        if taken.slots.is_empty() {
            // A slot leased by another instance reads as busy until its lease's worst case, but
            // comes back unused or used within a lease lifetime and a flush: ask again then at
            // the latest. And not before a few milliseconds, so a racing take cannot spin us.
            let recheck =
                chrono::Duration::from_std(self.config.slot_lease_ttl + self.config.flush_every)
                    .unwrap_or(chrono::Duration::MAX);
            let until = taken
                .next_free
                .unwrap_or(now + self.window())
                .min(now + recheck)
                .max(now + chrono::Duration::milliseconds(5));
            let reason = match key.kind {
                WindowKind::Burst => WaitReason::BurstWindow,
                WindowKind::Search => WaitReason::SearchWindow,
            };
            return Ok(Err(Grant::WaitUntil { until, reason }));
        }
        let use_by = now
            + chrono::Duration::from_std(self.config.slot_lease_ttl)
                .unwrap_or(chrono::Duration::zero());
        let mut leased = taken.slots.into_iter().map(|slot| LeasedSlot {
            slot,
            leased_until: take.leased_until,
            use_by,
        });
        let first = leased.next();
        let mut local = self.lock();
        let window = local
            .windows
            .entry(key)
            .or_insert_with(|| WindowState::new(default_size));
        window.free.extend(leased);
        match first {
            Some(slot) => Ok(Ok(slot)),
            None => Ok(Err(Grant::WaitUntil {
                until: now + self.window(),
                reason: WaitReason::BurstWindow,
            })),
        }
    }

    /// Tokens for the call from this instance's lease, or a new lease from the store. Returns
    /// which lease paid.
    async fn tokens(
        &self,
        request: &CallRequest,
        now: DateTime<Utc>,
        period_end: DateTime<Utc>,
    ) -> Result<Step<usize>, LedgerError> {
        let cost = i64::from(request.cost);
        let priority = request.lane.is_priority();
        let own = if priority { PRIORITY } else { BULK };
        let (stale, limit) = {
            let mut local = self.lock();
            let state = local.companies.entry(request.company).or_default();
            // Priority work may also spend bulk's lease (it is all outside the reserve).
            let order: &[usize] = if priority { &[PRIORITY, BULK] } else { &[BULK] };
            for &i in order {
                if let Some(lease) = state.leases[i].as_mut() {
                    if lease.period_end == period_end
                        && lease.return_at > now
                        && lease.tokens >= cost
                    {
                        lease.tokens -= cost;
                        return Ok(Ok(i));
                    }
                }
            }
            let stale =
                state.leases[own].take_if(|l| l.period_end != period_end || l.return_at <= now);
            (stale, state.limit)
        };
        if let Some(lease) = stale.filter(|l| l.tokens > 0 && l.period_end > now) {
            self.store
                .budget_return_tokens(company_id(request.company), lease.period_end, lease.tokens)
                .await
                .map_err(unavailable)?;
        }
        let mut want = cost * i64::from(self.config.lease_calls.max(1));
        if let Some(limit) = limit {
            want = want.min((limit as f64 * self.config.lease_share) as i64);
        }
        let take = TokenTake {
            company_id: company_id(request.company),
            now,
            period_end,
            min: cost,
            max: want.max(cost),
            bulk: !priority,
            reserve_bp: self.reserve_bp(),
        };
        let (taken, budget) = self
            .store
            .budget_take_tokens(&take)
            .await
            .map_err(unavailable)?;
        let mut local = self.lock();
        let state = local.companies.entry(request.company).or_default();
        state.limit = budget.daily_limit.or(budget.learned_limit);
        if taken >= cost {
            let return_at = now
                + chrono::Duration::from_std(self.config.token_lease_ttl)
                    .unwrap_or(chrono::Duration::zero());
            let lease = state.leases[own].get_or_insert(TokenLease {
                period_end,
                tokens: 0,
                return_at,
            });
            lease.tokens += taken - cost;
            return Ok(Ok(own));
        }
        let wait = |until, reason| Err(Grant::WaitUntil { until, reason });
        if let Some(until) = budget.exhausted_until.filter(|u| *u > now) {
            state.exhausted_until = Some(until);
            return Ok(wait(until, WaitReason::DailyBudget));
        }
        let over_limit = budget
            .daily_limit
            .is_some_and(|limit| budget.spent + cost > limit);
        if over_limit || priority {
            Ok(wait(budget.period_end, WaitReason::DailyBudget))
        } else {
            Ok(wait(budget.period_end, WaitReason::LaneReserve))
        }
    }

    /// Puts slots back that a refused reservation had taken.
    fn unuse(&self, slots: &[(WindowKey, LeasedSlot)], now: DateTime<Utc>) {
        let mut local = self.lock();
        for (key, slot) in slots {
            if let Some(window) = local.windows.get_mut(key) {
                window.unuse(*slot, now);
            }
        }
    }

    /// Counts a wait the caller is handed, for the figures.
    fn count_wait(&self, company: CompanyId, grant: &Grant, now: DateTime<Utc>) {
        let Grant::WaitUntil { until, reason } = grant else {
            return;
        };
        let mut local = self.lock();
        let figures = local.figures(company);
        match reason {
            WaitReason::BurstWindow | WaitReason::SearchWindow => {
                figures.waited_ms += (*until - now).num_milliseconds().max(0);
            }
            WaitReason::DailyBudget | WaitReason::LaneReserve | WaitReason::DailyWrites => {
                figures.deferred += 1
            }
        }
    }

    /// The company's cumulative figures from the store (every instance's, as of their last
    /// flush).
    pub async fn figures(&self, company: CompanyId) -> Result<BudgetFigures, LedgerError> {
        self.store
            .budget_figures(company_id(company))
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl BudgetLedger for StoreLedger {
    async fn reserve(&self, request: &CallRequest) -> Result<Grant, LedgerError> {
        let now = self.clock.now();
        let period_end = self.period_end(now);
        let cached = {
            let mut local = self.lock();
            let state = local.companies.entry(request.company).or_default();
            state.exhausted_until.filter(|until| *until > now)
        };
        if let Some(until) = cached {
            let grant = Grant::WaitUntil {
                until,
                reason: WaitReason::DailyBudget,
            };
            self.count_wait(request.company, &grant, now);
            return Ok(grant);
        }
        let priority = request.lane.is_priority();
        let mut taken = Vec::with_capacity(2);
        let mut kinds = vec![WindowKind::Burst];
        if request.search {
            kinds.push(WindowKind::Search);
        }
        for kind in kinds {
            let key = window_key(request.company, request.user, kind);
            match self.slot(key, priority, now).await {
                Ok(Ok(slot)) => taken.push((key, slot)),
                Ok(Err(wait)) => {
                    self.unuse(&taken, now);
                    self.count_wait(request.company, &wait, now);
                    return Ok(wait);
                }
                Err(e) => {
                    self.unuse(&taken, now);
                    return Err(e);
                }
            }
        }
        let lease = match self.tokens(request, now, period_end).await {
            Ok(Ok(lease)) => lease,
            Ok(Err(wait)) => {
                self.unuse(&taken, now);
                self.count_wait(request.company, &wait, now);
                return Ok(wait);
            }
            Err(e) => {
                self.unuse(&taken, now);
                return Err(e);
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().in_flight.insert(
            id,
            InFlight {
                burst: taken[0],
                search: taken.get(1).copied(),
                period_end,
                lease,
            },
        );
        Ok(Grant::Granted(Reservation {
            id,
            request: *request,
            granted_at: now,
        }))
    }

    async fn settle(&self, reservation: Reservation, outcome: Outcome) -> Result<(), LedgerError> {
        sync::settle(self, reservation, outcome).await
    }

    async fn observe_headers(
        &self,
        company: CompanyId,
        user: UserId,
        headers: &RateHeaders,
    ) -> Result<(), LedgerError> {
        sync::observe_headers(self, company, user, headers).await
    }

    async fn set_daily_limit(
        &self,
        company: CompanyId,
        tokens: Option<u64>,
    ) -> Result<(), LedgerError> {
        let now = self.clock.now();
        let limit = tokens.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        self.store
            .budget_set_limit(company_id(company), limit, now, self.period_end(now))
            .await
            .map_err(unavailable)?;
        let mut local = self.lock();
        let state = local.companies.entry(company).or_default();
        state.limit = limit.or(state.limit);
        Ok(())
    }

    async fn record_refusal(&self, call: &RefusedCall) -> Result<(), LedgerError> {
        self.keep_refusal(call).await
    }

    async fn status(&self, company: CompanyId) -> Result<BudgetStatus, LedgerError> {
        let now = self.clock.now();
        let budget = self
            .store
            .budget_daily(company_id(company), now, self.period_end(now))
            .await
            .map_err(unavailable)?;
        let limit = budget.daily_limit.or(budget.learned_limit);
        let share = self.config.ledger.priority_reserve.clamp(0.0, 1.0);
        Ok(BudgetStatus {
            daily_limit: limit.map(|l| l.max(0) as u64),
            learned: budget.daily_limit.is_none() && budget.learned_limit.is_some(),
            spent: budget.spent.max(0) as u64,
            priority_reserve: limit.map_or(0, |l| (l as f64 * share).ceil().max(0.0) as u64),
            resets_at: budget.period_end,
            exhausted_until: budget.exhausted_until.filter(|u| *u > now),
        })
    }
}

impl StoreLedger {
    /// Keeps the record of one refused call (at most a fixed number per company and day; the
    /// rest are only in the per-day counts `settle` makes).
    async fn keep_refusal(&self, call: &RefusedCall) -> Result<(), LedgerError> {
        let refusal = NewRefusal {
            company_id: company_id(call.company),
            at: call.at,
            status: call.status,
            method: call.method.to_string(),
            // Made with `call_path` already; applied again so nothing else can reach the table.
            path: call_path(&call.path),
            retry_after_ms: call
                .retry_after
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            limit: call.limit.map(|l| l.as_str().to_string()),
        };
        self.store
            .record_refusal(&refusal)
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

fn unavailable(e: StoreError) -> LedgerError {
    LedgerError::because("budget store", e)
}

pub(crate) fn company_id(company: CompanyId) -> dealbridge_core::CompanyId {
    dealbridge_core::CompanyId::new(i64::try_from(company.0).unwrap_or(i64::MAX))
}

pub(crate) fn window_key(company: CompanyId, user: UserId, kind: WindowKind) -> WindowKey {
    WindowKey {
        company_id: company_id(company),
        user_id: dealbridge_core::UserId::new(i64::try_from(user.0).unwrap_or(i64::MAX)),
        kind,
    }
}

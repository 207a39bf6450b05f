//! The ledger's way back to the store: settling calls, Pipedrive's headers, and the flush of
//! releases, unused leases and figures.

use std::sync::{Arc, Weak};

use chrono::Utc;
use dealbridge_core::ErrorChain;
use dealbridge_pipedrive::{CompanyId, LedgerError, Outcome, RateHeaders, Reservation, UserId};
use dealbridge_storage::WindowKind;

use crate::local::{add_figures, Writeback};
use crate::{company_id, unavailable, window_key, StoreLedger};

pub(crate) async fn settle(
    ledger: &StoreLedger,
    reservation: Reservation,
    outcome: Outcome,
) -> Result<(), LedgerError> {
    let now = ledger.clock.now();
    let request = reservation.request;
    let cost = i64::from(request.cost);
    let window = ledger.window();
    let refund = matches!(outcome, Outcome::NotSent | Outcome::RateLimited { .. });
    let mut give_back = None;
    {
        let mut local = ledger.lock();
        // Unknown ids (granted before a restart) have nothing left to release here.
        let Some(flight) = local.in_flight.remove(&reservation.id) else {
            return Ok(());
        };
        // The call reached Pipedrive no later than now, so its send leaves Pipedrive's window
        // no later than now + window. A call that never left frees its slots at once.
        let busy_until = if outcome == Outcome::NotSent {
            now
        } else {
            now + window
        };
        for (key, slot) in std::iter::once(flight.burst).chain(flight.search) {
            if let Some(w) = local.windows.get_mut(&key) {
                w.done.push(slot.release(busy_until));
            }
        }
        let figures = local.figures(request.company);
        if outcome != Outcome::NotSent {
            figures.calls += 1;
        }
        if matches!(outcome, Outcome::RateLimited { .. }) {
            figures.rate_limited += 1;
        } else if outcome != Outcome::NotSent {
            figures.tokens_spent += cost;
        }
        // Kept per day beside the 429s so support can see when a company's token was refused.
        if outcome == (Outcome::Responded { status: 401 }) {
            figures.unauthorized += 1;
        }
        if refund && flight.period_end > now {
            let state = local.companies.entry(request.company).or_default();
            match state.leases[flight.lease].as_mut() {
                Some(lease) if lease.period_end == flight.period_end => lease.tokens += cost,
                _ => give_back = Some(flight.period_end),
            }
        }
    }
    if let Some(period_end) = give_back {
        ledger
            .store
            .budget_return_tokens(company_id(request.company), period_end, cost)
            .await
            .map_err(unavailable)?;
    }
    match outcome {
        Outcome::RateLimited { daily: true, .. } => {
            // Leases go back first, so a learned limit is what was spent, not what was leased.
            let returns: Vec<_> = {
                let mut local = ledger.lock();
                let state = local.companies.entry(request.company).or_default();
                state.leases.iter_mut().filter_map(Option::take).collect()
            };
            for lease in returns.into_iter().filter(|l| l.tokens > 0) {
                ledger
                    .store
                    .budget_return_tokens(
                        company_id(request.company),
                        lease.period_end,
                        lease.tokens,
                    )
                    .await
                    .map_err(unavailable)?;
            }
            let period_end = ledger.period_end(now);
            let budget = ledger
                .store
                .budget_mark_exhausted(company_id(request.company), now, period_end, period_end)
                .await
                .map_err(unavailable)?;
            let mut local = ledger.lock();
            let state = local.companies.entry(request.company).or_default();
            state.exhausted_until = budget.exhausted_until;
        }
        Outcome::RateLimited {
            daily: false,
            retry_after,
        } => {
            let pause = retry_after.unwrap_or(ledger.config.ledger.window);
            let until = now + chrono::Duration::from_std(pause).unwrap_or(window);
            let kind = if request.search {
                WindowKind::Search
            } else {
                WindowKind::Burst
            };
            let key = window_key(request.company, request.user, kind);
            ledger.hold(key, 0, now, until).await?;
        }
        _ => {}
    }
    Ok(())
}

pub(crate) async fn observe_headers(
    ledger: &StoreLedger,
    company: CompanyId,
    user: UserId,
    headers: &RateHeaders,
) -> Result<(), LedgerError> {
    let now = ledger.clock.now();
    let window = ledger.window();
    let search_key = window_key(company, user, WindowKind::Search);
    let burst_key = window_key(company, user, WindowKind::Burst);
    let (key, known) = {
        let local = ledger.lock();
        let search_size = local
            .windows
            .get(&search_key)
            .map_or(ledger.default_size(WindowKind::Search), |w| w.size);
        // A search call's headers describe its search window when their limit is the search
        // limit's size (the sandbox does this); otherwise the burst window's.
        let search = headers.search
            && headers
                .limit
                .is_none_or(|l| i64::from(l) <= i64::from(search_size));
        let key = if search { search_key } else { burst_key };
        let default = ledger.default_size(key.kind);
        (key, local.windows.get(&key).map_or(default, |w| w.size))
    };
    let reset = headers
        .reset
        .and_then(|r| chrono::Duration::from_std(r).ok())
        .unwrap_or(window)
        .min(window);
    let mut size = known;
    if let Some(limit) = headers.limit.and_then(|l| i32::try_from(l.max(1)).ok()) {
        if limit != known {
            ledger
                .store
                .budget_resize_window(key, limit, now + window)
                .await
                .map_err(unavailable)?;
            let mut local = ledger.lock();
            let w = local
                .windows
                .entry(key)
                .or_insert_with(|| crate::local::WindowState::new(limit));
            w.size = limit;
            w.ensured = true;
            size = limit;
        }
    }
    // Pipedrive counts fewer requests left than the store shows free only when someone else
    // uses the token; the check costs a round trip, so it is made when the window is nearly full.
    if let Some(remaining) = headers.remaining.and_then(|r| i32::try_from(r).ok()) {
        if remaining == 0 || remaining <= size / 4 {
            ledger.hold(key, remaining, now, now + reset).await?;
        }
    }
    Ok(())
}

impl StoreLedger {
    /// Holds the window in the store. With nothing left to keep free this instance also gives
    /// up its own unused slots; other instances' leases run out within `slot_lease_ttl`.
    async fn hold(
        &self,
        key: dealbridge_storage::WindowKey,
        keep_free: i32,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), LedgerError> {
        let ensure = {
            let mut local = self.lock();
            let default = self.default_size(key.kind);
            let window = local
                .windows
                .entry(key)
                .or_insert_with(|| crate::local::WindowState::new(default));
            if keep_free == 0 {
                let free: Vec<_> = window.free.drain(..).collect();
                window.done.extend(free.iter().map(|s| s.release(now)));
            }
            (!window.ensured).then_some(window.size)
        };
        if let Some(size) = ensure {
            self.store
                .budget_ensure_window(key, size)
                .await
                .map_err(unavailable)?;
            if let Some(w) = self.lock().windows.get_mut(&key) {
                w.ensured = true;
            }
        }
        self.store
            .budget_hold_window(key, keep_free, now, until)
            .await
            .map_err(unavailable)
    }

    /// Writes back what is due: used and expired slots, expired token leases, figures.
    pub async fn flush(&self) -> Result<(), LedgerError> {
        let due = self.lock().due(self.clock.now(), false);
        self.write(due).await
    }

    /// Returns every lease and writes everything back (before the process exits). Calls still in
    /// flight keep their slots held in the store until their lease ends.
    pub async fn shutdown(&self) -> Result<(), LedgerError> {
        let due = self.lock().due(self.clock.now(), true);
        self.write(due).await
    }

    /// Flushes every `flush_every` until the ledger is dropped. Needs a tokio runtime.
    pub fn spawn_flusher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        let every = self.config.flush_every;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(ledger) = weak.upgrade() else { return };
                if let Err(e) = ledger.flush().await {
                    tracing::warn!(error = %ErrorChain(&e), "could not write budget leases back");
                }
            }
        })
    }

    /// Releases and returns that fail stay held in the store until their lease ends (safe);
    /// figures that fail are kept for the next flush.
    async fn write(&self, due: Writeback) -> Result<(), LedgerError> {
        let mut first_error = None;
        for (key, releases) in due.releases {
            if let Err(e) = self.store.budget_release_slots(key, &releases).await {
                first_error.get_or_insert(unavailable(e));
            }
        }
        for (company, period_end, tokens) in due.tokens {
            if let Err(e) = self
                .store
                .budget_return_tokens(company_id(company), period_end, tokens)
                .await
            {
                first_error.get_or_insert(unavailable(e));
            }
        }
        for (company, delta) in due.figures {
            if let Err(e) = self
                .store
                .budget_add_figures(company_id(company), Utc::now().date_naive(), &delta)
                .await
            {
                add_figures(self.lock().figures(company), &delta);
                first_error.get_or_insert(unavailable(e));
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

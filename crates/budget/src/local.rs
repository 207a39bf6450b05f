//! What one instance holds between store round trips: leased tokens and slots, calls in flight,
//! releases and figures not yet written back. Everything here is already charged in the store,
//! so losing it (a crash) can only leave the store more conservative, never overspent.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use dealbridge_pipedrive::CompanyId;
use dealbridge_storage::{BudgetFigures, SlotRelease, WindowKey};

/// A block of daily tokens taken from the store for one lane class.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenLease {
    pub period_end: DateTime<Utc>,
    pub tokens: i64,
    /// Unused tokens go back to the store after this.
    pub return_at: DateTime<Utc>,
}

/// Index of the token lease a lane spends from: bulk work has its own, taken outside the
/// priority reserve, so a lease taken for interactive work never lets bulk work into the reserve.
pub(crate) const PRIORITY: usize = 0;
pub(crate) const BULK: usize = 1;

#[derive(Debug, Default)]
pub(crate) struct CompanyState {
    pub leases: [Option<TokenLease>; 2],
    pub exhausted_until: Option<DateTime<Utc>>,
    /// Configured, else learned, limit as last seen; sizes leases.
    pub limit: Option<i64>,
}

/// A slot leased from the store and not yet used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeasedSlot {
    pub slot: i32,
    /// What the store holds the slot until; a release names it.
    pub leased_until: DateTime<Utc>,
    /// Unused after this, the slot goes back.
    pub use_by: DateTime<Utc>,
}

impl LeasedSlot {
    pub fn release(&self, busy_until: DateTime<Utc>) -> SlotRelease {
        SlotRelease {
            slot: self.slot,
            leased_until: self.leased_until,
            busy_until,
        }
    }
}

#[derive(Debug)]
pub(crate) struct WindowState {
    /// Slots the window has, as this instance knows it (default until headers say otherwise).
    pub size: i32,
    /// Whether this instance made sure the store has the window's slots.
    pub ensured: bool,
    pub free: Vec<LeasedSlot>,
    /// Releases to write back (used slots with their end, unused ones as free now).
    pub done: Vec<SlotRelease>,
}

impl WindowState {
    pub fn new(size: i32) -> Self {
        Self {
            size,
            ensured: false,
            free: Vec::new(),
            done: Vec::new(),
        }
    }

    /// Takes a leased slot below `below`: the highest for priority work, the lowest for bulk.
    pub fn take(
        &mut self,
        below: i32,
        prefer_high: bool,
        now: DateTime<Utc>,
    ) -> Option<LeasedSlot> {
        self.expire(now);
        let eligible = self.free.iter().enumerate().filter(|(_, s)| s.slot < below);
        let pick = if prefer_high {
            eligible.max_by_key(|(_, s)| s.slot)
        } else {
            eligible.min_by_key(|(_, s)| s.slot)
        };
        let index = pick.map(|(i, _)| i)?;
        Some(self.free.swap_remove(index))
    }

    /// Moves slots past their use-by time to the releases, free from `now`.
    pub fn expire(&mut self, now: DateTime<Utc>) {
        let (expired, keep): (Vec<_>, Vec<_>) = self.free.drain(..).partition(|s| s.use_by <= now);
        self.free = keep;
        self.done.extend(expired.iter().map(|s| s.release(now)));
    }

    /// A slot taken for a reservation that was not granted after all.
    pub fn unuse(&mut self, slot: LeasedSlot, now: DateTime<Utc>) {
        if slot.use_by > now {
            self.free.push(slot);
        } else {
            self.done.push(slot.release(now));
        }
    }
}

/// A granted reservation, until it is settled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InFlight {
    pub burst: (WindowKey, LeasedSlot),
    pub search: Option<(WindowKey, LeasedSlot)>,
    pub period_end: DateTime<Utc>,
    pub lease: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Local {
    pub companies: HashMap<CompanyId, CompanyState>,
    pub windows: HashMap<WindowKey, WindowState>,
    pub in_flight: HashMap<u64, InFlight>,
    /// Figures not yet added to the store.
    pub figures: HashMap<CompanyId, BudgetFigures>,
}

/// What a flush writes back, collected under the lock and written without it.
#[derive(Debug, Default)]
pub(crate) struct Writeback {
    pub releases: Vec<(WindowKey, Vec<SlotRelease>)>,
    pub tokens: Vec<(CompanyId, DateTime<Utc>, i64)>,
    pub figures: Vec<(CompanyId, BudgetFigures)>,
}

impl Local {
    /// Everything due by `now`; with `all`, every lease too (shutdown).
    pub fn due(&mut self, now: DateTime<Utc>, all: bool) -> Writeback {
        let mut out = Writeback::default();
        for (key, window) in &mut self.windows {
            if all {
                let free: Vec<_> = window.free.drain(..).collect();
                window.done.extend(free.iter().map(|s| s.release(now)));
            } else {
                window.expire(now);
            }
            if !window.done.is_empty() {
                out.releases.push((*key, std::mem::take(&mut window.done)));
            }
        }
        for (company, state) in &mut self.companies {
            for lease in &mut state.leases {
                let Some(l) = lease else { continue };
                if all || l.return_at <= now || l.period_end <= now {
                    if l.tokens > 0 && l.period_end > now {
                        out.tokens.push((*company, l.period_end, l.tokens));
                    }
                    *lease = None;
                }
            }
        }
        out.figures = self
            .figures
            .drain()
            .filter(|(_, f)| *f != BudgetFigures::default())
            .collect();
        out
    }

    pub fn figures(&mut self, company: CompanyId) -> &mut BudgetFigures {
        self.figures.entry(company).or_default()
    }
}

/// Adds `b` into `a` (figures that could not be written go back for the next flush).
pub(crate) fn add_figures(a: &mut BudgetFigures, b: &BudgetFigures) {
    a.calls += b.calls;
    a.tokens_spent += b.tokens_spent;
    a.rate_limited += b.rate_limited;
    a.waited_ms += b.waited_ms;
    a.deferred += b.deferred;
    a.unauthorized += b.unauthorized;
}

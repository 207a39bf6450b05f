//! Per-company budgets, shared by every instance of the app.
//!
//! Pipedrive meters three things, and a call must fit all three before it is sent:
//! - the company's **daily token budget** (shared with every other app and user of the company;
//!   every call costs its `x-token-cost`), reset once a day;
//! - the **burst window**: requests per rolling 2 seconds, counted per access token (so per
//!   installing user), reported back in `x-ratelimit-*` headers;
//! - the **search limit**: 10 search requests per 2 seconds, per token, on every plan.
//!
//! [`BudgetLedger`] is the contract; the store-backed implementation (crate `dealbridge-budget`)
//! keeps its promises across processes. `InMemoryLedger` (feature `test-util`, for tests only)
//! keeps them within one process.

mod clock;
mod config;
#[cfg(feature = "test-util")]
mod manual_clock;
#[cfg(feature = "test-util")]
mod memory;
mod types;

pub use clock::{Clock, TokioClock};
pub use config::{next_reset, LedgerConfig};
#[cfg(feature = "test-util")]
pub use manual_clock::ManualClock;
#[cfg(feature = "test-util")]
pub use memory::InMemoryLedger;
pub use types::{
    daily_budget_for_plan, BudgetStatus, CallRequest, CompanyId, Grant, Lane, Outcome, Plan,
    RateHeaders, Reservation, UserId, WaitReason,
};

use std::borrow::Cow;

use async_trait::async_trait;

use crate::error::Cause;

/// The ledger could not answer (its store is down or timed out). The client treats this as a
/// transient failure: a call is never sent without a reservation. The store's error, when there
/// is one, is kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("budget ledger unavailable: {what}")]
pub struct LedgerError {
    what: Cow<'static, str>,
    #[source]
    source: Option<Cause>,
}

impl LedgerError {
    /// Unavailable for a reason of the ledger's own.
    pub fn new(what: impl Into<Cow<'static, str>>) -> Self {
        Self {
            what: what.into(),
            source: None,
        }
    }

    /// Unavailable because `what` failed with `source`.
    pub fn because(what: impl Into<Cow<'static, str>>, source: impl Into<Cause>) -> Self {
        Self {
            what: what.into(),
            source: Some(source.into()),
        }
    }
}

/// Where every Pipedrive call asks for budget before it is sent, and reports back after.
///
/// # Contract
///
/// **`reserve` is atomic.** Checking all limits and recording the reservation is one step: two
/// callers (in one process or in ten) can never both be granted the last tokens. Either the call
/// fits the daily budget (minus the priority reserve when `lane` is [`Lane::Bulk`]), a free slot
/// in the token's burst window and, for searches, a free slot in the search window, and
/// [`Grant::Granted`] is returned with all three recorded; or nothing is recorded and
/// [`Grant::WaitUntil`] says the earliest time a retry can succeed and why. A daily-budget or
/// lane-reserve wait points at the next daily reset, so the job queue can park the job until
/// then instead of failing or spinning.
///
/// **Reservations are charged at reserve time** and corrected by `settle`: a reservation that is
/// never settled (the process died) stays charged, which errs on the side of the customer.
/// `settle` must be called at most once per reservation; it refunds the daily tokens for
/// [`Outcome::NotSent`] and for rate-limited calls (Pipedrive rejected them), and keeps them
/// otherwise. Burst-window slots are never refunded: the request was (or may have been) seen.
///
/// **`observe_headers` only tightens.** When Pipedrive reports fewer requests left in the
/// window than the ledger believes (another instance, or a reservation not yet settled), the
/// ledger adopts Pipedrive's view until the window resets. It never loosens below what the
/// ledger itself has recorded.
///
/// **Leases (store-backed implementations).** To avoid a database round trip per call, an
/// instance may atomically take a *lease*: a block of daily tokens (and burst slots) moved from
/// the shared row into the instance, e.g. `UPDATE … SET leased = leased + n WHERE spent + leased
/// + n <= limit - reserve RETURNING …`. Reservations are then granted locally against the lease.
/// A lease must be small (a few calls' worth), must expire (a few seconds for burst slots, a
/// minute for tokens), and its unused part must be returned on expiry or shutdown, so that the
/// sum over instances stays within the company's limits at every instant. A lease is never taken
/// from the priority reserve for bulk work. Figures and the window state written back to the
/// store may lag by one lease; limits may not.
///
/// Implementations must be cheap to call concurrently (`Send + Sync`, internally synchronised).
#[async_trait]
pub trait BudgetLedger: Send + Sync {
    /// Ask to send one call. Atomic; see the trait docs.
    async fn reserve(&self, request: &CallRequest) -> Result<Grant, LedgerError>;

    /// Report how a granted call ended. Refunds per the trait docs; a daily rate limit marks the
    /// company exhausted until the next reset.
    async fn settle(&self, reservation: Reservation, outcome: Outcome) -> Result<(), LedgerError>;

    /// Feed the `x-ratelimit-*` headers of any response (including errors) for this token.
    async fn observe_headers(
        &self,
        company: CompanyId,
        user: UserId,
        headers: &RateHeaders,
    ) -> Result<(), LedgerError>;

    /// Set the company's daily token budget when it is known (from plan and seats, see
    /// [`daily_budget_for_plan`]); `None` means unknown, and the ledger learns a limit from the
    /// first daily rate limit it meets.
    async fn set_daily_limit(
        &self,
        company: CompanyId,
        tokens: Option<u64>,
    ) -> Result<(), LedgerError>;

    /// Where the company stands today, including when blocked work resumes.
    async fn status(&self, company: CompanyId) -> Result<BudgetStatus, LedgerError>;

    /// Keep a record of one call Pipedrive refused (401 or 429), beside the counts `settle`
    /// already makes, for support. A ledger with nowhere to keep it (in memory) drops it.
    async fn record_refusal(&self, _call: &crate::RefusedCall) -> Result<(), LedgerError> {
        Ok(())
    }
}

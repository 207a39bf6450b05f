//! Support-console sign-in attempts (and other refused requests), counted per key (an account, a
//! client address, a rejection) in the store, so every instance refuses the same guesser: with the
//! counts in memory, `n` instances would give an attacker `n` times the tries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StoreResult;

/// A key's failures in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureWindow {
    pub failures: u32,
    pub ends_at: DateTime<Utc>,
}

#[async_trait]
pub trait SignInFailures: Send + Sync + 'static {
    /// Reserves one attempt of `key` and returns the count including it, in one statement: callers
    /// reserve *before* the costly check and refuse over the limit, so attempts racing on any
    /// number of instances each count. A key whose window has ended (or that has none) starts a new
    /// window ending at `now + window`. Windows that ended are forgotten as a side effect (the keys
    /// hold emails and addresses, which are kept no longer than they are needed).
    async fn reserve_sign_in_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> StoreResult<FailureWindow>;

    /// The key's window if it has not ended by `now`.
    async fn sign_in_failures(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<FailureWindow>>;

    /// Forgets the key (a successful sign-in).
    async fn clear_sign_in_failures(&self, key: &str) -> StoreResult<()>;
}

/// A window from its stored columns (both backends store a count and the end in milliseconds).
pub fn failure_window_from_columns(failures: i64, ends_at_ms: i64) -> FailureWindow {
    FailureWindow {
        failures: u32::try_from(failures.max(0)).unwrap_or(u32::MAX),
        ends_at: crate::from_millis(ends_at_ms),
    }
}

//! Time source for ledgers. The default follows tokio's clock so tests with a paused runtime
//! (`tokio::time::pause`) move the ledger's windows and the client's sleeps together.

use chrono::{DateTime, Utc};

/// Wall-clock time as the ledger sees it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// UTC anchored once, then advanced by tokio's monotonic clock. Monotonic time keeps rolling
/// windows correct when the system clock is stepped; a paused tokio clock makes it testable.
#[derive(Debug, Clone)]
pub struct TokioClock {
    anchor_utc: DateTime<Utc>,
    anchor: tokio::time::Instant,
}

impl TokioClock {
    /// Anchor now. Must be called inside a tokio runtime when the clock is paused, so the anchor
    /// is taken from the paused clock.
    pub fn new() -> Self {
        Self::anchored_at(Utc::now())
    }

    /// Anchor at a chosen UTC time (tests start just before a daily reset this way).
    pub fn anchored_at(anchor_utc: DateTime<Utc>) -> Self {
        Self {
            anchor_utc,
            anchor: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.anchor);
        self.anchor_utc + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }
}

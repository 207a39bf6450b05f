//! The sandbox clock: real monotonic time plus an offset that tests advance, anchored at a fixed
//! epoch so timestamps are reproducible from run to run.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use chrono::{TimeZone, Utc};

/// 2026-01-05T09:00:00Z: a fixed start so ids and timestamps do not depend on the wall clock.
const EPOCH_MS: i64 = 1_767_603_600_000;

#[derive(Debug)]
pub struct Clock {
    started: Instant,
    offset_ms: AtomicI64,
    /// A frozen clock moves only when advanced: fully reproducible timestamps and windows.
    frozen: bool,
}

impl Clock {
    pub fn new(frozen: bool) -> Self {
        Self {
            started: Instant::now(),
            offset_ms: AtomicI64::new(0),
            frozen,
        }
    }

    /// Milliseconds since the Unix epoch, on the sandbox's time line.
    pub fn now_ms(&self) -> i64 {
        let real = if self.frozen {
            0
        } else {
            i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
        };
        EPOCH_MS + real + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves the clock forward; expiries, windows and daily resets follow.
    pub fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms.max(0), Ordering::Relaxed);
    }
}

/// RFC 3339 with seconds, as API v2 returns timestamps.
pub fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, as API v1 returns timestamps.
pub fn v1_time(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

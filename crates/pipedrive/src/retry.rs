//! Backoff for transient and rate-limited calls: exponential with full jitter, capped, and never
//! shorter than what the server asked for (`Retry-After` or `x-ratelimit-reset`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total tries including the first; 1 disables retries.
    pub max_attempts: u32,
    /// Upper bound of the first backoff; doubles each retry.
    pub base: Duration,
    /// Upper bound of any computed backoff (a server hint may exceed it).
    pub cap: Duration,
    /// Longest wait the client sleeps through inside one call. Anything longer (a daily budget
    /// that resets tonight, a long `Retry-After`) is handed back as [`crate::Error::Deferred`] so
    /// the job queue can park the job instead of holding a worker.
    pub max_inline_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(20),
            max_inline_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Upper bound of the jittered backoff before retry number `retry` (0 = first retry):
    /// `min(cap, base * 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Full jitter: uniform in `[0, ceiling(retry)]`, then raised to the server's hint if it
    /// asked for longer. Full jitter spreads instances that failed together so they do not
    /// retry together and burn the same burst window again.
    pub fn backoff(&self, retry: u32, hint: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(retry);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let jittered = Duration::from_millis(rng.gen_range(0..=millis));
        match hint {
            Some(hint) => jittered.max(hint),
            None => jittered,
        }
    }
}

/// The server's own wait hint: `Retry-After` (seconds or HTTP date), else `x-ratelimit-reset`
/// (seconds left in the 2-second burst window).
pub fn server_hint(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    if let Some(value) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) {
        if let Some(wait) = parse_retry_after(value, now) {
            return Some(wait);
        }
    }
    headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_seconds)
}

/// `Retry-After` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Some(wait) = parse_seconds(value) {
        return Some(wait);
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

fn parse_seconds(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1_000),
            max_inline_wait: Duration::from_secs(30),
        }
    }

    #[test]
    fn ceiling_doubles_then_caps() {
        let p = policy();
        let ceilings: Vec<u128> = (0..6).map(|r| p.ceiling(r).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(p.ceiling(200), Duration::from_millis(1_000), "no overflow");
    }

    #[test]
    fn backoff_stays_within_full_jitter_bounds_and_uses_the_range() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(7);
        for retry in 0..6 {
            let ceiling = p.ceiling(retry);
            let samples: Vec<Duration> = (0..2_000)
                .map(|_| p.backoff(retry, None, &mut rng))
                .collect();
            assert!(
                samples.iter().all(|d| *d <= ceiling),
                "retry {retry} exceeded {ceiling:?}"
            );
            let max = samples.iter().max().copied().unwrap_or_default();
            let min = samples.iter().min().copied().unwrap_or_default();
            // Full jitter means the whole range is used, not a fixed delay or a narrow band.
            assert!(max >= ceiling.mul_f64(0.9), "retry {retry}: max {max:?}");
            assert!(min <= ceiling.mul_f64(0.1), "retry {retry}: min {min:?}");
        }
    }

    #[test]
    fn server_hint_is_a_floor_even_above_the_cap() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let d = p.backoff(0, Some(Duration::from_secs(3)), &mut rng);
            assert_eq!(d, Duration::from_secs(3));
        }
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T19:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 29 Nov 2026 19:00:12 GMT", now),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            parse_retry_after("Sun, 29 Nov 2026 18:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn retry_after_wins_over_ratelimit_reset() {
        let now = Utc::now();
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset", "2".parse().unwrap());
        assert_eq!(server_hint(&headers, now), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, "9".parse().unwrap());
        assert_eq!(server_hint(&headers, now), Some(Duration::from_secs(9)));
    }
}

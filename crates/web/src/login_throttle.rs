//! Failed support-console sign-ins, counted per email and per client address in this process.
//! After too many failures within the window the key is refused until the window has passed, so a
//! password cannot be guessed faster than a few tries per quarter hour per account. Each instance
//! counts on its own: with `n` instances an attacker gets `n` times the tries, still far too few.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures of one account before it is refused for the rest of the window.
pub const PER_EMAIL: u32 = 5;
/// Failures from one address (across accounts); higher, since offices share an address.
pub const PER_ADDRESS: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Past this many keys, expired ones are dropped on the next failure (bounds the memory a flood
/// of made-up emails can take).
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    /// How long `key` stays refused, or `None` when it may try.
    pub fn refused_for(&self, key: &str, limit: u32) -> Option<Duration> {
        self.refused_for_at(key, limit, Instant::now())
    }

    pub fn record_failure(&self, key: &str) {
        self.record_failure_at(key, Instant::now());
    }

    /// A successful sign-in forgets the account's failures.
    pub fn clear(&self, key: &str) {
        self.lock().remove(key);
    }

    fn refused_for_at(&self, key: &str, limit: u32, now: Instant) -> Option<Duration> {
        let failures = *self.lock().get(key)?;
        let ends = failures.since + WINDOW;
        (failures.count >= limit && ends > now).then(|| ends - now)
    }

    fn record_failure_at(&self, key: &str, now: Instant) {
        let mut map = self.lock();
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, f| f.since + WINDOW > now);
        }
        let entry = map.entry(key.to_string()).or_insert(Failures {
            count: 0,
            since: now,
        });
        if entry.since + WINDOW <= now {
            *entry = Failures {
                count: 0,
                since: now,
            };
        }
        entry.count += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        // A panic while holding the lock cannot leave the map inconsistent (each update is one
        // assignment), so a poisoned lock is still usable.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_limit_until_the_window_ends() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.refused_for_at("a", 3, start), None);
            throttle.record_failure_at("a", start);
        }
        let wait = throttle.refused_for_at("a", 3, start + Duration::from_secs(60));
        assert_eq!(wait, Some(WINDOW - Duration::from_secs(60)));
        assert_eq!(throttle.refused_for_at("b", 3, start), None, "per key");
        assert_eq!(throttle.refused_for_at("a", 3, start + WINDOW), None);
    }

    #[test]
    fn a_new_window_starts_from_zero_and_success_clears() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for _ in 0..2 {
            throttle.record_failure_at("a", start);
        }
        throttle.record_failure_at("a", start + WINDOW);
        assert_eq!(throttle.refused_for_at("a", 2, start + WINDOW), None);
        throttle.record_failure_at("a", start + WINDOW);
        assert!(throttle.refused_for_at("a", 2, start + WINDOW).is_some());
        throttle.clear("a");
        assert_eq!(throttle.refused_for_at("a", 2, start + WINDOW), None);
    }
}

//! Failed support-console sign-ins, counted per email and per client address in the store, so all
//! instances refuse the same guesser. After too many failures within the window the key is refused
//! until the window has passed: a password cannot be guessed faster than a few tries per quarter
//! hour per account, however many instances run.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dealbridge_storage::{FailureWindow, Store, StoreResult};

/// Failures of one account before it is refused for the rest of the window.
pub const PER_EMAIL: u32 = 5;
/// Failures from one address (across accounts); higher, since offices share an address.
pub const PER_ADDRESS: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// How long `key` stays refused at `now`, or `None` when it may try.
pub async fn refused_for(
    store: &dyn Store,
    key: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> StoreResult<Option<Duration>> {
    let window = store.sign_in_failures(key, now).await?;
    Ok(window.and_then(|window| refusal(window, limit, now)))
}

pub async fn record_failure(store: &dyn Store, key: &str, now: DateTime<Utc>) -> StoreResult<()> {
    let window = chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::minutes(15));
    store
        .record_sign_in_failure(key, now, window)
        .await
        .map(drop)
}

/// A successful sign-in forgets the account's failures.
pub async fn clear(store: &dyn Store, key: &str) -> StoreResult<()> {
    store.clear_sign_in_failures(key).await
}

fn refusal(window: FailureWindow, limit: u32, now: DateTime<Utc>) -> Option<Duration> {
    (window.failures >= limit && window.ends_at > now)
        .then(|| (window.ends_at - now).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(failures: u32, ends_in_secs: i64, now: DateTime<Utc>) -> FailureWindow {
        FailureWindow {
            failures,
            ends_at: now + chrono::Duration::seconds(ends_in_secs),
        }
    }

    #[test]
    fn refuses_at_the_limit_until_the_window_ends() {
        let now = Utc::now();
        assert_eq!(
            refusal(window(2, 600, now), 3, now),
            None,
            "under the limit"
        );
        assert_eq!(
            refusal(window(3, 600, now), 3, now),
            Some(Duration::from_secs(600)),
            "at the limit: refused for the rest of the window"
        );
        assert_eq!(refusal(window(9, 0, now), 3, now), None, "window over");
    }
}

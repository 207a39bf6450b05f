//! The support console's sign-in throttle. Every attempt is *reserved* in the store before the
//! password is verified (one statement that counts it and returns the count), and refused when the
//! count is over a limit, so parallel guesses cannot slip between a check and a later record: at
//! most the limit's number of attempts is ever verified per window, across every instance.
//!
//! Two counters, checked in this order (a refusal stops there, so a refused attempt costs the
//! account's counter nothing):
//! - per client network (IPv6 /64): [`PER_ADDRESS`] attempts per [`WINDOW`], across accounts;
//! - per account *from that network*: [`PER_ACCOUNT_FROM_ADDRESS`] per [`WINDOW`].
//!
//! The per-account limit slows a guesser down without locking the owner out: it is kept per
//! network, so a guesser exhausts only their own network's tries, and the owner, signing in from an
//! address with no failures, is not refused. A guesser spread over many networks gets
//! [`PER_ACCOUNT_FROM_ADDRESS`] tries per network and window, against Argon2 hashes of passwords
//! of at least 12 characters. A global per-account limit would hand every guesser a way to lock
//! the owner out, which is the attack this design refuses.
//!
//! A successful sign-in clears both counters, so staff signing in normally never meet the limits.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dealbridge_storage::{Store, StoreResult};

pub const PER_ADDRESS: u32 = 20;
pub const PER_ACCOUNT_FROM_ADDRESS: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The counters one attempt is reserved against.
pub struct AttemptKeys {
    address: String,
    account_from_address: String,
}

impl AttemptKeys {
    /// `email` normalised (or empty when unusable), `network` from `client_network`.
    pub fn new(email: &str, network: &str) -> Self {
        Self {
            address: format!("address:{network}"),
            account_from_address: format!("account:{email}|{network}"),
        }
    }

    fn limits(&self) -> [(&str, u32); 2] {
        [
            (&self.address, PER_ADDRESS),
            (&self.account_from_address, PER_ACCOUNT_FROM_ADDRESS),
        ]
    }
}

/// Reserves the attempt. `Some(wait)` means refused: do not verify, answer 429.
pub async fn reserve(
    store: &dyn Store,
    keys: &AttemptKeys,
    now: DateTime<Utc>,
) -> StoreResult<Option<Duration>> {
    let window = chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::minutes(15));
    for (key, limit) in keys.limits() {
        let counted = store.reserve_sign_in_attempt(key, now, window).await?;
        if counted.failures > limit {
            return Ok(Some((counted.ends_at - now).to_std().unwrap_or_default()));
        }
    }
    Ok(None)
}

/// A successful sign-in forgets the account's attempts and its network's.
pub async fn clear(store: &dyn Store, keys: &AttemptKeys) -> StoreResult<()> {
    for (key, _) in keys.limits() {
        store.clear_sign_in_failures(key).await?;
    }
    Ok(())
}

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::{ensure_eq, Check, CheckFuture};
use crate::Store;

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "sign_in_failures::count_within_a_window_per_key",
        count_within_a_window_per_key,
    ),
    (
        "sign_in_failures::ended_windows_start_over_and_are_forgotten",
        ended_windows_start_over_and_are_forgotten,
    ),
];

/// Whole milliseconds, as stored.
fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_default()
}

fn count_within_a_window_per_key(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (t0, window) = (t0(), TimeDelta::minutes(15));
        ensure_eq!(
            store.sign_in_failures("email:a", t0).await?,
            None,
            "none yet"
        );
        for n in 1..=3u32 {
            let at = t0 + TimeDelta::seconds(i64::from(n));
            let counted = store.reserve_sign_in_attempt("email:a", at, window).await?;
            ensure_eq!(counted.failures, n, "failure {n}");
            ensure_eq!(
                counted.ends_at,
                t0 + TimeDelta::seconds(1) + window,
                "window end"
            );
        }
        let seen = store
            .sign_in_failures("email:a", t0 + TimeDelta::minutes(5))
            .await?;
        ensure_eq!(seen.map(|w| w.failures), Some(3), "read back");
        ensure_eq!(
            store.sign_in_failures("address:1.2.3.4", t0).await?,
            None,
            "other keys untouched"
        );
        store.clear_sign_in_failures("email:a").await?;
        ensure_eq!(
            store.sign_in_failures("email:a", t0).await?,
            None,
            "cleared"
        );
        Ok(())
    })
}

fn ended_windows_start_over_and_are_forgotten(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let (t0, window) = (t0(), TimeDelta::minutes(15));
        for _ in 0..4 {
            store.reserve_sign_in_attempt("email:b", t0, window).await?;
        }
        store.reserve_sign_in_attempt("email:c", t0, window).await?;
        let later = t0 + window;
        ensure_eq!(
            store.sign_in_failures("email:b", later).await?,
            None,
            "a window is over at its end"
        );
        let fresh = store
            .reserve_sign_in_attempt("email:b", later, window)
            .await?;
        ensure_eq!(fresh.failures, 1, "a new window starts from one");
        ensure_eq!(fresh.ends_at, later + window, "new window end");
        // c's window ended too: the failure recorded for b deleted it.
        ensure_eq!(
            store.sign_in_failures("email:c", t0).await?,
            None,
            "ended windows are forgotten"
        );
        Ok(())
    })
}

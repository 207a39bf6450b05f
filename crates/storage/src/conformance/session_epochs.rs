//! Session epochs: start at 0, each bump counts (racing ones too), subjects are apart.

use std::sync::Arc;

use super::{ensure_eq, Check, CheckFuture};
use crate::Store;

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "session_epochs::bumps_count_per_subject",
        bumps_count_per_subject,
    ),
    (
        "session_epochs::racing_bumps_each_count",
        racing_bumps_each_count,
    ),
];

fn bumps_count_per_subject(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        ensure_eq!(store.session_epoch("staff:1").await?, 0, "never bumped");
        ensure_eq!(store.bump_session_epoch("staff:1").await?, 1, "first bump");
        ensure_eq!(store.bump_session_epoch("staff:1").await?, 2, "second bump");
        ensure_eq!(store.session_epoch("staff:1").await?, 2, "read back");
        ensure_eq!(store.session_epoch("staff:2").await?, 0, "other subject");
        Ok(())
    })
}

fn racing_bumps_each_count(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let bumps = (0..8).map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.bump_session_epoch("installation:t:1").await })
        });
        let mut seen = Vec::new();
        for bump in futures::future::join_all(bumps).await {
            seen.push(bump??);
        }
        seen.sort_unstable();
        ensure_eq!(
            seen,
            (1..=8).collect::<Vec<i64>>(),
            "every bump got its own epoch"
        );
        ensure_eq!(store.session_epoch("installation:t:1").await?, 8, "final");
        Ok(())
    })
}

use std::sync::Arc;

use chrono::{Duration, Utc};

use super::{ensure_eq, Check, CheckFuture};
use crate::Store;

pub(super) const CHECKS: &[(&str, Check)] = &[
    ("nonces::first_use_only", first_use_only),
    (
        "nonces::racing_consumers_have_one_winner",
        racing_consumers_have_one_winner,
    ),
];

fn first_use_only(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let later = Utc::now() + Duration::minutes(10);
        ensure_eq!(
            store.consume_nonce("oauth_state", "n1", later).await?,
            true,
            "first use"
        );
        ensure_eq!(
            store.consume_nonce("oauth_state", "n1", later).await?,
            false,
            "replay"
        );
        ensure_eq!(
            store.consume_nonce("other", "n1", later).await?,
            true,
            "purposes are apart"
        );
        Ok(())
    })
}

fn racing_consumers_have_one_winner(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let later = Utc::now() + Duration::minutes(10);
        let attempts = (0..8).map(|_| {
            let store = store.clone();
            async move { store.consume_nonce("oauth_state", "race", later).await }
        });
        let mut winners = 0;
        for result in futures::future::join_all(attempts).await {
            winners += usize::from(result?);
        }
        ensure_eq!(winners, 1, "concurrent uses of one nonce that succeeded");
        Ok(())
    })
}

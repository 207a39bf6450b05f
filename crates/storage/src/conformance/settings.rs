use std::sync::Arc;

use serde_json::json;

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{Store, StoreError};

pub(super) const CHECKS: &[(&str, Check)] = &[
    ("settings::versions_advance", versions_advance),
    ("settings::stale_saves_conflict", stale_saves_conflict),
    (
        "settings::racing_saves_have_one_winner",
        racing_saves_have_one_winner,
    ),
    ("settings::scoped_by_tenant", scoped_by_tenant),
];

fn versions_advance(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 1).await?;
        anyhow::ensure!(
            store.settings(tenant.id).await?.is_none(),
            "settings before save"
        );
        let first = store
            .save_settings(tenant.id, None, &json!({"a": 1}), Some("u1"))
            .await?;
        ensure_eq!(first.version, 1, "first version");
        let second = store
            .save_settings(tenant.id, Some(1), &json!({"a": 2}), None)
            .await?;
        ensure_eq!(second.version, 2, "second version");
        let current = store.settings(tenant.id).await?;
        ensure_eq!(
            current.as_ref().map(|s| &s.body),
            Some(&json!({"a": 2})),
            "latest body"
        );
        ensure_eq!(
            current.and_then(|s| s.saved_by),
            None,
            "saved_by of the latest"
        );
        let history = store.settings_history(tenant.id, 10).await?;
        let versions: Vec<i64> = history.iter().map(|s| s.version).collect();
        ensure_eq!(versions, vec![2, 1], "history newest first");
        ensure_eq!(history[1].saved_by.as_deref(), Some("u1"), "saved_by kept");
        ensure_eq!(
            store.settings_history(tenant.id, 1).await?.len(),
            1,
            "history limit"
        );
        Ok(())
    })
}

fn stale_saves_conflict(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 2).await?;
        store
            .save_settings(tenant.id, None, &json!({}), None)
            .await?;
        store
            .save_settings(tenant.id, Some(1), &json!({"x": true}), None)
            .await?;
        for based_on in [None, Some(1), Some(7)] {
            match store
                .save_settings(tenant.id, based_on, &json!({"lost": 1}), None)
                .await
            {
                Err(StoreError::Conflict(_)) => {}
                other => {
                    anyhow::bail!("save based on {based_on:?}: expected Conflict, got {other:?}")
                }
            }
        }
        let current = store.settings(tenant.id).await?;
        ensure_eq!(
            current.map(|s| s.body),
            Some(json!({"x": true})),
            "nothing overwritten"
        );
        Ok(())
    })
}

fn racing_saves_have_one_winner(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 3).await?;
        store
            .save_settings(tenant.id, None, &json!({}), None)
            .await?;
        let saves = (0..6).map(|n| {
            let store = store.clone();
            async move {
                store
                    .save_settings(tenant.id, Some(1), &json!({ "n": n }), None)
                    .await
            }
        });
        let results = futures::future::join_all(saves).await;
        let winners = results.iter().filter(|r| r.is_ok()).count();
        ensure_eq!(winners, 1, "saves based on the same version that succeeded");
        for result in results.into_iter().filter_map(Result::err) {
            anyhow::ensure!(
                matches!(result, StoreError::Conflict(_)),
                "a losing save failed with {result:?} instead of Conflict"
            );
        }
        ensure_eq!(
            store.settings(tenant.id).await?.map(|s| s.version),
            Some(2),
            "version"
        );
        Ok(())
    })
}

fn scoped_by_tenant(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 4).await?;
        let b = fixtures::tenant(store.as_ref(), 5).await?;
        store
            .save_settings(a.id, None, &json!({"owner": "a"}), None)
            .await?;
        anyhow::ensure!(store.settings(b.id).await?.is_none(), "B sees A's settings");
        let b_first = store
            .save_settings(b.id, None, &json!({"owner": "b"}), None)
            .await?;
        ensure_eq!(b_first.version, 1, "versions count per tenant");
        ensure_eq!(
            store.settings_history(a.id, 10).await?.len(),
            1,
            "A's history"
        );
        Ok(())
    })
}

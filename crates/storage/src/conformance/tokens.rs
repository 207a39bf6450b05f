use std::sync::Arc;

use chrono::{Duration, Utc};
use dealbridge_core::installation::{InstallationStatus, SealedTokens};
use dealbridge_core::{CompanyId, TenantId, UserId};

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{Store, StoreError};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "tokens::lease_acquire_deny_expire_release",
        lease_acquire_deny_expire_release,
    ),
    (
        "tokens::lease_only_on_active_installations_with_tokens",
        lease_only_on_active_installations_with_tokens,
    ),
    (
        "tokens::refreshed_tokens_need_the_lease",
        refreshed_tokens_need_the_lease,
    ),
    (
        "tokens::reinstall_ends_a_running_refresh",
        reinstall_ends_a_running_refresh,
    ),
    (
        "tokens::needs_reauth_needs_the_lease",
        needs_reauth_needs_the_lease,
    ),
    ("tokens::idle_listing", idle_listing),
    (
        "tokens::rotation_batch_selection_and_conditional_update",
        rotation_batch_selection_and_conditional_update,
    ),
];

async fn tokens_of(
    store: &dyn Store,
    tenant: TenantId,
    user: i64,
) -> anyhow::Result<Option<SealedTokens>> {
    Ok(store
        .installation(tenant, UserId::new(user))
        .await?
        .ok_or_else(|| anyhow::anyhow!("installation {user} not found"))?
        .tokens)
}

fn lease_acquire_deny_expire_release(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 40).await?;
        let b = fixtures::tenant(store.as_ref(), 41).await?;
        store
            .upsert_installation(a.id, &fixtures::installation(1, 1))
            .await?;
        let user = UserId::new(1);
        let now = Utc::now();
        let until = now + Duration::seconds(60);

        anyhow::ensure!(
            store
                .acquire_refresh_lease(a.id, user, "p1", now, until)
                .await?,
            "free lease not granted"
        );
        anyhow::ensure!(
            !store
                .acquire_refresh_lease(a.id, user, "p2", now, until)
                .await?,
            "held lease granted to another holder"
        );
        anyhow::ensure!(
            store
                .acquire_refresh_lease(a.id, user, "p1", now, until + Duration::seconds(5))
                .await?,
            "holder could not extend its own lease"
        );
        anyhow::ensure!(
            !store
                .acquire_refresh_lease(b.id, user, "p3", now, until)
                .await?,
            "lease granted through another tenant's id"
        );
        anyhow::ensure!(
            !store.release_refresh_lease(a.id, user, "p2").await?,
            "a non-holder released the lease"
        );
        anyhow::ensure!(
            !store.release_refresh_lease(b.id, user, "p1").await?,
            "released through another tenant's id"
        );
        anyhow::ensure!(
            !store
                .acquire_refresh_lease(a.id, user, "p2", until, until + Duration::seconds(60))
                .await?,
            "lease taken over before it ended"
        );
        let later = until + Duration::seconds(6);
        anyhow::ensure!(
            store
                .acquire_refresh_lease(a.id, user, "p2", later, later + Duration::seconds(60))
                .await?,
            "ended lease not taken over"
        );
        anyhow::ensure!(
            !store.release_refresh_lease(a.id, user, "p1").await?,
            "the previous holder released the new holder's lease"
        );
        anyhow::ensure!(
            store.release_refresh_lease(a.id, user, "p2").await?,
            "holder could not release"
        );
        anyhow::ensure!(
            store
                .acquire_refresh_lease(a.id, user, "p1", now, until)
                .await?,
            "released lease not granted"
        );
        Ok(())
    })
}

fn lease_only_on_active_installations_with_tokens(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 42).await?;
        let now = Utc::now();
        let until = now + Duration::seconds(60);
        anyhow::ensure!(
            !store
                .acquire_refresh_lease(a.id, UserId::new(9), "p1", now, until)
                .await?,
            "lease on a missing installation"
        );
        store
            .upsert_installation(a.id, &fixtures::installation(1, 1))
            .await?;
        store
            .set_installation_status(a.id, UserId::new(1), InstallationStatus::NeedsReauth)
            .await?;
        anyhow::ensure!(
            !store
                .acquire_refresh_lease(a.id, UserId::new(1), "p1", now, until)
                .await?,
            "lease on an installation that needs re-authorisation"
        );
        store
            .upsert_installation(a.id, &fixtures::installation(2, 2))
            .await?;
        store.destroy_tokens(a.id).await?;
        anyhow::ensure!(
            !store
                .acquire_refresh_lease(a.id, UserId::new(2), "p1", now, until)
                .await?,
            "lease on an installation without tokens"
        );
        Ok(())
    })
}

fn refreshed_tokens_need_the_lease(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 43).await?;
        let b = fixtures::tenant(store.as_ref(), 44).await?;
        store
            .upsert_installation(a.id, &fixtures::installation(1, 1))
            .await?;
        let user = UserId::new(1);
        let now = Utc::now();
        let fresh = fixtures::tokens(7);

        match store
            .store_refreshed_tokens(a.id, user, "p1", &fresh, now)
            .await
        {
            Err(StoreError::Conflict(_)) => {}
            other => anyhow::bail!("write without the lease: expected Conflict, got {other:?}"),
        }
        ensure_eq!(
            tokens_of(store.as_ref(), a.id, 1).await?,
            Some(fixtures::tokens(1)),
            "tokens unchanged after a refused write"
        );

        anyhow::ensure!(
            store
                .acquire_refresh_lease(a.id, user, "p1", now, now + Duration::seconds(60))
                .await?,
            "lease not granted"
        );
        match store
            .store_refreshed_tokens(b.id, user, "p1", &fresh, now)
            .await
        {
            Err(StoreError::Conflict(_)) => {}
            other => {
                anyhow::bail!("write through another tenant: expected Conflict, got {other:?}")
            }
        }
        store
            .store_refreshed_tokens(a.id, user, "p1", &fresh, now)
            .await?;
        ensure_eq!(
            tokens_of(store.as_ref(), a.id, 1).await?,
            Some(fresh.clone()),
            "refreshed tokens stored"
        );
        anyhow::ensure!(
            store
                .acquire_refresh_lease(a.id, user, "p2", now, now + Duration::seconds(60))
                .await?,
            "storing the tokens did not release the lease"
        );
        match store
            .store_refreshed_tokens(a.id, user, "p1", &fixtures::tokens(8), now)
            .await
        {
            Err(StoreError::Conflict(_)) => {}
            other => {
                anyhow::bail!("write after the lease moved on: expected Conflict, got {other:?}")
            }
        }
        ensure_eq!(
            tokens_of(store.as_ref(), a.id, 1).await?,
            Some(fresh),
            "a former holder overwrote the tokens"
        );
        Ok(())
    })
}

fn reinstall_ends_a_running_refresh(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 45).await?;
        store
            .upsert_installation(a.id, &fixtures::installation(1, 1))
            .await?;
        let user = UserId::new(1);
        let now = Utc::now();
        anyhow::ensure!(
            store
                .acquire_refresh_lease(a.id, user, "p1", now, now + Duration::seconds(60))
                .await?,
            "lease not granted"
        );
        store
            .upsert_installation(a.id, &fixtures::installation(1, 2))
            .await?;
        match store
            .store_refreshed_tokens(a.id, user, "p1", &fixtures::tokens(9), now)
            .await
        {
            Err(StoreError::Conflict(_)) => {}
            other => {
                anyhow::bail!("refresh overwrote a reinstall: expected Conflict, got {other:?}")
            }
        }
        ensure_eq!(
            tokens_of(store.as_ref(), a.id, 1).await?,
            Some(fixtures::tokens(2)),
            "the reinstall's tokens"
        );

        // Uninstalled meanwhile: the refresh must not bring tokens back.
        anyhow::ensure!(
            store
                .acquire_refresh_lease(a.id, user, "p1", now, now + Duration::seconds(60))
                .await?,
            "lease not granted after the reinstall"
        );
        store
            .set_installation_status(a.id, user, InstallationStatus::Uninstalled)
            .await?;
        store.destroy_tokens(a.id).await?;
        match store
            .store_refreshed_tokens(a.id, user, "p1", &fixtures::tokens(9), now)
            .await
        {
            Err(StoreError::Conflict(_)) => {}
            other => {
                anyhow::bail!("refresh revived an uninstall: expected Conflict, got {other:?}")
            }
        }
        ensure_eq!(
            tokens_of(store.as_ref(), a.id, 1).await?,
            None,
            "no tokens after uninstall"
        );
        Ok(())
    })
}

fn needs_reauth_needs_the_lease(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 46).await?;
        let b = fixtures::tenant(store.as_ref(), 47).await?;
        store
            .upsert_installation(a.id, &fixtures::installation(1, 1))
            .await?;
        let user = UserId::new(1);
        let now = Utc::now();
        match store.mark_needs_reauth(a.id, user, "p1").await {
            Err(StoreError::Conflict(_)) => {}
            other => anyhow::bail!("mark without the lease: expected Conflict, got {other:?}"),
        }
        anyhow::ensure!(
            store
                .acquire_refresh_lease(a.id, user, "p1", now, now + Duration::seconds(60))
                .await?,
            "lease not granted"
        );
        match store.mark_needs_reauth(b.id, user, "p1").await {
            Err(StoreError::Conflict(_)) => {}
            other => anyhow::bail!("mark through another tenant: expected Conflict, got {other:?}"),
        }
        store.mark_needs_reauth(a.id, user, "p1").await?;
        let installation = store
            .installation(a.id, user)
            .await?
            .ok_or_else(|| anyhow::anyhow!("installation gone"))?;
        ensure_eq!(
            installation.status,
            InstallationStatus::NeedsReauth,
            "status"
        );
        ensure_eq!(
            installation.tokens,
            Some(fixtures::tokens(1)),
            "tokens kept for inspection"
        );
        anyhow::ensure!(
            !store.release_refresh_lease(a.id, user, "p1").await?,
            "marking did not release the lease"
        );
        Ok(())
    })
}

fn idle_listing(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 48).await?;
        let b = fixtures::tenant(store.as_ref(), 49).await?;
        let now = Utc::now();
        let long_ago = now - Duration::days(40);
        let cutoff = now - Duration::days(30);
        // Tokens last written 40 days ago: A/1, A/2, B/1, and A/3 that now needs re-authorisation.
        for (tenant, user) in [(a.id, 1), (a.id, 2), (a.id, 3), (b.id, 1), (b.id, 2)] {
            store
                .upsert_installation(tenant, &fixtures::installation(user, 1))
                .await?;
        }
        for (tenant, user) in [(a.id, 1), (a.id, 2), (a.id, 3), (b.id, 1)] {
            let uid = UserId::new(user);
            anyhow::ensure!(
                store
                    .acquire_refresh_lease(tenant, uid, "p", now, now + Duration::seconds(60))
                    .await?,
                "lease"
            );
            store
                .store_refreshed_tokens(tenant, uid, "p", &fixtures::tokens(2), long_ago)
                .await?;
        }
        store
            .set_installation_status(a.id, UserId::new(3), InstallationStatus::NeedsReauth)
            .await?;

        let all = store.idle_installations(cutoff, None, 100).await?;
        let keys: Vec<(TenantId, i64)> =
            all.iter().map(|i| (i.tenant_id, i.user_id.get())).collect();
        ensure_eq!(
            keys,
            vec![(a.id, 1), (a.id, 2), (b.id, 1)],
            "idle, active installations in key order"
        );
        for idle in &all {
            anyhow::ensure!(
                (idle.tokens_updated_at - long_ago).num_seconds().abs() <= 1,
                "tokens_updated_at {} is not the refresh time {long_ago}",
                idle.tokens_updated_at
            );
        }

        let first = store.idle_installations(cutoff, None, 2).await?;
        ensure_eq!(first.len(), 2, "first page");
        let last = &first[1];
        let rest = store
            .idle_installations(cutoff, Some((last.tenant_id, last.user_id)), 2)
            .await?;
        ensure_eq!(
            rest.iter()
                .map(|i| (i.tenant_id, i.user_id.get()))
                .collect::<Vec<_>>(),
            vec![(b.id, 1)],
            "second page starts after the cursor"
        );
        ensure_eq!(
            store
                .idle_installations(long_ago - Duration::days(1), None, 100)
                .await?
                .len(),
            0,
            "nothing written before the earliest refresh"
        );
        Ok(())
    })
}

fn rotation_batch_selection_and_conditional_update(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 50).await?;
        let b = fixtures::tenant(store.as_ref(), 51).await?;
        // fixtures::tokens(seed) is sealed under key id "k{seed}".
        store
            .upsert_installation(a.id, &fixtures::installation(1, 1))
            .await?;
        store
            .upsert_installation(a.id, &fixtures::installation(2, 2))
            .await?;
        store
            .upsert_installation(b.id, &fixtures::installation(1, 3))
            .await?;
        store
            .upsert_installation(b.id, &fixtures::installation(2, 1))
            .await?;
        store
            .upsert_installation(b.id, &fixtures::installation(3, 1))
            .await?;
        store.destroy_tokens(b.id).await?;
        store
            .upsert_installation(b.id, &fixtures::installation(1, 3))
            .await?;

        ensure_eq!(store.count_tokens_not_under_key("k2").await?, 2, "count");
        let stale = store.tokens_not_under_key("k2", None, 10).await?;
        ensure_eq!(
            stale
                .iter()
                .map(|s| (
                    s.tenant_id,
                    s.company_id,
                    s.user_id.get(),
                    s.tokens.key_id.clone()
                ))
                .collect::<Vec<_>>(),
            vec![
                (a.id, CompanyId::new(50), 1, "k1".to_string()),
                (b.id, CompanyId::new(51), 1, "k3".to_string()),
            ],
            "rows not under the active key, with their company, in key order"
        );
        ensure_eq!(stale[0].tokens, fixtures::tokens(1), "ciphertexts");
        let page = store
            .tokens_not_under_key("k2", Some((a.id, UserId::new(1))), 10)
            .await?;
        ensure_eq!(page.len(), 1, "after the cursor");
        ensure_eq!(page[0].tenant_id, b.id, "after the cursor");
        ensure_eq!(
            store.tokens_not_under_key("k2", None, 1).await?.len(),
            1,
            "limit"
        );

        let mut rotated = fixtures::tokens(1);
        rotated.key_id = "k2".into();
        rotated.access_token.push(42);
        rotated.refresh_token.push(42);
        anyhow::ensure!(
            !store
                .replace_token_ciphertexts(b.id, UserId::new(1), &fixtures::tokens(1), &rotated)
                .await?,
            "replaced through another tenant's id"
        );
        let mut changed = fixtures::tokens(1);
        changed.refresh_token[0] ^= 1;
        anyhow::ensure!(
            !store
                .replace_token_ciphertexts(a.id, UserId::new(1), &changed, &rotated)
                .await?,
            "replaced although the row no longer held the ciphertext read"
        );
        anyhow::ensure!(
            store
                .replace_token_ciphertexts(a.id, UserId::new(1), &fixtures::tokens(1), &rotated)
                .await?,
            "conditional update refused"
        );
        anyhow::ensure!(
            !store
                .replace_token_ciphertexts(a.id, UserId::new(1), &fixtures::tokens(1), &rotated)
                .await?,
            "replaced twice"
        );
        let stored = tokens_of(store.as_ref(), a.id, 1)
            .await?
            .ok_or_else(|| anyhow::anyhow!("tokens gone"))?;
        ensure_eq!(
            stored.access_token,
            rotated.access_token,
            "access ciphertext"
        );
        ensure_eq!(
            stored.refresh_token,
            rotated.refresh_token,
            "refresh ciphertext"
        );
        ensure_eq!(stored.key_id, "k2".to_string(), "key id");
        ensure_eq!(
            stored.access_expires_at,
            fixtures::tokens(1).access_expires_at,
            "expiry untouched"
        );
        ensure_eq!(
            store.count_tokens_not_under_key("k2").await?,
            1,
            "count after"
        );
        Ok(())
    })
}

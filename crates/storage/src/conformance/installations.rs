use std::sync::Arc;

use dealbridge_core::installation::{InstallationStatus, NewInstallation};
use dealbridge_core::{TenantId, UserId};

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{Store, StoreError};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "installations::round_trip_keeps_ciphertext",
        round_trip_keeps_ciphertext,
    ),
    (
        "installations::upsert_replaces_tokens",
        upsert_replaces_tokens,
    ),
    ("installations::scoped_by_tenant", scoped_by_tenant),
    (
        "installations::unknown_tenant_is_refused",
        unknown_tenant_is_refused,
    ),
    (
        "installations::status_and_token_destruction",
        status_and_token_destruction,
    ),
];

fn round_trip_keeps_ciphertext(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 10).await?;
        let new = fixtures::installation(100, 3);
        let saved = store.upsert_installation(tenant.id, &new).await?;
        let loaded = store
            .installation(tenant.id, UserId::new(100))
            .await?
            .ok_or_else(|| anyhow::anyhow!("installation not found"))?;
        ensure_eq!(loaded, saved, "loaded equals saved");
        ensure_eq!(
            loaded.tokens.as_ref(),
            Some(&new.tokens),
            "ciphertext bytes intact"
        );
        ensure_eq!(loaded.scopes, new.scopes, "scopes");
        ensure_eq!(loaded.api_domain, new.api_domain, "api domain");
        ensure_eq!(loaded.status, InstallationStatus::Active, "status");
        Ok(())
    })
}

fn upsert_replaces_tokens(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 11).await?;
        store
            .upsert_installation(tenant.id, &fixtures::installation(1, 1))
            .await?;
        store
            .set_installation_status(tenant.id, UserId::new(1), InstallationStatus::NeedsReauth)
            .await?;
        let replacement = NewInstallation {
            scopes: vec!["base".into()],
            ..fixtures::installation(1, 2)
        };
        store.upsert_installation(tenant.id, &replacement).await?;
        let all = store.installations(tenant.id).await?;
        ensure_eq!(all.len(), 1, "one installation per user");
        ensure_eq!(
            all[0].tokens.as_ref(),
            Some(&replacement.tokens),
            "new tokens"
        );
        ensure_eq!(all[0].scopes, vec!["base".to_string()], "new scopes");
        ensure_eq!(
            all[0].status,
            InstallationStatus::Active,
            "reinstall reactivates"
        );
        Ok(())
    })
}

fn scoped_by_tenant(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let a = fixtures::tenant(store.as_ref(), 20).await?;
        let b = fixtures::tenant(store.as_ref(), 21).await?;
        store
            .upsert_installation(a.id, &fixtures::installation(7, 1))
            .await?;
        store
            .upsert_installation(b.id, &fixtures::installation(8, 2))
            .await?;
        anyhow::ensure!(
            store.installation(b.id, UserId::new(7)).await?.is_none(),
            "tenant B sees tenant A's installation"
        );
        ensure_eq!(store.installations(a.id).await?.len(), 1, "tenant A list");
        ensure_eq!(
            store.installations(b.id).await?[0].user_id,
            UserId::new(8),
            "tenant B list holds only its own"
        );
        match store
            .set_installation_status(b.id, UserId::new(7), InstallationStatus::Uninstalled)
            .await
        {
            Err(StoreError::NotFound(_)) => {}
            other => anyhow::bail!("cross-tenant status change: expected NotFound, got {other:?}"),
        }
        ensure_eq!(
            store.destroy_tokens(b.id).await?,
            1,
            "destroy counts only own rows"
        );
        anyhow::ensure!(
            store
                .installation(a.id, UserId::new(7))
                .await?
                .and_then(|i| i.tokens)
                .is_some(),
            "destroying B's tokens touched A"
        );
        Ok(())
    })
}

fn unknown_tenant_is_refused(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let result = store
            .upsert_installation(TenantId::new(), &fixtures::installation(1, 1))
            .await;
        anyhow::ensure!(result.is_err(), "installation without tenant was stored");
        Ok(())
    })
}

fn status_and_token_destruction(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 30).await?;
        store
            .upsert_installation(tenant.id, &fixtures::installation(1, 1))
            .await?;
        store
            .upsert_installation(tenant.id, &fixtures::installation(2, 2))
            .await?;
        store
            .set_installation_status(tenant.id, UserId::new(2), InstallationStatus::NeedsReauth)
            .await?;
        let two = store.installation(tenant.id, UserId::new(2)).await?;
        ensure_eq!(
            two.map(|i| i.status),
            Some(InstallationStatus::NeedsReauth),
            "status"
        );

        ensure_eq!(store.destroy_tokens(tenant.id).await?, 2, "destroyed");
        ensure_eq!(
            store.destroy_tokens(tenant.id).await?,
            0,
            "nothing left to destroy"
        );
        for installation in store.installations(tenant.id).await? {
            anyhow::ensure!(installation.tokens.is_none(), "tokens survived destruction");
        }
        Ok(())
    })
}

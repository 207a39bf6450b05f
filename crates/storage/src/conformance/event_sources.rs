use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use dealbridge_core::tenant::TenantStatus;
use dealbridge_core::TenantId;
use uuid::Uuid;

use super::{ensure_eq, fixtures, Check, CheckFuture};
use crate::{ConnectionState, NewEventApiSecret, NewStoreConnection, Store, StoreError, StoreKind};

pub(super) const CHECKS: &[(&str, Check)] = &[
    (
        "event_api_secrets::a_rotation_keeps_the_old_secret_for_its_grace_period",
        a_rotation_keeps_the_old_secret_for_its_grace_period,
    ),
    (
        "event_api_secrets::revoked_secrets_stop_at_once_and_stay_per_tenant",
        revoked_secrets_stop_at_once_and_stay_per_tenant,
    ),
    (
        "store_connections::connections_are_found_by_kind_and_path_per_tenant",
        connections_are_found_by_kind_and_path_per_tenant,
    ),
    (
        "store_connections::state_webhooks_and_disconnect",
        state_webhooks_and_disconnect,
    ),
    (
        "event_sources::a_purged_tenant_takes_its_secrets_and_stores_along",
        a_purged_tenant_takes_its_secrets_and_stores_along,
    ),
];

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000 + seconds, 0).unwrap_or_default()
}

fn secret(tenant_id: TenantId, created: i64, seed: u8) -> NewEventApiSecret {
    NewEventApiSecret {
        tenant_id,
        id: Uuid::now_v7(),
        secret: vec![seed; 12],
        created_at: at(created),
    }
}

fn ids(secrets: &[crate::EventApiSecret]) -> Vec<Uuid> {
    secrets.iter().map(|s| s.id).collect()
}

fn a_rotation_keeps_the_old_secret_for_its_grace_period(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 401).await?.id;
        let first = store
            .add_event_api_secret(&secret(tenant, 0, 1), None)
            .await?;
        ensure_eq!(first.secret, vec![1; 12], "sealed bytes kept as given");
        let second = store
            .add_event_api_secret(&secret(tenant, 10, 2), None)
            .await?;
        let both = store.active_event_api_secrets(tenant, at(20)).await?;
        ensure_eq!(
            ids(&both),
            vec![second.id, first.id],
            "two active, newest first"
        );

        // Rotating at 30 with a grace period until 100: both verify until then.
        let third = store
            .add_event_api_secret(&secret(tenant, 30, 3), Some(at(100)))
            .await?;
        let during = store.active_event_api_secrets(tenant, at(99)).await?;
        ensure_eq!(
            ids(&during),
            vec![third.id, second.id, first.id],
            "grace period"
        );
        let after = store.active_event_api_secrets(tenant, at(100)).await?;
        ensure_eq!(ids(&after), vec![third.id], "after the grace period");
        let listed = store.event_api_secrets(tenant).await?;
        ensure_eq!(listed.len(), 3, "expired secrets are still listed");
        let old = listed.iter().find(|s| s.id == first.id);
        ensure_eq!(
            old.and_then(|s| s.expires_at),
            Some(at(100)),
            "the expiry is recorded"
        );
        ensure_eq!(
            listed
                .iter()
                .find(|s| s.id == third.id)
                .map(|s| s.expires_at),
            Some(None),
            "the new secret does not expire"
        );
        Ok(())
    })
}

fn revoked_secrets_stop_at_once_and_stay_per_tenant(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 402).await?.id;
        let other = fixtures::tenant(store.as_ref(), 403).await?.id;
        let mine = store
            .add_event_api_secret(&secret(tenant, 0, 4), None)
            .await?;
        let theirs = store
            .add_event_api_secret(&secret(other, 0, 5), None)
            .await?;
        match store
            .revoke_event_api_secret(tenant, theirs.id, at(5))
            .await
        {
            Err(StoreError::NotFound(_)) => {}
            other => anyhow::bail!("revoked another tenant's secret: {other:?}"),
        }
        ensure_eq!(
            ids(&store.active_event_api_secrets(other, at(6)).await?),
            vec![theirs.id],
            "the other tenant's secret is untouched"
        );
        store
            .revoke_event_api_secret(tenant, mine.id, at(5))
            .await?;
        store
            .revoke_event_api_secret(tenant, mine.id, at(9))
            .await?;
        ensure_eq!(
            store.active_event_api_secrets(tenant, at(6)).await?.len(),
            0,
            "revoked"
        );
        let listed = store.event_api_secrets(tenant).await?;
        ensure_eq!(
            listed.first().and_then(|s| s.revoked_at),
            Some(at(5)),
            "the first revocation time is kept"
        );
        match store
            .add_event_api_secret(&secret(TenantId::new(), 0, 6), None)
            .await
        {
            Err(StoreError::NotFound("tenant")) => {}
            other => anyhow::bail!("a secret for an unknown tenant: {other:?}"),
        }
        Ok(())
    })
}

fn connection(tenant_id: TenantId, kind: StoreKind, path: &str) -> NewStoreConnection {
    NewStoreConnection {
        tenant_id,
        id: Uuid::now_v7(),
        kind,
        display_name: format!("Store {path}"),
        shop_domain: (kind == StoreKind::Shopify).then(|| "norman.myshopify.com".to_owned()),
        secret: vec![7; 20],
        callback_token: (kind == StoreKind::Api2Cart).then(|| vec![8; 20]),
        path_token: path.to_owned(),
    }
}

fn connections_are_found_by_kind_and_path_per_tenant(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 404).await?.id;
        let other = fixtures::tenant(store.as_ref(), 405).await?.id;
        let shop = store
            .add_store_connection(&connection(tenant, StoreKind::Shopify, "path-shop"))
            .await?;
        ensure_eq!(shop.state, ConnectionState::Active, "new state");
        ensure_eq!(
            shop.shop_domain.as_deref(),
            Some("norman.myshopify.com"),
            "shop domain"
        );
        ensure_eq!(shop.callback_token, None, "no callback token");
        let cart = store
            .add_store_connection(&connection(tenant, StoreKind::Api2Cart, "path-cart"))
            .await?;
        ensure_eq!(cart.callback_token, Some(vec![8; 20]), "callback token");
        ensure_eq!(cart.webhook_ids.len(), 0, "no webhooks yet");

        let found = store
            .store_connection_by_path(StoreKind::Api2Cart, "path-cart")
            .await?;
        ensure_eq!(found, Some(cart.clone()), "by kind and path");
        ensure_eq!(
            store
                .store_connection_by_path(StoreKind::Shopify, "path-cart")
                .await?,
            None,
            "another kind's path"
        );
        ensure_eq!(
            ids_of(&store.store_connections(tenant).await?),
            vec![shop.id, cart.id],
            "listed oldest first"
        );
        ensure_eq!(
            store.store_connections(other).await?.len(),
            0,
            "tenant-scoped list"
        );
        ensure_eq!(
            store.store_connection(other, shop.id).await?,
            None,
            "tenant-scoped lookup"
        );
        match store
            .add_store_connection(&connection(other, StoreKind::Shopify, "path-shop"))
            .await
        {
            Err(StoreError::Duplicate("store_connections_path_token_key")) => {}
            other => anyhow::bail!("a path token was shared: {other:?}"),
        }
        match store
            .add_store_connection(&connection(TenantId::new(), StoreKind::Shopify, "path-x"))
            .await
        {
            Err(StoreError::NotFound("tenant")) => {}
            other => anyhow::bail!("a connection for an unknown tenant: {other:?}"),
        }
        Ok(())
    })
}

fn ids_of(connections: &[crate::StoreConnection]) -> Vec<Uuid> {
    connections.iter().map(|c| c.id).collect()
}

fn state_webhooks_and_disconnect(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let tenant = fixtures::tenant(store.as_ref(), 406).await?.id;
        let other = fixtures::tenant(store.as_ref(), 407).await?.id;
        let cart = store
            .add_store_connection(&connection(tenant, StoreKind::Api2Cart, "path-c2"))
            .await?;
        let hooks = vec!["11".to_owned(), "12".to_owned()];
        store
            .set_connection_webhooks(tenant, cart.id, &hooks)
            .await?;
        store
            .set_connection_state(
                tenant,
                cart.id,
                ConnectionState::NeedsAttention,
                Some("incorrect store key"),
            )
            .await?;
        let stored = store
            .store_connection(tenant, cart.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("connection gone"))?;
        ensure_eq!(stored.webhook_ids, hooks, "webhook ids");
        ensure_eq!(stored.state, ConnectionState::NeedsAttention, "state");
        ensure_eq!(
            stored.attention_reason.as_deref(),
            Some("incorrect store key"),
            "reason"
        );
        store
            .set_connection_state(tenant, cart.id, ConnectionState::Active, Some("ignored"))
            .await?;
        let stored = store.store_connection(tenant, cart.id).await?;
        ensure_eq!(
            stored.map(|c| (c.state, c.attention_reason)),
            Some((ConnectionState::Active, None)),
            "active clears the reason"
        );
        match store
            .set_connection_state(other, cart.id, ConnectionState::NeedsAttention, None)
            .await
        {
            Err(StoreError::NotFound(_)) => {}
            other => anyhow::bail!("another tenant changed the state: {other:?}"),
        }
        match store.set_connection_webhooks(other, cart.id, &[]).await {
            Err(StoreError::NotFound(_)) => {}
            other => anyhow::bail!("another tenant changed the webhooks: {other:?}"),
        }
        ensure_eq!(
            store.delete_store_connection(other, cart.id).await?,
            false,
            "another tenant cannot disconnect"
        );
        ensure_eq!(
            store.delete_store_connection(tenant, cart.id).await?,
            true,
            "disconnected"
        );
        ensure_eq!(
            store
                .store_connection_by_path(StoreKind::Api2Cart, "path-c2")
                .await?,
            None,
            "the path stops answering"
        );
        Ok(())
    })
}

fn a_purged_tenant_takes_its_secrets_and_stores_along(store: Arc<dyn Store>) -> CheckFuture {
    Box::pin(async move {
        let gone = fixtures::tenant(store.as_ref(), 408).await?.id;
        let stays = fixtures::tenant(store.as_ref(), 409).await?.id;
        for tenant in [gone, stays] {
            store
                .add_event_api_secret(&secret(tenant, 0, 9), None)
                .await?;
            let path = format!("path-purge-{tenant}");
            store
                .add_store_connection(&connection(tenant, StoreKind::Api2Cart, &path))
                .await?;
        }
        store
            .set_tenant_status(gone, TenantStatus::Uninstalled)
            .await?;
        let purged = store
            .purge_uninstalled(Utc::now() + Duration::seconds(1), 100)
            .await?;
        ensure_eq!(purged.len(), 1, "one tenant purged");
        ensure_eq!(
            store.event_api_secrets(gone).await?.len(),
            0,
            "secrets gone"
        );
        ensure_eq!(store.store_connections(gone).await?.len(), 0, "stores gone");
        ensure_eq!(
            store
                .store_connection_by_path(StoreKind::Api2Cart, &format!("path-purge-{gone}"))
                .await?,
            None,
            "its path answers nothing"
        );
        ensure_eq!(
            store.event_api_secrets(stays).await?.len(),
            1,
            "others kept"
        );
        ensure_eq!(
            store.store_connections(stays).await?.len(),
            1,
            "others kept"
        );
        Ok(())
    })
}

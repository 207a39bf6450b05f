//! The connected stores' webhook pipeline, without HTTP: the connection found by its kind and
//! path token, the store's own check (Shopify's and WooCommerce's HMAC, API2Cart's callback
//! token) and payload (the events crate), then what the delivery asks for: an event recorded
//! through group commit, nothing (WooCommerce's set-up ping), or the connection marked as
//! needing attention (API2Cart's connection-loss notice).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_crypto::KeyRing;
use dealbridge_events::{api2cart, shopify, woocommerce, ConnectionLoss, Delivery, Headers};
use dealbridge_storage::{ConnectionState, Recorded, Store, StoreConnection, StoreKind};

use crate::sealing::{open, SecretRole};
use crate::source_error::{bounded, record, tenant_takes_events, SourceError};
use crate::writer::InboxWriter;

/// What a verified store delivery did. Every variant is answered 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    Recorded(Recorded),
    /// A request that carries nothing to record (WooCommerce's set-up ping).
    Ignored,
    /// API2Cart lost the store: the connection now needs attention.
    ConnectionLost,
}

/// Path tokens are 43 URL-safe characters; anything else cannot be one and costs no query.
fn plausible_token(token: &str) -> bool {
    (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a Shopify delivery names the connection's shop (either header spelling; Shopify's
/// newer deliveries drop the `X-` prefix). A delivery without the header is judged by its HMAC alone.
fn same_shop(headers: &Headers, shop_domain: Option<&str>) -> bool {
    let named = headers
        .get("X-Shopify-Shop-Domain")
        .or_else(|| headers.get("Shopify-Shop-Domain"));
    match (named, shop_domain) {
        (Some(named), Some(ours)) => named.eq_ignore_ascii_case(ours),
        _ => true,
    }
}

#[derive(Clone)]
pub struct StoreReceiver {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    writer: InboxWriter,
}

impl StoreReceiver {
    pub fn new(store: Arc<dyn Store>, keys: Arc<KeyRing>, writer: InboxWriter) -> Self {
        Self {
            store,
            keys,
            writer,
        }
    }

    /// `callback_token` is the second path segment API2Cart's callback URL carries; the other
    /// kinds have none.
    pub async fn receive(
        &self,
        kind: StoreKind,
        path_token: &str,
        callback_token: Option<&str>,
        headers: &Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<StoreOutcome, SourceError> {
        if !plausible_token(path_token) {
            return Err(SourceError::Unknown);
        }
        let connection = bounded(self.store.store_connection_by_path(kind, path_token))
            .await?
            .ok_or(SourceError::Unknown)?;
        if !tenant_takes_events(self.store.as_ref(), connection.tenant_id).await? {
            return Err(SourceError::Unknown);
        }
        let secret = self.open(&connection, SecretRole::StoreSecret, &connection.secret)?;
        let delivery = match kind {
            StoreKind::Shopify => {
                let event = shopify::parse(headers, body, std::slice::from_ref(&secret), now)?;
                if !same_shop(headers, connection.shop_domain.as_deref()) {
                    return Err(SourceError::ForeignShop);
                }
                Delivery::Event(event)
            }
            StoreKind::WooCommerce => {
                woocommerce::parse(headers, body, std::slice::from_ref(&secret))?
            }
            StoreKind::Api2Cart => {
                let sealed = connection.callback_token.as_deref().unwrap_or_default();
                let token = self.open(&connection, SecretRole::CallbackToken, sealed)?;
                api2cart::parse(headers, body, callback_token.unwrap_or(""), &token, now)?
            }
        };
        match delivery {
            Delivery::Event(event) => Ok(StoreOutcome::Recorded(
                record(&self.writer, connection.tenant_id, event).await?,
            )),
            Delivery::Ignored(_) => Ok(StoreOutcome::Ignored),
            Delivery::ConnectionLost(loss) => {
                self.connection_lost(&connection, &loss).await?;
                Ok(StoreOutcome::ConnectionLost)
            }
        }
    }

    fn open(
        &self,
        connection: &StoreConnection,
        role: SecretRole,
        sealed: &[u8],
    ) -> Result<dealbridge_crypto::SecretString, SourceError> {
        open(
            &self.keys,
            role,
            connection.tenant_id,
            connection.id,
            sealed,
        )
        .map_err(SourceError::unavailable)
    }

    /// Marks the connection and tells the tenant's activity log; the texts come from API2Cart
    /// and hold no secret.
    async fn connection_lost(
        &self,
        connection: &StoreConnection,
        loss: &ConnectionLoss,
    ) -> Result<(), SourceError> {
        let reason = match (&loss.reason, &loss.message) {
            (Some(reason), Some(message)) => format!("{reason}: {message}"),
            (Some(text), None) | (None, Some(text)) => text.clone(),
            (None, None) => format!("API2Cart error code {}", loss.error_code),
        };
        bounded(self.store.set_connection_state(
            connection.tenant_id,
            connection.id,
            ConnectionState::NeedsAttention,
            Some(&reason),
        ))
        .await?;
        let entry = NewAuditEntry {
            tenant_id: Some(connection.tenant_id),
            actor: "api2cart".into(),
            action: "store.connection_lost".into(),
            detail: serde_json::json!({
                "connection": connection.id, "store": connection.display_name,
                "error_code": loss.error_code, "reason": reason, "tries_left": loss.tries_left,
            }),
        };
        bounded(self.store.append_audit(&entry)).await?;
        Ok(())
    }
}

//! Connecting and disconnecting the tenant's stores from the dashboard. Shopify and WooCommerce
//! deliveries are signed with a secret the tenant copies from their shop; API2Cart's webhooks are
//! registered here, through `webhook.create`, at a callback URL carrying a per-connection token,
//! and deleted on disconnect. Secrets are sealed before they are stored; every change is audited.

use dealbridge_core::TenantId;
use dealbridge_crypto::{ExposeSecret, SecretString};
use dealbridge_inbox::{
    open_secret, random_token, seal_secret, Api2Cart, SecretRole, API2CART_EVENTS,
};
use dealbridge_storage::{ConnectionState, NewStoreConnection, StoreConnection, StoreKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event_api_secrets::audit;
use crate::{AppError, AppState};

/// The dashboard's connect form. `secret` is the Shopify or WooCommerce webhook secret, or the
/// API2Cart store key.
#[derive(Deserialize)]
pub struct ConnectForm {
    #[serde(default)]
    pub csrf: String,
    pub kind: String,
    pub display_name: String,
    #[serde(default)]
    pub shop_domain: String,
    pub secret: SecretString,
}

/// A connection as the dashboard lists it: never a secret.
#[derive(Debug, Serialize)]
pub struct ConnectionView {
    pub id: String,
    pub kind: &'static str,
    pub display_name: String,
    pub shop_domain: Option<String>,
    pub state: &'static str,
    pub attention_reason: Option<String>,
    /// Where the tenant points the shop's webhooks (Shopify, WooCommerce). API2Cart's URL carries
    /// its token, so it is registered by us and not shown.
    pub webhook_url: Option<String>,
    pub webhooks: usize,
}

fn callback_path(connection: &StoreConnection) -> String {
    format!(
        "/hooks/{}/{}",
        connection.kind.as_str(),
        connection.path_token
    )
}

fn view(state: &AppState, connection: &StoreConnection) -> ConnectionView {
    let url = |path: &str| state.app.public_url.join(path).map(|u| u.to_string()).ok();
    ConnectionView {
        id: connection.id.to_string(),
        kind: connection.kind.as_str(),
        display_name: connection.display_name.clone(),
        shop_domain: connection.shop_domain.clone(),
        state: connection.state.as_str(),
        attention_reason: connection.attention_reason.clone(),
        webhook_url: match connection.kind {
            StoreKind::Api2Cart => None,
            _ => url(&callback_path(connection)),
        },
        webhooks: connection.webhook_ids.len(),
    }
}

pub async fn list(state: &AppState, tenant: TenantId) -> Result<Vec<ConnectionView>, AppError> {
    let connections = state.store.store_connections(tenant).await?;
    Ok(connections.iter().map(|c| view(state, c)).collect())
}

fn bad(message: &str) -> AppError {
    AppError::BadRequest(message.to_owned())
}

/// A hostname such as `norman.myshopify.com`: letters, digits, dots and hyphens.
fn is_shop_domain(domain: &str) -> bool {
    domain.contains('.')
        && domain.len() <= 253
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

struct Checked {
    kind: StoreKind,
    display_name: String,
    shop_domain: Option<String>,
}

fn check(form: &ConnectForm) -> Result<Checked, AppError> {
    let kind = StoreKind::parse(&form.kind)
        .ok_or_else(|| bad("choose Shopify, WooCommerce or API2Cart"))?;
    let display_name = form.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 100 {
        return Err(bad("the store's name must be 1 to 100 characters"));
    }
    let secret = form.secret.expose_secret().trim();
    if secret.is_empty() || secret.len() > 512 {
        return Err(bad("the secret (or store key) must be 1 to 512 characters"));
    }
    let domain = form.shop_domain.trim().to_ascii_lowercase();
    let shop_domain = match kind {
        StoreKind::Shopify if is_shop_domain(&domain) => Some(domain),
        StoreKind::Shopify => return Err(bad("the shop domain looks like norman.myshopify.com")),
        _ => None,
    };
    Ok(Checked {
        kind,
        display_name: display_name.to_owned(),
        shop_domain,
    })
}

fn sealing_failed(err: dealbridge_inbox::SealError) -> AppError {
    AppError::Internal(err.into())
}

/// Connects a store. For API2Cart the webhooks are registered before this returns; if any
/// registration fails, those made are deleted and nothing is kept.
pub async fn connect(
    state: &AppState,
    tenant: TenantId,
    form: &ConnectForm,
    actor: &str,
) -> Result<StoreConnection, AppError> {
    let checked = check(form)?;
    let secret = SecretString::from(form.secret.expose_secret().trim().to_owned());
    let api2cart = match checked.kind {
        StoreKind::Api2Cart => Some(state.api2cart.as_ref().ok_or_else(|| {
            bad("API2Cart is not configured on this server (DEALBRIDGE_API2CART_API_KEY)")
        })?),
        _ => None,
    };
    let id = Uuid::now_v7();
    let token = api2cart.map(|_| SecretString::from(random_token()));
    let seal = |role, value: &SecretString| {
        seal_secret(&state.keys, role, tenant, id, value).map_err(sealing_failed)
    };
    let new = NewStoreConnection {
        tenant_id: tenant,
        id,
        kind: checked.kind,
        display_name: checked.display_name,
        shop_domain: checked.shop_domain,
        secret: seal(SecretRole::StoreSecret, &secret)?,
        callback_token: token
            .as_ref()
            .map(|t| seal(SecretRole::CallbackToken, t))
            .transpose()?,
        path_token: random_token(),
    };
    let mut connection = state.store.add_store_connection(&new).await?;
    if let (Some(api2cart), Some(token)) = (api2cart, &token) {
        let callback = SecretString::from(format!(
            "{}?token={}",
            state
                .app
                .public_url
                .join(&callback_path(&connection))
                .map_err(|e| AppError::Internal(e.into()))?,
            token.expose_secret()
        ));
        match register(api2cart, &secret, &callback).await {
            Ok(ids) => {
                state
                    .store
                    .set_connection_webhooks(tenant, id, &ids)
                    .await?;
                connection.webhook_ids = ids;
            }
            Err(err) => {
                state.store.delete_store_connection(tenant, id).await?;
                tracing::warn!(error.cause = %err, "API2Cart webhooks not registered");
                return Err(AppError::BadRequest(format!(
                    "the store could not be connected: {err}"
                )));
            }
        }
    }
    let detail = serde_json::json!({
        "connection": id, "kind": connection.kind.as_str(), "name": connection.display_name,
        "webhooks": connection.webhook_ids,
    });
    audit(state, tenant, actor, "store.connected", detail).await?;
    Ok(connection)
}

/// Registers every event a connection follows; on a failure, removes those made.
async fn register(
    api2cart: &Api2Cart,
    store_key: &SecretString,
    callback: &SecretString,
) -> Result<Vec<String>, dealbridge_inbox::Api2CartError> {
    let mut ids = Vec::new();
    for event in API2CART_EVENTS {
        match api2cart.create_webhook(store_key, event, callback).await {
            Ok(id) => ids.push(id),
            Err(err) => {
                for id in &ids {
                    let _ = api2cart.delete_webhook(store_key, id).await;
                }
                return Err(err);
            }
        }
    }
    Ok(ids)
}

/// Disconnects a store: its path stops answering at once. For API2Cart its webhooks are deleted
/// first; any API2Cart could not delete (a lost store key, say) is named in the audit entry and
/// can no longer deliver anything, since its path is gone.
pub async fn disconnect(
    state: &AppState,
    tenant: TenantId,
    id: &str,
    actor: &str,
) -> Result<(), AppError> {
    let id: Uuid = id.parse().map_err(|_| AppError::NotFound)?;
    let connection = state
        .store
        .store_connection(tenant, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut left = Vec::new();
    if connection.kind == StoreKind::Api2Cart && !connection.webhook_ids.is_empty() {
        let store_key = open_secret(
            &state.keys,
            SecretRole::StoreSecret,
            tenant,
            id,
            &connection.secret,
        )
        .map_err(sealing_failed)?;
        for webhook in &connection.webhook_ids {
            match state.api2cart.as_ref() {
                Some(api2cart) => {
                    if let Err(err) = api2cart.delete_webhook(&store_key, webhook).await {
                        tracing::warn!(error.cause = %err, webhook, "API2Cart webhook not deleted");
                        left.push(webhook.clone());
                    }
                }
                None => left.push(webhook.clone()),
            }
        }
    }
    state.store.delete_store_connection(tenant, id).await?;
    let detail = serde_json::json!({
        "connection": id, "kind": connection.kind.as_str(), "name": connection.display_name,
        "webhooks_not_deleted": left,
    });
    audit(state, tenant, actor, "store.disconnected", detail).await
}

/// Whether any of the tenant's stores needs attention, for the dashboard's banner.
pub fn needs_attention(connections: &[ConnectionView]) -> bool {
    connections
        .iter()
        .any(|c| c.state == ConnectionState::NeedsAttention.as_str())
}

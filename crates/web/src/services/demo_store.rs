//! Offline first run: the embedded sandbox's API2Cart stand-in has a demo store, and the first
//! tenant installed after start-up that has no store yet gets it connected, so an order placed
//! in the demo store arrives as an event at once. The real connect path is used (webhooks
//! registered through `webhook.create`, the store key sealed), nothing is faked.

use dealbridge_core::TenantId;
use dealbridge_crypto::SecretString;
use tokio::sync::Mutex;

use crate::services::store_connections::{self, ConnectForm};
use crate::AppState;

/// The demo store's key, and whether a tenant got it in this process.
pub struct DemoStore {
    store_key: SecretString,
    claimed: Mutex<bool>,
}

impl DemoStore {
    pub fn new(store_key: SecretString) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            store_key,
            claimed: Mutex::new(false),
        })
    }
}

/// The display name the demo connection gets.
pub const DEMO_STORE_NAME: &str = "Demo Ceramics (sandbox)";

/// Connects the demo store for `tenant` when this is the first install since start-up for a
/// tenant without stores. A failure is logged and leaves the install as it is.
pub async fn offer(state: &AppState, tenant: TenantId) {
    let Some(demo) = state.demo_store.as_ref() else {
        return;
    };
    let mut claimed = demo.claimed.lock().await;
    if *claimed {
        return;
    }
    match state.store.store_connections(tenant).await {
        Ok(connections) if connections.is_empty() => {}
        Ok(_) => return,
        Err(err) => {
            tracing::warn!(error.cause = %err, "demo store not connected");
            return;
        }
    }
    let form = ConnectForm {
        csrf: String::new(),
        kind: "api2cart".into(),
        display_name: DEMO_STORE_NAME.into(),
        shop_domain: String::new(),
        secret: demo.store_key.clone(),
    };
    match store_connections::connect(state, tenant, &form, "dealbridge:first_run").await {
        Ok(_) => {
            *claimed = true;
            tracing::info!(%tenant, "demo API2Cart store connected");
        }
        Err(err) => tracing::warn!(error.cause = %err, "demo store not connected"),
    }
}

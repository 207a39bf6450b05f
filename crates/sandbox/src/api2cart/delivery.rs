//! Webhook deliveries: a POST of the changed record to each matching callback with API2Cart's
//! `X-Webhook-*` headers, and the empty-body connection-loss notice. API2Cart documents no retry
//! schedule for ordinary events, so each is attempted once; the outcome is kept on the webhook.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Webhook, STORE_ID};
use crate::server::Shared;

const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Notice {
    pub hook: Webhook,
    pub reason: String,
    pub tries_left: u32,
}

pub fn spawn_events(
    shared: Arc<Shared>,
    store_key: String,
    events: Vec<(&'static str, &'static str, Value)>,
) {
    let targets: Vec<(Webhook, Value)> = {
        let stores = shared.api2cart.stores();
        let Some(store) = stores.get(&store_key).filter(|s| s.lost.is_none()) else {
            return;
        };
        events
            .into_iter()
            .flat_map(|(entity, action, record)| {
                store
                    .webhooks
                    .iter()
                    .filter(move |h| h.active && h.entity == entity && h.action == action)
                    .map(move |h| (h.clone(), record.clone()))
            })
            .collect()
    };
    for (hook, record) in targets {
        let shared = shared.clone();
        let store_key = store_key.clone();
        tokio::spawn(async move {
            let request = shared
                .http
                .post(&hook.callback)
                .timeout(TIMEOUT)
                .header("X-Webhook-Store-Id", STORE_ID)
                .header("X-Webhook-Entity", &hook.entity)
                .header("X-Webhook-Action", &hook.action)
                .header("X-Webhook-Error-Code", "0")
                .json(&record);
            let status = request.send().await.ok().map(|r| r.status().as_u16());
            record_outcome(&shared, &store_key, hook.id, status);
        });
    }
}

pub fn spawn_notices(shared: Arc<Shared>, store_key: String, notices: Vec<Notice>) {
    for notice in notices {
        let shared = shared.clone();
        let store_key = store_key.clone();
        tokio::spawn(async move {
            let request = shared
                .http
                .post(&notice.hook.callback)
                .timeout(TIMEOUT)
                .header("X-Webhook-Store-Id", STORE_ID)
                .header("X-Webhook-Error-Code", "1")
                .header("X-Webhook-Error-Reason", &notice.reason)
                .header(
                    "X-Webhook-Error-Message",
                    "Check the store's connection (bridge and store key) and re-enable the webhook with webhook.update",
                )
                .header("X-Webhook-Error-Try-Count", notice.tries_left.to_string());
            let status = request.send().await.ok().map(|r| r.status().as_u16());
            record_outcome(&shared, &store_key, notice.hook.id, status);
        });
    }
}

fn record_outcome(shared: &Shared, store_key: &str, hook_id: u64, status: Option<u16>) {
    if status.is_none_or(|s| !(200..300).contains(&s)) {
        tracing::debug!(
            webhook.id = hook_id,
            ?status,
            "api2cart webhook delivery failed"
        );
    }
    let mut stores = shared.api2cart.stores();
    if let Some(hook) = stores
        .get_mut(store_key)
        .and_then(|store| store.webhooks.iter_mut().find(|h| h.id == hook_id))
    {
        hook.deliveries += 1;
        hook.last_status = status;
    }
}

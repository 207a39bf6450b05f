//! Sends webhook events (FACTS §4.2): POST with optional Basic auth, 10 s timeout, retries at
//! +3 s, +30 s and +150 s, all scaled by `time_scale`. Outcomes go back to the world, where first
//! attempt failures count towards the 30-minute ban.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::server::Shared;
use crate::world::Delivery;

const TIMEOUT_SECS: f64 = 10.0;
/// A scaled timeout never drops below this, so a tiny `time_scale` does not turn a loaded but
/// healthy receiver into a failing one.
const MIN_TIMEOUT: Duration = Duration::from_secs(1);
const RETRY_DELAYS_SECS: [f64; 3] = [3.0, 30.0, 150.0];

pub fn spawn_all(shared: Arc<Shared>, deliveries: Vec<Delivery>) {
    for d in deliveries {
        tokio::spawn(deliver(shared.clone(), d));
    }
}

async fn deliver(shared: Arc<Shared>, mut d: Delivery) {
    for attempt in 1..=4u32 {
        if attempt > 1 {
            let wait = RETRY_DELAYS_SECS[attempt as usize - 2];
            tokio::time::sleep(shared.scaled(wait)).await;
        }
        d.payload["meta"]["attempt"] = json!(attempt);
        let mut req = shared
            .http
            .post(&d.url)
            .timeout(shared.scaled(TIMEOUT_SECS).max(MIN_TIMEOUT))
            .json(&d.payload);
        if let Some((user, password)) = &d.auth {
            req = req.basic_auth(user, Some(password));
        }
        let status = req.send().await.ok().map(|r| r.status().as_u16());
        let now = shared.clock.now_ms();
        shared.world().delivery_result(&d, attempt, status, now);
        if status.is_some_and(|s| (200..300).contains(&s)) {
            return;
        }
        tracing::debug!(
            webhook.id = d.webhook_id,
            attempt,
            ?status,
            "webhook attempt failed"
        );
        // A banned webhook gets no more retries for this event (FACTS §4.2: events are lost).
        let banned = shared
            .world()
            .companies
            .get(&d.company_id)
            .and_then(|c| c.webhooks.get(&d.webhook_id))
            .is_none_or(|w| w.banned_until_ms.is_some_and(|until| now < until));
        if banned {
            return;
        }
    }
}

/// Sends the uninstall `DELETE` of FACTS §1.7; the app's answer is ignored, as Pipedrive does.
pub async fn send_uninstall(shared: Arc<Shared>, notice: crate::world::UninstallNotice) {
    let result = shared
        .http
        .delete(&notice.callback_url)
        .basic_auth(&notice.client_id, Some(&notice.client_secret))
        .timeout(shared.scaled(TIMEOUT_SECS).max(MIN_TIMEOUT))
        .json(&notice.body)
        .send()
        .await;
    if let Err(e) = result {
        tracing::info!(error = %e, "uninstall notice not delivered");
    }
}

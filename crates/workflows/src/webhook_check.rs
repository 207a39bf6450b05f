//! `webhooks.check` (per tenant, fanned out by the periodic `webhooks.check_all`): lists the
//! tenant's webhooks in Pipedrive, registers again what is missing (Pipedrive deletes a webhook
//! after three days without a successful delivery), and notices a failing or banned one (its last
//! delivery was not answered 2xx, or Pipedrive reports it inactive). Both are recorded in the
//! registration's state; a check that finds them active after a break (or for the first time)
//! queues a reconcile sweep, which makes the mirror complete again. A change for the worse is written to the tenant's audit log, which the
//! dashboard shows next to a notice.

use std::time::Duration;

use chrono::Utc;
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::TenantId;
use dealbridge_jobs::{JobContext, JobError};
use dealbridge_pipedrive::models::Webhook;
use dealbridge_storage::{Lane, NewJob, WebhookState};

use crate::errors::{job_error, store_error};
use crate::reconcile::reconcile_job;
use crate::tenant_jobs::{acting_user, fan_out};
use crate::webhooks::{followed_webhooks, ours, webhook_key};
use crate::Workflows;
use dealbridge_budget::ledger_lane;

pub const WEBHOOK_CHECK_KIND: &str = "webhooks.check";
pub const WEBHOOK_CHECK_ALL_KIND: &str = "webhooks.check_all";

/// A ban lasts 30 minutes; checking twice an hour notices one while it lasts.
pub const WEBHOOK_CHECK_EVERY: Duration = Duration::from_secs(15 * 60);

const CHECK_ATTEMPTS: u32 = 5;

/// Whether Pipedrive's record of a webhook says deliveries are not getting through: it is
/// inactive, or its last delivery was not answered with a 2xx (a timeout leaves no status).
pub(crate) fn failing(webhook: &Webhook) -> bool {
    let inactive = match &webhook.is_active {
        Some(serde_json::Value::Bool(active)) => !active,
        Some(serde_json::Value::Number(n)) => n.as_i64() == Some(0),
        _ => false,
    };
    let delivered = webhook
        .extra
        .get("last_delivery_time")
        .is_some_and(|t| !t.is_null());
    let status = webhook
        .extra
        .get("last_http_status")
        .and_then(serde_json::Value::as_i64);
    let last_failed = delivered && !status.is_some_and(|s| (200..300).contains(&s));
    inactive || last_failed
}

/// One tenant's webhook check, as the periodic fan-out queues it: it re-registers missing
/// webhooks (support can ask for one too).
pub fn webhook_check_job(tenant_id: TenantId) -> NewJob {
    crate::tenant_job(WEBHOOK_CHECK_KIND, Lane::Default, CHECK_ATTEMPTS, tenant_id)
}

impl Workflows {
    pub(crate) async fn check_all_webhooks(&self) -> Result<(), JobError> {
        let queued = fan_out(
            self.store.as_ref(),
            WEBHOOK_CHECK_KIND,
            Lane::Default,
            CHECK_ATTEMPTS,
        )
        .await?;
        tracing::info!(tenants = queued, "webhook checks queued");
        Ok(())
    }

    pub(crate) async fn check_webhooks(&self, ctx: JobContext) -> Result<(), JobError> {
        let tenant_id = ctx
            .tenant_id()
            .ok_or_else(|| JobError::permanent("webhooks.check needs a tenant"))?;
        let Some(registration) = self
            .store
            .webhook_registration(tenant_id)
            .await
            .map_err(store_error)?
        else {
            return Ok(()); // uninstalled since the fan-out
        };
        let Some(user) = acting_user(self.store.as_ref(), tenant_id).await? else {
            return Ok(());
        };
        let client = self
            .company_client(tenant_id, user, ledger_lane(ctx.job.lane))
            .await?;
        let url = self.hooks.hook_url(&registration.path_token)?;
        let listed = client.webhooks().list().await.map_err(job_error)?;
        let present = ours(&listed, &url);
        let failing: Vec<String> = present
            .iter()
            .filter(|(_, w)| failing(w))
            .map(|(key, _)| key.clone())
            .collect();
        let missing: Vec<String> = followed_webhooks()
            .map(|(e, a)| webhook_key(e.as_str(), a.as_str()))
            .filter(|key| !present.contains_key(key))
            .collect();
        if !missing.is_empty() {
            self.register_webhooks(&client, tenant_id).await?;
        }
        let state = if !failing.is_empty() {
            WebhookState::Banned
        } else if !missing.is_empty() {
            WebhookState::Missing
        } else {
            WebhookState::Active
        };
        let was_running = self
            .store
            .mirror_coverage(tenant_id)
            .await
            .map_err(store_error)?
            .and_then(|c| c.active_since)
            .is_some();
        self.store
            .set_webhook_state(tenant_id, state, Utc::now())
            .await
            .map_err(store_error)?;
        if state == WebhookState::Active && !was_running {
            // A new active run: changes may have been missed before it, so the mirror counts as
            // complete only once a sweep started now has listed everything (see `coverage`).
            self.store
                .enqueue(&reconcile_job(tenant_id))
                .await
                .map_err(store_error)?;
        }
        if state != WebhookState::Active && state != registration.state {
            self.alert(tenant_id, state, &failing, &missing).await?;
        }
        tracing::info!(tenant = %tenant_id, state = state.as_str(), "webhooks checked");
        Ok(())
    }

    /// The tenant's audit entry for a webhook problem; the dashboard shows it and a notice.
    async fn alert(
        &self,
        tenant_id: TenantId,
        state: WebhookState,
        failing: &[String],
        missing: &[String],
    ) -> Result<(), JobError> {
        self.store
            .append_audit(&NewAuditEntry {
                tenant_id: Some(tenant_id),
                actor: "system:webhook_check".into(),
                action: format!("webhooks.{}", state.as_str()),
                detail: serde_json::json!({
                    "failing": failing,
                    "re_registered": missing,
                }),
            })
            .await
            .map_err(store_error)?;
        tracing::warn!(tenant = %tenant_id, state = state.as_str(), "webhook problem");
        Ok(())
    }
}

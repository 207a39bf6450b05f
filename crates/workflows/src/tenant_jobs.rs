//! What the per-tenant periodic jobs share: a system job that fans out one job per tenant with a
//! webhook registration (unique per tenant, so a slow tenant never piles up copies), and the
//! installation whose token such a job acts with.

use dealbridge_core::installation::InstallationStatus;
use dealbridge_core::{TenantId, UserId};
use dealbridge_jobs::JobError;
use dealbridge_storage::{Lane, NewJob, Store};

use crate::errors::store_error;

/// The job `kind` for one tenant, unique while one is queued or running.
pub fn tenant_job(kind: &str, lane: Lane, max_attempts: u32, tenant_id: TenantId) -> NewJob {
    NewJob::new(kind, serde_json::json!({}))
        .tenant(tenant_id)
        .lane(lane)
        .max_attempts(max_attempts)
        .unique_key(format!("{kind}:{tenant_id}"))
}

/// Enqueues `kind` for every tenant with a webhook registration; returns how many were new.
pub(crate) async fn fan_out(
    store: &dyn Store,
    kind: &str,
    lane: Lane,
    max_attempts: u32,
) -> Result<u64, JobError> {
    let tenants = store.webhook_tenants().await.map_err(store_error)?;
    let jobs: Vec<NewJob> = tenants
        .into_iter()
        .map(|tenant| tenant_job(kind, lane, max_attempts, tenant))
        .collect();
    if jobs.is_empty() {
        return Ok(0);
    }
    store.enqueue_batch(&jobs).await.map_err(store_error)
}

/// The earliest active installation of the tenant: whose token the tenant's background jobs use.
/// `None` when no user has Dealbridge installed and authorised (nothing to do until one has).
pub(crate) async fn acting_user(
    store: &dyn Store,
    tenant_id: TenantId,
) -> Result<Option<UserId>, JobError> {
    let mut installations = store.installations(tenant_id).await.map_err(store_error)?;
    installations.retain(|i| i.status == InstallationStatus::Active);
    installations.sort_by_key(|i| i.created_at);
    Ok(installations.first().map(|i| i.user_id))
}

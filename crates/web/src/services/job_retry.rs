//! Retrying a dead job, from the dashboard or the support console: queued again with a fresh
//! attempt budget, and an audit entry naming who asked (and, from the console, why).

use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::TenantId;
use dealbridge_storage::JobId;

use crate::{AppError, AppState};

/// `NotFound` unless the job is dead and belongs to `tenant` (`None`: a system job), so a path
/// naming another tenant's job changes nothing. `reason` is the console's required reason
/// (checked by the caller); a tenant retrying its own job gives none.
pub async fn retry(
    state: &AppState,
    tenant: Option<TenantId>,
    job: JobId,
    actor: &str,
    reason: Option<&str>,
) -> Result<(), AppError> {
    state.store.retry_dead_job(tenant, job).await?;
    let mut detail = serde_json::json!({ "job_id": job.to_string() });
    if let Some(reason) = reason {
        detail["reason"] = reason.into();
    }
    state
        .store
        .append_audit(&NewAuditEntry {
            tenant_id: tenant,
            actor: actor.into(),
            action: "job.retry".into(),
            detail,
        })
        .await?;
    tracing::info!(job.id = %job, actor, "dead job queued again");
    Ok(())
}

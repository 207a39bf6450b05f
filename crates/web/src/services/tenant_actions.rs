//! What support does to one tenant from the console, each audited with who and why (a required
//! reason): pausing and resuming it (its jobs wait while its events are still recorded), and asking
//! for a webhook check (which re-registers missing webhooks) or a reconcile now.

use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::tenant::TenantStatus;
use dealbridge_core::TenantId;
use dealbridge_storage::NewJob;
use serde::Deserialize;

use crate::{AppError, AppState};

/// A console action's form: the form token and the reason. A missing field reads as empty, so it
/// is refused by the checks with a clear message.
#[derive(Debug, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub reason: String,
}

/// Longer reasons are refused rather than cut, so nothing written is lost silently.
pub const MAX_REASON_CHARS: usize = 500;

/// The reason as it is kept: trimmed, at least one character and at most `MAX_REASON_CHARS`.
pub fn reason(text: &str) -> Result<String, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::BadRequest(
            "say why: the reason is kept in the audit log".into(),
        ));
    }
    if text.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::BadRequest(format!(
            "the reason is longer than {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(text.to_string())
}

/// Pauses an active tenant. `NotFound` for an unknown tenant, `Conflict` when it is not active.
pub async fn pause(
    state: &AppState,
    tenant: TenantId,
    actor: &str,
    reason: &str,
) -> Result<(), AppError> {
    let from = (TenantStatus::Active, TenantStatus::Paused);
    change_status(state, tenant, from, "tenant.paused", actor, reason).await
}

/// Resumes a paused tenant: its waiting jobs are claimed again.
pub async fn resume(
    state: &AppState,
    tenant: TenantId,
    actor: &str,
    reason: &str,
) -> Result<(), AppError> {
    let from = (TenantStatus::Paused, TenantStatus::Active);
    change_status(state, tenant, from, "tenant.resumed", actor, reason).await
}

async fn change_status(
    state: &AppState,
    tenant: TenantId,
    (from, to): (TenantStatus, TenantStatus),
    action: &str,
    actor: &str,
    reason: &str,
) -> Result<(), AppError> {
    let audit = entry(tenant, actor, action, reason);
    if state
        .store
        .change_tenant_status(tenant, from, to, &audit)
        .await?
    {
        tracing::info!(tenant.id = %tenant, actor, action, "tenant status changed by support");
        return Ok(());
    }
    match state.store.tenant(tenant).await? {
        None => Err(AppError::NotFound),
        Some(_) if from == TenantStatus::Active => {
            Err(AppError::Conflict("only an active tenant can be paused"))
        }
        Some(_) => Err(AppError::Conflict("the tenant is not paused")),
    }
}

/// Queues the tenant's webhook check now (unique per tenant: one already waiting is kept).
pub async fn check_webhooks(
    state: &AppState,
    tenant: TenantId,
    actor: &str,
    reason: &str,
) -> Result<(), AppError> {
    let job = dealbridge_workflows::webhook_check_job(tenant);
    request(
        state,
        tenant,
        job,
        "webhooks.check_requested",
        actor,
        reason,
    )
    .await
}

/// Queues the tenant's reconcile now (unique per tenant, like the periodic one).
pub async fn reconcile(
    state: &AppState,
    tenant: TenantId,
    actor: &str,
    reason: &str,
) -> Result<(), AppError> {
    let job = dealbridge_workflows::reconcile_job(tenant);
    request(state, tenant, job, "reconcile.requested", actor, reason).await
}

/// The audit entry is written first: a request that fails after it is on record as asked for,
/// never done without a record.
async fn request(
    state: &AppState,
    tenant: TenantId,
    job: NewJob,
    action: &str,
    actor: &str,
    reason: &str,
) -> Result<(), AppError> {
    state
        .store
        .tenant(tenant)
        .await?
        .ok_or(AppError::NotFound)?;
    state
        .store
        .append_audit(&entry(tenant, actor, action, reason))
        .await?;
    state.store.enqueue(&job).await?;
    tracing::info!(tenant.id = %tenant, actor, action, "job requested by support");
    Ok(())
}

fn entry(tenant: TenantId, actor: &str, action: &str, reason: &str) -> NewAuditEntry {
    NewAuditEntry {
        tenant_id: Some(tenant),
        actor: actor.into(),
        action: action.into(),
        detail: serde_json::json!({ "reason": reason }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_trimmed_required_and_bounded() {
        assert_eq!(reason("  runaway import \n").unwrap(), "runaway import");
        assert!(matches!(reason(" \t"), Err(AppError::BadRequest(_))));
        let long = "x".repeat(MAX_REASON_CHARS + 1);
        assert!(matches!(reason(&long), Err(AppError::BadRequest(_))));
        let longest = "é".repeat(MAX_REASON_CHARS);
        assert_eq!(reason(&longest).unwrap(), longest, "characters, not bytes");
    }
}

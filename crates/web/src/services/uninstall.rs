//! Removing an installation, whoever asked: Pipedrive's uninstall notice or the dashboard's
//! Disconnect. Tokens are destroyed at once; the tenant's records are purged on the retention
//! schedule (see the README), not here.

use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::InstallationStatus;
use dealbridge_core::{TenantId, UserId};
use dealbridge_pipedrive::oauth::RevokeKind;
use dealbridge_pipedrive::Lane;
use dealbridge_storage::installation_subject;

use crate::{AppError, AppState};

/// Retires the installation and records why. Returns how many active installations remain.
pub async fn retire(
    state: &AppState,
    tenant_id: TenantId,
    user_id: UserId,
    actor: &str,
    action: &str,
) -> Result<u64, AppError> {
    let remaining = state.store.retire_installation(tenant_id, user_id).await?;
    // Every dashboard session of the user ends now, copies of the cookie included, and stays
    // ended if the app is installed again later.
    state
        .store
        .bump_session_epoch(&installation_subject(tenant_id, user_id))
        .await?;
    let cancelled = if remaining == 0 {
        // The company is gone: nothing queued for it may run any more, and deliveries to its
        // webhook path are refused from now on (Pipedrive drops an app's webhooks on uninstall).
        state.store.delete_webhook_registration(tenant_id).await?;
        state.store.cancel_tenant_jobs(tenant_id).await?
    } else {
        0
    };
    state
        .store
        .append_audit(&NewAuditEntry {
            tenant_id: Some(tenant_id),
            actor: actor.into(),
            action: action.into(),
            detail: serde_json::json!({
                "user_id": user_id,
                "active_installations_left": remaining,
                "jobs_cancelled": cancelled,
            }),
        })
        .await?;
    tracing::info!(tenant.id = %tenant_id, user.id = %user_id, action, "installation retired");
    Ok(remaining)
}

/// The dashboard's Disconnect: revoke the refresh token at Pipedrive (which uninstalls the app for
/// that user there), then retire locally. A failed revoke is logged and does not keep the tokens:
/// the user asked us to let go of them.
pub async fn disconnect(
    state: &AppState,
    tenant_id: TenantId,
    user_id: UserId,
) -> Result<(), AppError> {
    let installation = state
        .store
        .installation(tenant_id, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let tenant = state
        .store
        .tenant(tenant_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if is_last_installation(state, tenant_id).await? {
        remove_webhooks(state, tenant_id, user_id).await;
    }
    if let Some(sealed) = installation.tokens.as_ref() {
        match dealbridge_tokens::open(&state.keys, tenant.company_id, user_id, sealed) {
            Ok(tokens) => {
                if let Err(err) = state
                    .pipedrive
                    .oauth()
                    .revoke(&tokens.refresh_token, RevokeKind::RefreshToken)
                    .await
                {
                    tracing::warn!(tenant.id = %tenant_id, error.cause = %err, "revoke failed; tokens destroyed anyway");
                }
            }
            Err(err) => {
                tracing::warn!(tenant.id = %tenant_id, error.cause = %err, "stored tokens unreadable")
            }
        }
    }
    retire(
        state,
        tenant_id,
        user_id,
        &format!("pipedrive_user:{user_id}"),
        "disconnect",
    )
    .await?;
    Ok(())
}

async fn is_last_installation(state: &AppState, tenant_id: TenantId) -> Result<bool, AppError> {
    let installations = state.store.installations(tenant_id).await?;
    let active = installations
        .iter()
        .filter(|i| i.status == InstallationStatus::Active)
        .count();
    Ok(active <= 1)
}

/// While the user's token still works, deletes the company's webhooks from its Pipedrive (the
/// registration row goes when the installation is retired). A failure is logged and does not stop
/// the disconnect: revoking the token uninstalls the app, which drops its webhooks at Pipedrive.
async fn remove_webhooks(state: &AppState, tenant_id: TenantId, user_id: UserId) {
    let workflows = super::pipedrive_access::workflows(state);
    let removed = match workflows
        .company_client(tenant_id, user_id, Lane::Interactive)
        .await
    {
        Ok(client) => workflows.remove_webhooks(&client, tenant_id).await,
        Err(err) => Err(err),
    };
    match removed {
        Ok(n) => tracing::info!(tenant.id = %tenant_id, webhooks = n, "webhooks removed"),
        Err(err) => {
            tracing::warn!(tenant.id = %tenant_id, error.cause = %err.chain(), "webhooks not removed")
        }
    }
}

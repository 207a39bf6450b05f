//! Forcing a tenant's OAuth token refresh from the console: every active installation's tokens are
//! refreshed now, even if still fresh (support's answer to "Pipedrive says our token is bad").
//! Audited with who, why and how each refresh ended.

use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::InstallationStatus;
use dealbridge_core::TenantId;
use dealbridge_pipedrive::TokenError;
use serde::Serialize;

use crate::services::pipedrive_access;
use crate::{AppError, AppState};

/// How the refreshes ended, one count per outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RefreshOutcome {
    pub refreshed: u32,
    /// Pipedrive refused the refresh token: the installation now waits for a user to reconnect.
    pub needs_reauth: u32,
    /// Pipedrive or the vault could not answer now.
    pub failed: u32,
}

/// `NotFound` for an unknown tenant; `Conflict` when there is nothing to refresh (private mode's
/// API token, or no active OAuth installation); `Unavailable` when every refresh failed for a
/// reason that may pass. Any refresh attempted is audited, whatever its outcome.
pub async fn force(
    state: &AppState,
    tenant: TenantId,
    actor: &str,
    reason: &str,
) -> Result<RefreshOutcome, AppError> {
    state
        .store
        .tenant(tenant)
        .await?
        .ok_or(AppError::NotFound)?;
    if state.private.is_some() {
        return Err(AppError::Conflict(
            "private mode connects with an API token: there is no OAuth token to refresh",
        ));
    }
    let users: Vec<_> = state
        .store
        .installations(tenant)
        .await?
        .into_iter()
        .filter(|i| i.status == InstallationStatus::Active)
        .map(|i| i.user_id)
        .collect();
    if users.is_empty() {
        return Err(AppError::Conflict(
            "the tenant has no active OAuth installation to refresh (uninstalled, or waiting for a user to reconnect)",
        ));
    }
    let vault = pipedrive_access::vault(state);
    let mut outcome = RefreshOutcome::default();
    for user in users {
        match vault.source(tenant, user).force_refresh().await {
            Ok(()) => outcome.refreshed += 1,
            Err(TokenError::NeedsReauth(_)) => outcome.needs_reauth += 1,
            Err(e @ TokenError::Unavailable { .. }) => {
                tracing::warn!(tenant.id = %tenant, user.id = %user, error = %e, "forced refresh failed");
                outcome.failed += 1;
            }
        }
    }
    state
        .store
        .append_audit(&NewAuditEntry {
            tenant_id: Some(tenant),
            actor: actor.into(),
            action: "tokens.refresh_forced".into(),
            detail: serde_json::json!({
                "reason": reason,
                "refreshed": outcome.refreshed,
                "needs_reauth": outcome.needs_reauth,
                "failed": outcome.failed,
            }),
        })
        .await?;
    tracing::info!(tenant.id = %tenant, actor, refreshed = outcome.refreshed, "token refresh forced by support");
    if outcome.refreshed == 0 && outcome.failed > 0 {
        return Err(AppError::Unavailable(
            "Pipedrive did not answer the token refresh; it is in the audit log, try again later"
                .into(),
        ));
    }
    Ok(outcome)
}

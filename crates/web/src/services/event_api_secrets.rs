//! The tenant's event API signing secrets, from the dashboard: created and shown once, rotated
//! with a grace period, revoked at once. Each change is audited; no secret is ever logged or
//! stored in clear.

use chrono::{DateTime, Duration, Utc};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::TenantId;
use dealbridge_crypto::SecretString;
use dealbridge_events::event_api;
use dealbridge_inbox::{seal_secret, SecretRole};
use dealbridge_storage::{EventApiSecret, NewEventApiSecret};
use serde::Serialize;
use uuid::Uuid;

use crate::{AppError, AppState};

/// How long the secrets a rotation replaces keep verifying: a day to deploy the new one.
pub const ROTATION_GRACE: Duration = Duration::hours(24);

/// A secret as the dashboard lists it: never its value.
#[derive(Debug, Serialize)]
pub struct SecretView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `retiring` (valid until `expires_at`), `expired` or `revoked`.
    pub status: &'static str,
}

fn view(secret: &EventApiSecret, now: DateTime<Utc>) -> SecretView {
    let status = match (secret.revoked_at, secret.expires_at) {
        (Some(_), _) => "revoked",
        (None, Some(at)) if at <= now => "expired",
        (None, Some(_)) => "retiring",
        (None, None) => "active",
    };
    SecretView {
        id: secret.id.to_string(),
        created_at: secret.created_at,
        expires_at: secret.expires_at,
        revoked_at: secret.revoked_at,
        status,
    }
}

pub async fn list(state: &AppState, tenant: TenantId) -> Result<Vec<SecretView>, AppError> {
    let now = Utc::now();
    let secrets = state.store.event_api_secrets(tenant).await?;
    Ok(secrets.iter().map(|s| view(s, now)).collect())
}

/// A new secret, sealed and stored; the caller shows it once. With `rotate`, every other active
/// secret keeps working for [`ROTATION_GRACE`], then stops.
pub async fn create(
    state: &AppState,
    tenant: TenantId,
    actor: &str,
    rotate: bool,
) -> Result<(SecretString, Option<DateTime<Utc>>), AppError> {
    let secret = event_api::generate_secret();
    let id = Uuid::now_v7();
    let sealed = seal_secret(&state.keys, SecretRole::EventApiSecret, tenant, id, &secret)
        .map_err(|e| AppError::Internal(e.into()))?;
    let now = Utc::now();
    let retire_at = rotate.then(|| now + ROTATION_GRACE);
    let new = NewEventApiSecret {
        tenant_id: tenant,
        id,
        secret: sealed,
        created_at: now,
    };
    state.store.add_event_api_secret(&new, retire_at).await?;
    let action = if rotate {
        "event_api.secret_rotated"
    } else {
        "event_api.secret_created"
    };
    audit(
        state,
        tenant,
        actor,
        action,
        serde_json::json!({ "secret_id": id, "others_expire_at": retire_at }),
    )
    .await?;
    Ok((secret, retire_at))
}

/// Stops the secret at once. `NotFound` unless it is one of the tenant's.
pub async fn revoke(
    state: &AppState,
    tenant: TenantId,
    id: &str,
    actor: &str,
) -> Result<(), AppError> {
    let id: Uuid = id.parse().map_err(|_| AppError::NotFound)?;
    state
        .store
        .revoke_event_api_secret(tenant, id, Utc::now())
        .await?;
    audit(
        state,
        tenant,
        actor,
        "event_api.secret_revoked",
        serde_json::json!({ "secret_id": id }),
    )
    .await
}

pub(crate) async fn audit(
    state: &AppState,
    tenant: TenantId,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), AppError> {
    state
        .store
        .append_audit(&NewAuditEntry {
            tenant_id: Some(tenant),
            actor: actor.into(),
            action: action.into(),
            detail,
        })
        .await?;
    Ok(())
}

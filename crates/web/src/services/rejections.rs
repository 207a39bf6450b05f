//! Unauthenticated requests that are refused, or that make us call out, must not cost us without
//! bound. Both are counted per client network in the store's attempt counters, so the bounds hold
//! across every instance (an in-process limiter would multiply them by the number of instances):
//!
//! - refusals are audited in aggregate: the 1st, 2nd, 4th, 8th… refusal of one kind from one
//!   network within [`WINDOW`] writes an entry carrying the count so far, so a client hammering
//!   a door adds a handful of rows per window instead of one per request;
//! - callouts (the OAuth code exchange, a Pipedrive `/oauth/token` call) are allowed
//!   [`CALLOUTS_PER_WINDOW`] times per network and window.

use std::time::Duration;

use dealbridge_core::audit::NewAuditEntry;

use crate::{AppError, AppState};

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const CALLOUTS_PER_WINDOW: u32 = 10;

fn window() -> chrono::Duration {
    chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::minutes(15))
}

/// Counts a refusal of `action` from `network` and audits it when the count reaches a power of
/// two. `detail` should say why; the count and the network are added.
pub async fn audit_refusal(
    state: &AppState,
    action: &str,
    network: &str,
    mut detail: serde_json::Value,
) -> Result<(), AppError> {
    let key = format!("refused:{action}:{network}");
    let counted = state
        .store
        .reserve_sign_in_attempt(&key, chrono::Utc::now(), window())
        .await?;
    let count = counted.failures;
    tracing::info!(action, client.network = %network, count, "request refused");
    if !count.is_power_of_two() {
        return Ok(());
    }
    if let Some(fields) = detail.as_object_mut() {
        fields.insert("address".into(), network.into());
        fields.insert("refusals_in_window".into(), count.into());
    }
    state
        .store
        .append_audit(&NewAuditEntry {
            tenant_id: None,
            actor: "unknown".into(),
            action: action.into(),
            detail,
        })
        .await?;
    Ok(())
}

/// Reserves one outgoing call for `network`; `Err(TooManyRequests)` past the limit.
pub async fn reserve_callout(
    state: &AppState,
    purpose: &str,
    network: &str,
) -> Result<(), AppError> {
    let key = format!("callout:{purpose}:{network}");
    let counted = state
        .store
        .reserve_sign_in_attempt(&key, chrono::Utc::now(), window())
        .await?;
    if counted.failures > CALLOUTS_PER_WINDOW {
        return Err(AppError::TooManyRequests(
            "too many attempts from your network; please try again later",
        ));
    }
    Ok(())
}

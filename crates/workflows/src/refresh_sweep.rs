//! `tokens.refresh_sweep` (periodic): refreshes the tokens of installations nobody used lately,
//! so their refresh tokens never reach Pipedrive's idle expiry and installs stay alive.

use std::time::Duration;

use dealbridge_jobs::{JobContext, JobError, Registry};
use dealbridge_tokens::TokenVault;

pub const REFRESH_SWEEP_KIND: &str = "tokens.refresh_sweep";

/// Refresh tokens expire after 60 days unused; refreshing those idle for 30 keeps every install
/// alive with a month to spare.
pub const IDLE_REFRESH_AFTER: chrono::Duration = chrono::Duration::days(30);

/// How often the sweep runs; far shorter than the margin, so a missed run costs nothing.
pub const REFRESH_SWEEP_EVERY: Duration = Duration::from_secs(6 * 60 * 60);

/// Adds the periodic idle-token sweep to `registry`.
pub fn register_refresh_sweep(registry: Registry, vault: TokenVault) -> Registry {
    registry.periodic(
        REFRESH_SWEEP_KIND,
        REFRESH_SWEEP_EVERY,
        move |_: JobContext| {
            let vault = vault.clone();
            async move { refresh_sweep(&vault).await }
        },
    )
}

async fn refresh_sweep(vault: &TokenVault) -> Result<(), JobError> {
    let sweep = vault
        .refresh_idle(IDLE_REFRESH_AFTER)
        .await
        .map_err(JobError::retry)?;
    tracing::info!(
        tokens.idle = sweep.found,
        tokens.refreshed = sweep.refreshed,
        tokens.needs_reauth = sweep.needs_reauth,
        tokens.failed = sweep.failed,
        "idle token sweep"
    );
    Ok(())
}

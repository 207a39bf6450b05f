//! The name of the Pipedrive user who installed, for the dashboard's overview ("Installed by Ada
//! Admin" rather than a number). One `GET /v1/users/{id}` (2 tokens) per installation and
//! [`NAME_TTL`], so most page loads cost no tokens; when Pipedrive cannot be asked the page says
//! the id instead, and the failure is remembered for [`FAILURE_TTL`] so a broken connection is
//! not asked again on every load.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dealbridge_core::{TenantId, UserId};

use super::pipedrive_access::interactive_client;
use crate::AppState;

/// How long a name read from Pipedrive is reused: people rarely rename themselves.
pub const NAME_TTL: Duration = Duration::from_secs(3600);

/// How long a failed read is remembered before asking again.
pub const FAILURE_TTL: Duration = Duration::from_secs(300);

/// An installation: its tenant and installing user.
type Installation = (TenantId, UserId);

/// When a name was read, and the name (`None`: the read failed).
type Answer = (Instant, Option<String>);

/// Names per installation. Shared by every actix worker.
#[derive(Default)]
pub struct InstallerNames {
    entries: Mutex<HashMap<Installation, Answer>>,
}

impl InstallerNames {
    /// `Some(answer)` while the last answer is fresh (a name, or `None` for a failed read).
    fn fresh(&self, key: Installation) -> Option<Option<String>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (at, name) = entries.get(&key)?;
        let ttl = if name.is_some() {
            NAME_TTL
        } else {
            FAILURE_TTL
        };
        (at.elapsed() < ttl).then(|| name.clone())
    }

    fn keep(&self, key: Installation, name: Option<String>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Stale entries of other installations go too, so the map holds only recent visitors.
        entries.retain(|_, (at, _)| at.elapsed() < NAME_TTL);
        entries.insert(key, (Instant::now(), name));
    }
}

/// The installing user's name, or `None` when Pipedrive could not tell us (the page then shows
/// the id). The cause of a failure is logged, never shown.
pub async fn installer_name(state: &AppState, tenant: TenantId, user: UserId) -> Option<String> {
    let key = (tenant, user);
    if let Some(answer) = state.installer_names.fresh(key) {
        return answer;
    }
    let name = read(state, tenant, user).await;
    state.installer_names.keep(key, name.clone());
    name
}

async fn read(state: &AppState, tenant: TenantId, user: UserId) -> Option<String> {
    let client = match interactive_client(state, tenant, user).await {
        Ok(client) => client,
        Err(cause) => {
            tracing::info!(tenant.id = %tenant, error.cause = %cause, "installer name not read");
            return None;
        }
    };
    let id = u64::try_from(user.get()).ok()?;
    match client.users().get(id).await {
        Ok(found) => found.name.or(found.email).filter(|n| !n.trim().is_empty()),
        Err(err) => {
            tracing::info!(tenant.id = %tenant, error.cause = %err, "installer name not read");
            None
        }
    }
}

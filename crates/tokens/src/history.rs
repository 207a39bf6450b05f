//! Each refresh sent to the OAuth server, written to the store for the support console's tenant
//! timeline. Written right after the refresh's own write: a store failure in between loses the
//! entry (logged), never the refresh, which matters more.

use chrono::Utc;
use dealbridge_core::{ErrorChain, TenantId, UserId};
use dealbridge_storage::{NewTokenRefresh, RefreshOutcome, Store};

/// Enough of the OAuth server's or the transport's message to tell one failure from another.
const MAX_REASON_CHARS: usize = 300;

pub(crate) async fn record(
    store: &dyn Store,
    tenant_id: TenantId,
    user_id: UserId,
    outcome: RefreshOutcome,
    reason: Option<String>,
) {
    let refresh = NewTokenRefresh {
        tenant_id,
        user_id,
        outcome,
        reason: reason.map(|r| r.chars().take(MAX_REASON_CHARS).collect()),
        at: Utc::now(),
    };
    if let Err(e) = store.record_token_refresh(&refresh).await {
        tracing::warn!(
            tenant.id = %tenant_id,
            user.id = %user_id,
            outcome = outcome.as_str(),
            error = %ErrorChain(&e),
            "could not record the token refresh for the timeline"
        );
    }
}

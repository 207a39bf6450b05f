//! The store lease that lets one vault refresh an installation's tokens, as a guard: whatever way
//! the refresh ends, the lease goes back.
//!
//! Releasing is a store call, so it is async and cannot run in `Drop`. The guard therefore has an
//! explicit async [`RefreshLease::release`] that every normal path awaits (so the next refresh
//! finds the lease free at once), and a `Drop` fallback for the paths that never reach it (the
//! refreshing future was cancelled, or panicked): it spawns the release on the current runtime.
//! Only without a runtime is the lease left to end by itself after its time-to-live.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dealbridge_core::installation::SealedTokens;
use dealbridge_core::{ErrorChain, TenantId, UserId};
use dealbridge_storage::{Store, StoreError, StoreResult};

/// One installation's refresh lease, held by this vault until released or ended by the store.
pub(crate) struct RefreshLease {
    store: Arc<dyn Store>,
    tenant_id: TenantId,
    user_id: UserId,
    holder: String,
    /// False once the lease is released, or the store ended it (stored tokens, marked reauth).
    held: bool,
}

impl RefreshLease {
    /// Takes the lease until `until` when nobody else holds it; `None` when someone does.
    pub(crate) async fn take(
        store: &Arc<dyn Store>,
        tenant_id: TenantId,
        user_id: UserId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Option<Self>> {
        let taken = store
            .acquire_refresh_lease(tenant_id, user_id, holder, now, until)
            .await?;
        Ok(taken.then(|| Self {
            store: store.clone(),
            tenant_id,
            user_id,
            holder: holder.to_string(),
            held: true,
        }))
    }

    /// Writes refreshed tokens; the store ends the lease in the same statement. A conflict (the
    /// lease ran out, or the row was reinstalled) means the lease is not ours any more either.
    pub(crate) async fn store_tokens(
        &mut self,
        tokens: &SealedTokens,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let stored = self
            .store
            .store_refreshed_tokens(self.tenant_id, self.user_id, &self.holder, tokens, now)
            .await;
        self.ended_by(&stored);
        stored
    }

    /// Marks the installation `needs_reauth`; the store ends the lease in the same statement.
    pub(crate) async fn mark_needs_reauth(&mut self) -> StoreResult<()> {
        let marked = self
            .store
            .mark_needs_reauth(self.tenant_id, self.user_id, &self.holder)
            .await;
        self.ended_by(&marked);
        marked
    }

    fn ended_by(&mut self, result: &StoreResult<()>) {
        if matches!(result, Ok(()) | Err(StoreError::Conflict(_))) {
            self.held = false;
        }
    }

    /// Gives the lease back now, unless the store already ended it.
    pub(crate) async fn release(mut self) {
        if std::mem::take(&mut self.held) {
            release(&*self.store, self.tenant_id, self.user_id, &self.holder).await;
        }
    }
}

impl Drop for RefreshLease {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        let (store, tenant_id, user_id) = (self.store.clone(), self.tenant_id, self.user_id);
        let holder = std::mem::take(&mut self.holder);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { release(&*store, tenant_id, user_id, &holder).await });
            }
            Err(_) => tracing::warn!(
                tenant.id = %tenant_id,
                user.id = %user_id,
                "refresh lease dropped outside a runtime; it ends by itself after its time-to-live"
            ),
        }
    }
}

async fn release(store: &dyn Store, tenant_id: TenantId, user_id: UserId, holder: &str) {
    if let Err(e) = store
        .release_refresh_lease(tenant_id, user_id, holder)
        .await
    {
        // The lease ends by itself after its time-to-live.
        tracing::warn!(
            tenant.id = %tenant_id,
            user.id = %user_id,
            error = %ErrorChain(&e),
            "could not release the refresh lease"
        );
    }
}

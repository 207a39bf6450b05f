//! `retention.purge`: tenants that left are forgotten a fixed time later. Tokens are destroyed and
//! jobs cancelled at uninstall already; this removes the rest (see the README's data retention).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dealbridge_jobs::{JobContext, JobError, Registry};
use dealbridge_storage::Store;

use crate::errors::store_error;

pub const PURGE_KIND: &str = "retention.purge";

/// When and how the purge runs.
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    /// How long an uninstalled tenant's data is kept (a reinstall within it finds its settings).
    pub keep_after_uninstall: chrono::Duration,
    /// How often the purge looks.
    pub every: Duration,
    /// Tenants per transaction; the purge loops until none is due.
    pub batch: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            keep_after_uninstall: chrono::Duration::days(30),
            every: Duration::from_secs(60 * 60),
            batch: 50,
        }
    }
}

impl RetentionPolicy {
    pub fn register(self, registry: Registry, store: Arc<dyn Store>) -> Registry {
        registry.periodic(PURGE_KIND, self.every, move |_: JobContext| {
            let store = store.clone();
            async move { self.purge(store.as_ref()).await.map(drop) }
        })
    }

    /// Purges every tenant that is due; returns how many.
    pub async fn purge(&self, store: &dyn Store) -> Result<usize, JobError> {
        let before = Utc::now() - self.keep_after_uninstall;
        let mut total = 0;
        loop {
            let purged = store
                .purge_uninstalled(before, self.batch)
                .await
                .map_err(store_error)?;
            for tenant in &purged {
                tracing::info!(
                    tenant = %tenant.tenant_id,
                    company = %tenant.company_id,
                    uninstalled_at = %tenant.uninstalled_at,
                    "purged the data of an uninstalled tenant"
                );
            }
            total += purged.len();
            if purged.len() < self.batch as usize {
                return Ok(total);
            }
        }
    }
}

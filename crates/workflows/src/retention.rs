//! `retention.purge`: tenants that left are forgotten a fixed time later. Tokens are destroyed and
//! jobs cancelled at uninstall already; this removes the rest (see the README's data retention).
//! `retention.events`: finished inbox events, with the journal of their own steps, and the
//! journals of past days' usage notes are deleted once they are older than a fixed time, so the
//! inbox and the journal stay the size of recent traffic. The same job drops the records of calls
//! Pipedrive refused once they are `REFUSALS_KEPT_DAYS` old (a fixed period, as the per-day budget
//! records beside them have).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dealbridge_jobs::{JobContext, JobError, Registry};
use dealbridge_storage::{Store, REFUSALS_KEPT_DAYS};

use crate::errors::store_error;
use crate::flows::USAGE_JOURNAL_PREFIX;

pub const PURGE_KIND: &str = "retention.purge";
pub const PRUNE_EVENTS_KIND: &str = "retention.events";

/// When and how the purge runs.
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    /// How long an uninstalled tenant's data is kept (a reinstall within it finds its settings).
    pub keep_after_uninstall: chrono::Duration,
    /// How often the purge looks.
    pub every: Duration,
    /// Tenants per transaction; the purge loops until none is due.
    pub batch: u32,
    /// How long a finished event and a past day's usage-note journal are kept.
    pub keep_events: chrono::Duration,
    /// Events (or journal steps) per transaction; the prune loops until none is due.
    pub events_batch: u32,
}

/// What one run of `retention.events` deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub events: u64,
    pub day_journals: u64,
    pub refusals: u64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            keep_after_uninstall: chrono::Duration::days(30),
            every: Duration::from_secs(60 * 60),
            batch: 50,
            keep_events: chrono::Duration::days(30),
            events_batch: 1_000,
        }
    }
}

impl RetentionPolicy {
    pub fn register(self, registry: Registry, store: Arc<dyn Store>) -> Registry {
        let prune_store = store.clone();
        registry
            .periodic(PURGE_KIND, self.every, move |_: JobContext| {
                let store = store.clone();
                async move { self.purge(store.as_ref()).await.map(drop) }
            })
            .periodic(PRUNE_EVENTS_KIND, self.every, move |_: JobContext| {
                let store = prune_store.clone();
                async move { self.prune_events(store.as_ref()).await.map(drop) }
            })
    }

    /// Deletes every finished event and past day's usage journal that is due, in batches.
    pub async fn prune_events(&self, store: &dyn Store) -> Result<Pruned, JobError> {
        let before = Utc::now() - self.keep_events;
        let mut pruned = Pruned::default();
        loop {
            let n = store
                .prune_finished_events(before, self.events_batch)
                .await
                .map_err(store_error)?;
            pruned.events += u64::from(n);
            if n < self.events_batch {
                break;
            }
        }
        loop {
            let n = store
                .prune_journal(USAGE_JOURNAL_PREFIX, before, self.events_batch)
                .await
                .map_err(store_error)?;
            pruned.day_journals += u64::from(n);
            if n < self.events_batch {
                break;
            }
        }
        let oldest = Utc::now().date_naive() - chrono::Duration::days(REFUSALS_KEPT_DAYS);
        pruned.refusals = store.prune_refusals(oldest).await.map_err(store_error)?;
        if pruned != Pruned::default() {
            tracing::info!(
                events = pruned.events,
                day_journals = pruned.day_journals,
                refusals = pruned.refusals,
                "pruned finished events and past days' journals"
            );
        }
        Ok(pruned)
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

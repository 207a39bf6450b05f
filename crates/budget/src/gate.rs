//! The job queue's budget gate, answered from the shared Pipedrive budget ledger: a tenant's queue
//! is claimed for only while its company has budget left for that lane, so jobs that could only be
//! deferred by the Pipedrive client stay queued instead of holding a worker.
//!
//! The gate is a pre-filter, not the limit: every call still reserves from the ledger before it
//! is sent. So answers may lag the ledger by a cache lifetime without ever overspending.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::installation::InstallationStatus;
use dealbridge_core::tenant::TenantStatus;
use dealbridge_core::{ErrorChain, TenantId};
use dealbridge_jobs::{Admission, BudgetGate, Lane};
use dealbridge_pipedrive::ledger::{Clock, TokioClock};
use dealbridge_pipedrive::{BudgetLedger, BudgetStatus, CompanyId, LedgerError};
use dealbridge_storage::{Store, StoreError};

use crate::ledger_lane;

/// Tunables of [`LedgerGate`].
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// How long a tenant's company and installation state is reused. Installs, uninstalls and
    /// re-authorisations are seen within this.
    pub tenant_ttl: Duration,
    /// How long a company's budget status is reused. A claim pass asks for every ready queue, and
    /// passes come every few milliseconds under load: one store read per company per this.
    pub status_ttl: Duration,
    /// When a tenant without a usable installation (re-authorisation needed, uninstalled, paused,
    /// missing) is asked about again.
    pub recheck: Duration,
    /// Tokens a typical job spends; turns remaining tokens into a number of jobs.
    pub job_cost: u64,
    /// Jobs admitted per ask when the budget cannot be read.
    pub error_allowance: u32,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            tenant_ttl: Duration::from_secs(10),
            status_ttl: Duration::from_millis(500),
            recheck: Duration::from_secs(30),
            job_cost: 10,
            error_allowance: 1,
        }
    }
}

/// Whether a tenant's jobs can reach Pipedrive, as last read from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Company(CompanyId),
    /// No active installation, but one whose refresh token was refused: its jobs wait for the
    /// user to install again instead of failing.
    NeedsReauth,
    /// Missing, paused or uninstalled, or no installation left. Uninstall cancels the jobs; until
    /// then (or a reinstall) they wait.
    Unusable,
}

#[derive(Debug, thiserror::Error)]
enum GateError {
    #[error("reading the tenant")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// A [`BudgetGate`] backed by the shared [`BudgetLedger`].
pub struct LedgerGate {
    store: Arc<dyn Store>,
    ledger: Arc<dyn BudgetLedger>,
    clock: Arc<dyn Clock>,
    config: GateConfig,
    tenants: Mutex<TtlMap<TenantId, Access>>,
    statuses: Mutex<TtlMap<CompanyId, BudgetStatus>>,
}

impl LedgerGate {
    pub fn new(store: Arc<dyn Store>, ledger: Arc<dyn BudgetLedger>, config: GateConfig) -> Self {
        Self::with_clock(store, ledger, config, Arc::new(TokioClock::new()))
    }

    pub fn with_clock(
        store: Arc<dyn Store>,
        ledger: Arc<dyn BudgetLedger>,
        config: GateConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            ledger,
            clock,
            config,
            tenants: Mutex::new(TtlMap::default()),
            statuses: Mutex::new(TtlMap::default()),
        }
    }

    async fn decide(
        &self,
        tenant_id: TenantId,
        lane: Lane,
        now: DateTime<Utc>,
    ) -> Result<Admission, GateError> {
        let company = match self.access(tenant_id, now).await? {
            Access::Company(company) => company,
            Access::NeedsReauth | Access::Unusable => {
                let until = now
                    .checked_add_signed(to_chrono(self.config.recheck))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                return Ok(Admission::WaitUntil(until));
            }
        };
        let status = self.status(company, now).await?;
        Ok(admission(&status, lane, now, self.config.job_cost))
    }

    async fn access(&self, tenant_id: TenantId, now: DateTime<Utc>) -> Result<Access, GateError> {
        let ttl = to_chrono(self.config.tenant_ttl);
        if let Some(access) = lock(&self.tenants).get(&tenant_id, now, ttl) {
            return Ok(access);
        }
        let access = match self.store.tenant(tenant_id).await? {
            Some(tenant) if tenant.status == TenantStatus::Active => {
                let installations = self.store.installations(tenant_id).await?;
                let has = |status| installations.iter().any(|i| i.status == status);
                if has(InstallationStatus::Active) {
                    // Company ids are positive; the ledger keys budgets by Pipedrive's number.
                    Access::Company(CompanyId(
                        u64::try_from(tenant.company_id.get()).unwrap_or_default(),
                    ))
                } else if has(InstallationStatus::NeedsReauth) {
                    Access::NeedsReauth
                } else {
                    Access::Unusable
                }
            }
            _ => Access::Unusable,
        };
        lock(&self.tenants).insert(tenant_id, access, now, ttl);
        Ok(access)
    }

    async fn status(
        &self,
        company: CompanyId,
        now: DateTime<Utc>,
    ) -> Result<BudgetStatus, GateError> {
        let ttl = to_chrono(self.config.status_ttl);
        if let Some(status) = lock(&self.statuses).get(&company, now, ttl) {
            return Ok(status);
        }
        let status = self.ledger.status(company).await?;
        lock(&self.statuses).insert(company, status.clone(), now, ttl);
        Ok(status)
    }
}

#[async_trait]
impl BudgetGate for LedgerGate {
    async fn admit(&self, tenant_id: TenantId, lane: Lane) -> Admission {
        let now = self.clock.now();
        match self.decide(tenant_id, lane, now).await {
            Ok(admission) => admission,
            // Admitting a little is safe: the ledger refuses every call it cannot reserve for,
            // so no budget is overspent, and the jobs retry. Waiting instead would stall every
            // tenant's work on one slow budget read; a down store stops claims by itself.
            Err(e) => {
                tracing::warn!(
                    tenant.id = %tenant_id,
                    error = %ErrorChain(&e),
                    "budget gate could not read the budget; admitting a little work"
                );
                Admission::Ready {
                    allowance: self.config.error_allowance,
                }
            }
        }
    }
}

/// What a company's standing allows a lane. Pure, so every branch is tested without a store.
fn admission(status: &BudgetStatus, lane: Lane, now: DateTime<Utc>, job_cost: u64) -> Admission {
    if let Some(until) = status.exhausted_until.filter(|until| *until > now) {
        return Admission::WaitUntil(until);
    }
    let Some(limit) = status.daily_limit else {
        // Nothing to ration yet: the ledger learns the limit from the first daily 429, and
        // marks the company exhausted then.
        return Admission::Ready {
            allowance: u32::MAX,
        };
    };
    let left = limit.saturating_sub(status.spent);
    let usable = if ledger_lane(lane).is_priority() {
        left
    } else {
        left.saturating_sub(status.priority_reserve)
    };
    if usable == 0 {
        return Admission::WaitUntil(status.resets_at);
    }
    let jobs = (usable / job_cost.max(1)).max(1);
    Admission::Ready {
        allowance: u32::try_from(jobs).unwrap_or(u32::MAX),
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Entries older than their lifetime read as missing. Expired entries are dropped when the map
/// grows past `PRUNE_AT`, so tenants that stopped having work do not pile up.
struct TtlMap<K, V> {
    entries: HashMap<K, (DateTime<Utc>, V)>,
}

const PRUNE_AT: usize = 4_096;

impl<K, V> Default for TtlMap<K, V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    fn get(&self, key: &K, now: DateTime<Utc>, ttl: chrono::Duration) -> Option<V> {
        let (at, value) = self.entries.get(key)?;
        (now.signed_duration_since(*at) < ttl).then(|| value.clone())
    }

    fn insert(&mut self, key: K, value: V, now: DateTime<Utc>, ttl: chrono::Duration) {
        if self.entries.len() >= PRUNE_AT {
            self.entries
                .retain(|_, (at, _)| now.signed_duration_since(*at) < ttl);
        }
        self.entries.insert(key, (now, value));
    }
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;

//! The budget gate: asked, before a claim, whether a tenant's lane may start work now. The
//! Pipedrive client owns the budgets (per-company token buckets); this crate only needs the answer.
//! A tenant without budget is simply not claimed for: its jobs stay queued and hold no worker.

#[cfg(feature = "test-util")]
use std::collections::HashMap;
#[cfg(feature = "test-util")]
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;
use dealbridge_storage::Lane;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// May start up to `allowance` jobs now (what its remaining budget covers).
    Ready { allowance: u32 },
    /// Out of budget until then; the worker will not ask again before.
    WaitUntil(DateTime<Utc>),
}

#[async_trait]
pub trait BudgetGate: Send + Sync + 'static {
    async fn admit(&self, tenant_id: TenantId, lane: Lane) -> Admission;
}

/// Every tenant may always run (tests, and installs without the Pipedrive budget wired in).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

#[async_trait]
impl BudgetGate for Unlimited {
    async fn admit(&self, _: TenantId, _: Lane) -> Admission {
        Admission::Ready {
            allowance: u32::MAX,
        }
    }
}

/// Admissions set by hand, per tenant; tenants not set are unlimited. A test double (feature
/// `test-util`).
#[cfg(feature = "test-util")]
#[derive(Debug, Default)]
pub struct ManualBudget {
    admissions: Mutex<HashMap<TenantId, Admission>>,
}

#[cfg(feature = "test-util")]
impl ManualBudget {
    pub fn set(&self, tenant_id: TenantId, admission: Admission) {
        if let Ok(mut admissions) = self.admissions.lock() {
            admissions.insert(tenant_id, admission);
        }
    }

    pub fn clear(&self, tenant_id: TenantId) {
        if let Ok(mut admissions) = self.admissions.lock() {
            admissions.remove(&tenant_id);
        }
    }
}

#[cfg(feature = "test-util")]
#[async_trait]
impl BudgetGate for ManualBudget {
    async fn admit(&self, tenant_id: TenantId, _: Lane) -> Admission {
        let admission = self
            .admissions
            .lock()
            .ok()
            .and_then(|a| a.get(&tenant_id).copied());
        admission.unwrap_or(Admission::Ready {
            allowance: u32::MAX,
        })
    }
}

//! The budget gate: asked, before a claim, whether a tenant's lane may start work now. The
//! Pipedrive client owns the budgets (per-company token buckets); this crate only needs the answer.
//! A tenant without budget is simply not claimed for: its jobs stay queued and hold no worker.

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

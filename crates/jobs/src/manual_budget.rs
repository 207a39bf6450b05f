//! A budget gate set by hand: a test double (feature `test-util`), for this crate's tests and
//! other crates' dev-dependencies.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use dealbridge_core::TenantId;
use dealbridge_storage::Lane;

use crate::budget::{Admission, BudgetGate};

/// Admissions set by hand, per tenant; tenants not set are unlimited. A test double (feature
/// `test-util`).
#[derive(Debug, Default)]
pub struct ManualBudget {
    admissions: Mutex<HashMap<TenantId, Admission>>,
}

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

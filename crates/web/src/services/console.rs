//! The support console's pages, beyond one tenant's health: the tenants list with each company's
//! budget, and what every console page's template needs.

use dealbridge_storage::TenantListQuery;
use serde::Serialize;
use tera::Context;

use crate::services::tenant_health::{self, BudgetView, CountsView};
use crate::staff_session::StaffUser;
use crate::{AppError, AppState};

#[derive(Debug, Serialize)]
pub struct TenantRow {
    pub id: String,
    pub company_id: i64,
    pub company_name: String,
    pub company_domain: String,
    pub status: &'static str,
    pub active_installations: u64,
    pub needs_reauth_installations: u64,
    pub jobs: CountsView,
    pub budget: Option<BudgetView>,
}

/// One page of tenants. The budgets are read concurrently: one ledger read per row.
pub async fn tenant_rows(
    state: &AppState,
    query: &TenantListQuery,
) -> Result<Vec<TenantRow>, AppError> {
    let summaries = state.store.list_tenants(query).await?;
    let budgets = futures::future::join_all(
        summaries
            .iter()
            .map(|s| tenant_health::budget(state, s.tenant.company_id)),
    )
    .await;
    Ok(summaries
        .into_iter()
        .zip(budgets)
        .map(|(s, budget)| TenantRow {
            id: s.tenant.id.to_string(),
            company_id: s.tenant.company_id.get(),
            company_name: s.tenant.company_name,
            company_domain: s.tenant.company_domain,
            status: s.tenant.status.as_str(),
            active_installations: s.active_installations,
            needs_reauth_installations: s.needs_reauth_installations,
            jobs: s.jobs.into(),
            budget,
        })
        .collect())
}

/// One lane of the whole queue, for the tenants page's header.
#[derive(Debug, Serialize)]
pub struct LaneRow {
    pub lane: &'static str,
    pub queued: u64,
    pub running: u64,
    pub dead: u64,
    /// How long the oldest ready job has waited, in words ("—" when none is waiting).
    pub waiting: String,
}

pub async fn queue_rows(state: &AppState) -> Result<Vec<LaneRow>, AppError> {
    let now = chrono::Utc::now();
    Ok(state
        .store
        .queue_overview(now)
        .await?
        .into_iter()
        .map(|l| LaneRow {
            lane: l.lane.as_str(),
            queued: l.counts.queued,
            running: l.counts.running,
            dead: l.counts.dead,
            waiting: l
                .oldest_ready_at
                .map_or_else(|| "—".to_string(), |at| waited(now - at)),
        })
        .collect())
}

fn waited(d: chrono::Duration) -> String {
    match d.num_seconds().max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

/// Who is signed in, with which role, and the form token for the sign-out button in the
/// navigation. `read_only` hides the action buttons a viewer would be refused.
pub fn context(staff: &StaffUser, csrf: &str) -> Context {
    let mut context = Context::new();
    context.insert("staff_email", &staff.email);
    context.insert("staff_role", staff.role.as_str());
    context.insert("read_only", &!staff.role.can_act());
    context.insert("csrf", csrf);
    context
}

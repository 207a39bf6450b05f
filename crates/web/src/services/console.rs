//! The support console's pages, beyond one tenant's health: the tenants list with each company's
//! budget, queue and recent errors, and what every console page's template needs.

use dealbridge_storage::{BudgetUse, TenantListQuery, COUNT_CAP, LIST_COUNT_CAP};
use serde::Serialize;
use tera::Context;

use crate::services::tenant_health;
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
    /// Counts as shown: "1,000+" past the list's cap.
    pub queued: String,
    pub running: String,
    pub dead: String,
    pub has_dead: bool,
    pub errors_24h: String,
    pub has_errors: bool,
    pub budget: Option<BudgetUseView>,
}

/// Today's share of the company's daily Pipedrive budget.
#[derive(Debug, Serialize)]
pub struct BudgetUseView {
    pub spent: String,
    pub daily_limit: Option<String>,
    /// Whole percent of the daily limit, when it is known.
    pub percent: Option<u64>,
    pub exhausted_until: Option<String>,
}

impl From<BudgetUse> for BudgetUseView {
    fn from(budget: BudgetUse) -> Self {
        Self {
            spent: thousands(budget.spent),
            daily_limit: budget.daily_limit.map(thousands),
            percent: budget
                .daily_limit
                .filter(|l| *l > 0)
                .map(|l| budget.spent.saturating_mul(100) / l),
            exhausted_until: budget.exhausted_until.map(tenant_health::when),
        }
    }
}

/// One page of tenants, with every figure from the one directory query (no read per tenant).
pub async fn tenant_rows(
    state: &AppState,
    query: &TenantListQuery,
) -> Result<Vec<TenantRow>, AppError> {
    let summaries = state.store.list_tenants(query).await?;
    Ok(summaries
        .into_iter()
        .map(|s| TenantRow {
            id: s.tenant.id.to_string(),
            company_id: s.tenant.company_id.get(),
            company_name: s.tenant.company_name,
            company_domain: s.tenant.company_domain,
            status: s.tenant.status.as_str(),
            active_installations: s.active_installations,
            needs_reauth_installations: s.needs_reauth_installations,
            queued: capped_at(s.jobs.queued, LIST_COUNT_CAP),
            running: capped_at(s.jobs.running, LIST_COUNT_CAP),
            dead: capped_at(s.jobs.dead, LIST_COUNT_CAP),
            has_dead: s.jobs.dead > 0,
            errors_24h: capped_at(s.errors_24h, LIST_COUNT_CAP),
            has_errors: s.errors_24h > 0,
            budget: s.budget.map(BudgetUseView::from),
        })
        .collect())
}

/// A count the store capped: "10,000+" once past `COUNT_CAP`, else the number with separators.
pub fn capped(n: u64) -> String {
    capped_at(n, COUNT_CAP)
}

/// A count the store capped at `cap`: "1,000+" past a cap of 1,000.
pub fn capped_at(n: u64, cap: u64) -> String {
    if n > cap {
        format!("{}+", thousands(cap))
    } else {
        thousands(n)
    }
}

/// `1234567` as "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One lane of the whole queue, for the tenants page's header. Counts as shown, to the list's
/// cap ("1,000+"): the header is a glance beside the list, and each count walks an index up to
/// its cap (10 ms for three lanes at 10,000 against 2 ms at 1,000, with a million jobs). The exact
/// depth per lane is in `/metrics`.
#[derive(Debug, Serialize)]
pub struct LaneRow {
    pub lane: &'static str,
    pub queued: String,
    pub running: String,
    pub dead: String,
    pub has_dead: bool,
    /// How long the oldest ready job has waited, in words ("—" when none is waiting).
    pub waiting: String,
}

pub async fn queue_rows(state: &AppState) -> Result<Vec<LaneRow>, AppError> {
    let now = chrono::Utc::now();
    Ok(state
        .store
        .queue_overview_capped(now, LIST_COUNT_CAP)
        .await?
        .into_iter()
        .map(|l| LaneRow {
            lane: l.lane.as_str(),
            queued: capped_at(l.counts.queued, LIST_COUNT_CAP),
            running: capped_at(l.counts.running, LIST_COUNT_CAP),
            dead: capped_at(l.counts.dead, LIST_COUNT_CAP),
            has_dead: l.counts.dead > 0,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_with_separators_and_stop_at_the_cap() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(capped(COUNT_CAP), "10,000");
        assert_eq!(capped(COUNT_CAP + 1), "10,000+");
        assert_eq!(capped_at(LIST_COUNT_CAP, LIST_COUNT_CAP), "1,000");
        assert_eq!(capped_at(LIST_COUNT_CAP + 1, LIST_COUNT_CAP), "1,000+");
    }

    #[test]
    fn the_budget_share_is_a_whole_percent_of_a_known_limit() {
        let view = BudgetUseView::from(BudgetUse {
            spent: 7_500,
            daily_limit: Some(30_000),
            exhausted_until: None,
        });
        assert_eq!(view.percent, Some(25));
        assert_eq!(view.daily_limit.as_deref(), Some("30,000"));
        let unknown = BudgetUseView::from(BudgetUse {
            spent: 10,
            daily_limit: None,
            exhausted_until: None,
        });
        assert_eq!(unknown.percent, None);
    }
}

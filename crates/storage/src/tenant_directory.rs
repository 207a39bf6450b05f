//! The support console's list of tenants: every company, with the counts support looks at first,
//! read in one query per page rather than several per tenant.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::tenant::Tenant;
use dealbridge_core::CompanyId;

use crate::{JobCounts, StoreResult};

/// Job counts stop here: past it a page says "10,000+" rather than count a million rows.
pub const COUNT_CAP: u64 = 10_000;

/// The tenants list's counts stop sooner: a page of 50 tenants reads up to five counts each, and
/// in a list "1,000+" flags a backlog as well as an exact figure would; the tenant's own page
/// counts to `COUNT_CAP`. At a million jobs this halves the list's query (10 to 5 ms).
pub const LIST_COUNT_CAP: u64 = 1_000;

/// What support filters the list by. The four are disjoint: a tenant waiting for a user to
/// reconnect is `NeedsReauth`, not `Active`, whether or not it is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantState {
    /// Active, and no installation waits for a reconnect.
    Active,
    /// Not uninstalled, and at least one installation's refresh token was refused.
    NeedsReauth,
    /// Paused by support, and no installation waits for a reconnect.
    Paused,
    Uninstalled,
}

impl TenantState {
    pub const ALL: [TenantState; 4] = [
        TenantState::Active,
        TenantState::NeedsReauth,
        TenantState::Paused,
        TenantState::Uninstalled,
    ];

    /// As it appears in the console's `?state=`.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantState::Active => "active",
            TenantState::NeedsReauth => "needs-reauth",
            TenantState::Paused => "paused",
            TenantState::Uninstalled => "uninstalled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One page of tenants, ordered by Pipedrive company id (stable and unique, so it is the cursor).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantListQuery {
    /// Start after this company (the last one of the previous page).
    pub after: Option<CompanyId>,
    /// Case-insensitive substring of the company name or domain; `%` and `_` match themselves.
    pub search: Option<String>,
    pub state: Option<TenantState>,
    pub limit: u32,
    /// Errors count from 24 hours before this; a budget period that ended by then counts as
    /// nothing spent today.
    pub now: DateTime<Utc>,
}

/// Today's Pipedrive budget of the tenant's company as the shared ledger holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetUse {
    /// Tokens charged this period, including blocks instances have leased and not yet used.
    pub spent: u64,
    /// Configured, or else learned from Pipedrive's refusal; `None` when neither is known.
    pub daily_limit: Option<u64>,
    pub exhausted_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TenantSummary {
    pub tenant: Tenant,
    pub active_installations: u64,
    pub needs_reauth_installations: u64,
    /// Queued, running and dead are capped at `LIST_COUNT_CAP + 1`.
    pub jobs: JobCounts,
    /// Jobs that failed in the 24 hours before the query's `now`: dead ones, and those waiting
    /// for a retry. Capped at `LIST_COUNT_CAP + 1`.
    pub errors_24h: u64,
    /// `None` while the ledger has no row for the company (nothing was ever spent).
    pub budget: Option<BudgetUse>,
}

#[async_trait]
pub trait TenantDirectory: Send + Sync + 'static {
    async fn list_tenants(&self, query: &TenantListQuery) -> StoreResult<Vec<TenantSummary>>;
}

/// The search text as a `LIKE` pattern with `\` as the escape character.
pub fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn wildcards_in_the_search_match_literally() {
        assert_eq!(like_pattern("acme"), "%acme%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}

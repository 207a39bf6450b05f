//! The support console's list of tenants: every company, with the counts support looks at first,
//! read in one query per page rather than several per tenant.

use async_trait::async_trait;
use dealbridge_core::tenant::Tenant;
use dealbridge_core::CompanyId;

use crate::{JobCounts, StoreResult};

/// One page of tenants, ordered by Pipedrive company id (stable and unique, so it is the cursor).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantListQuery {
    /// Start after this company (the last one of the previous page).
    pub after: Option<CompanyId>,
    /// Case-insensitive substring of the company name or domain; `%` and `_` match themselves.
    pub search: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TenantSummary {
    pub tenant: Tenant,
    pub active_installations: u64,
    pub needs_reauth_installations: u64,
    pub jobs: JobCounts,
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

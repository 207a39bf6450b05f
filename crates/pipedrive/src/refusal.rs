//! One call Pipedrive refused (401 or 429), as the ledger is told of it so support can see each
//! one on the tenant's timeline. It names the operation, never the request itself: the path is
//! the operation's template with every id as `{id}` and no query string, so no record id, search
//! term or token can be in it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ledger::{CompanyId, UserId};

/// Which of Pipedrive's limits a 429 was for, as far as the response tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusedLimit {
    /// The token's 2-second burst window.
    Burst,
    /// The search window (the call was a search; its burst window may have been the one).
    Search,
    /// The company's daily token budget.
    DailyBudget,
    /// The token's writes for the UTC day (`x-daily-requests-left` at 0).
    DailyWrites,
}

impl RefusedLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Burst => "burst",
            Self::Search => "search",
            Self::DailyBudget => "daily_budget",
            Self::DailyWrites => "daily_writes",
        }
    }
}

/// A call Pipedrive answered 401 (token refused) or 429 (rate limited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedCall {
    pub company: CompanyId,
    pub user: UserId,
    pub at: DateTime<Utc>,
    pub status: u16,
    pub method: &'static str,
    /// See [`call_path`].
    pub path: String,
    /// The `Retry-After` (or rate-limit reset) Pipedrive sent, if any.
    pub retry_after: Option<Duration>,
    /// For a 429, which limit.
    pub limit: Option<RefusedLimit>,
}

/// `path` as a record may keep it: no query string or fragment, and every segment that is a
/// template parameter (`{channel-id}`) or looks like an id (any segment with a digit in it, the
/// API version's `v1`/`v2` excepted) as `{id}`. Operation templates pass through with only their parameter names
/// unified; a concrete path loses its ids.
pub fn call_path(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split('/')
        .map(|segment| {
            let parameter = segment.starts_with('{') && segment.ends_with('}');
            let version = segment
                .strip_prefix('v')
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            if parameter || (!version && segment.chars().any(|c| c.is_ascii_digit())) {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::call_path;

    #[test]
    fn ids_queries_and_tokens_never_stay_in_a_path() {
        assert_eq!(call_path("/api/v2/deals/{id}"), "/api/v2/deals/{id}");
        assert_eq!(
            call_path("/api/v1/channels/{channel-id}/conversations/{conversation-id}"),
            "/api/v1/channels/{id}/conversations/{id}"
        );
        assert_eq!(
            call_path("/api/v1/persons/123/followers?api_token=s3cret&term=ada"),
            "/api/v1/persons/{id}/followers"
        );
        assert_eq!(
            call_path("/api/v2/deals/9b2f6c1e-2d3a-4b5c-8d7e-0f1a2b3c4d5e#x"),
            "/api/v2/deals/{id}"
        );
        assert_eq!(
            call_path("/api/v2/persons/search"),
            "/api/v2/persons/search"
        );
    }
}

//! The support console's audit-log search: filters and a keyset cursor, so the hundredth page
//! costs what the first does.

use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;

/// Every filter is optional; those given must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries older than this id (the last one of the previous page).
    pub before: Option<i64>,
    pub tenant_id: Option<TenantId>,
    /// The actor exactly as recorded (`staff:ana@example.com`, `user:42`, `cli:ops`).
    pub actor: Option<String>,
    /// An action, or the start of one: `tenant.` matches `tenant.paused` and `tenant.resumed`.
    pub action_prefix: Option<String>,
    /// Entries written at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Entries written before this time.
    pub until: Option<DateTime<Utc>>,
    pub limit: u32,
}

/// The prefix as a `LIKE` pattern with `\` as the escape character.
pub fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = crate::like_pattern(prefix);
    // `like_pattern` wraps in `%...%`; a prefix keeps only the trailing one.
    pattern.remove(0);
    pattern
}

#[cfg(test)]
mod tests {
    use super::prefix_pattern;

    #[test]
    fn a_prefix_matches_from_the_start_and_literally() {
        assert_eq!(prefix_pattern("tenant."), "tenant.%");
        assert_eq!(prefix_pattern("a_b"), "a\\_b%");
    }
}

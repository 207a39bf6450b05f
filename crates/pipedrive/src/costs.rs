//! Token cost of each Pipedrive operation, from the `x-token-cost` annotations of the official
//! OpenAPI files. The table itself is generated (see `cost_table.rs` and the crate README);
//! this module only looks things up.

use crate::cost_table::COSTS;

/// One operation: HTTP method and the path template as the client sends it (`/api/v1/...` or
/// `/api/v2/...`, parameters as `{name}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
}

impl Operation {
    pub const fn new(method: &'static str, path: &'static str) -> Self {
        Self { method, path }
    }

    /// The operation's `x-token-cost`, `None` when the spec has no such operation.
    pub fn cost(&self) -> Option<u32> {
        cost_of(self.method, self.path)
    }

    /// Search endpoints also count against the search limit (10 per 2 s per token).
    pub fn is_search(&self) -> bool {
        self.path
            .rsplit('/')
            .next()
            .is_some_and(|last| last == "search")
            || self.path.contains("/itemSearch")
    }
}

/// Every operation in the table, in table order (sorted by path, then method).
pub fn all() -> impl Iterator<Item = (Operation, u32)> {
    COSTS
        .iter()
        .map(|(method, path, cost)| (Operation::new(method, path), *cost))
}

/// Cost of `method` on `path_template`; the table is sorted so this is a binary search.
pub fn cost_of(method: &str, path_template: &str) -> Option<u32> {
    COSTS
        .binary_search_by(|(m, p, _)| (*p, *m).cmp(&(path_template, method)))
        .ok()
        .and_then(|i| COSTS.get(i))
        .map(|(_, _, cost)| *cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique_so_binary_search_is_valid() {
        for pair in COSTS.windows(2) {
            let [(m1, p1, _), (m2, p2, _)] = pair else {
                continue;
            };
            assert!((p1, m1) < (p2, m2), "{m1} {p1} not before {m2} {p2}");
        }
    }

    #[test]
    fn known_costs_from_the_facts_sheet() {
        assert_eq!(cost_of("GET", "/api/v2/deals"), Some(10));
        assert_eq!(cost_of("GET", "/api/v2/deals/{id}"), Some(1));
        assert_eq!(cost_of("POST", "/api/v2/deals"), Some(5));
        assert_eq!(cost_of("PATCH", "/api/v2/deals/{id}"), Some(5));
        assert_eq!(cost_of("DELETE", "/api/v2/deals/{id}"), Some(3));
        assert_eq!(cost_of("GET", "/api/v2/persons/search"), Some(20));
        assert_eq!(cost_of("GET", "/api/v1/users/me"), Some(2));
        assert_eq!(cost_of("POST", "/api/v1/notes"), Some(10));
        assert_eq!(cost_of("DELETE", "/api/v1/webhooks/{id}"), Some(6));
        assert_eq!(cost_of("GET", "/api/v2/nothing"), None);
    }

    #[test]
    fn search_detection() {
        assert!(Operation::new("GET", "/api/v2/persons/search").is_search());
        assert!(Operation::new("GET", "/api/v2/itemSearch/field").is_search());
        assert!(!Operation::new("GET", "/api/v2/persons/{id}").is_search());
    }
}

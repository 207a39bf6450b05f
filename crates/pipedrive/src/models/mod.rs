//! Request and response models, written from the official OpenAPI schemas. They are this
//! crate's own: the sandbox has separate models, so a serialisation bug cannot hide on both
//! sides of a test.
//!
//! Responses keep fields they do not name in `extra`, so nothing Pipedrive sends is lost when
//! a job passes an entity on.

mod entities;
mod misc;

pub use entities::*;
pub use misc::*;

use serde::{Deserialize, Serialize};

/// One page of a cursor-paginated list; `next_cursor` is `None` on the last page.
#[derive(Debug, Clone, PartialEq)]
pub struct CursorPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// One page of an offset-paginated v1 list; `next_start` is `None` on the last page.
#[derive(Debug, Clone, PartialEq)]
pub struct OffsetPage<T> {
    pub items: Vec<T>,
    pub next_start: Option<u64>,
}

/// v2 delete answer: the id that was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub id: u64,
}

/// Filters and paging for v2 lists. Filters are passed through by name (`owner_id`,
/// `updated_since`, `ids`, `sort_by`, ...), as the spec lists them per entity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub cursor: Option<String>,
    /// Page size; Pipedrive's default is 100, maximum 500.
    pub limit: Option<u32>,
    pub filters: Vec<(&'static str, String)>,
}

impl ListQuery {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn filter(mut self, name: &'static str, value: impl ToString) -> Self {
        self.filters.push((name, value.to_string()));
        self
    }

    pub(crate) fn into_pairs(self) -> Vec<(&'static str, String)> {
        let mut pairs = self.filters;
        if let Some(cursor) = self.cursor {
            pairs.push(("cursor", cursor));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        pairs
    }
}

/// A v2 search: `term` (at least 2 characters, or 1 with `exact_match`), the fields to search,
/// and entity-specific filters such as `organization_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub term: String,
    /// Subset of the entity's searchable fields, e.g. `["email"]` for persons.
    pub fields: Vec<String>,
    pub exact_match: bool,
    pub page: ListQuery,
}

impl SearchQuery {
    pub fn new(term: impl Into<String>) -> Self {
        Self {
            term: term.into(),
            ..Self::default()
        }
    }

    pub fn fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fields = fields.into_iter().map(Into::into).collect();
        self
    }

    pub fn exact(mut self, exact: bool) -> Self {
        self.exact_match = exact;
        self
    }

    pub(crate) fn into_pairs(self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("term", self.term)];
        if !self.fields.is_empty() {
            pairs.push(("fields", self.fields.join(",")));
        }
        if self.exact_match {
            pairs.push(("exact_match", "true".into()));
        }
        pairs.extend(self.page.into_pairs());
        pairs
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SearchHit<T> {
    pub result_score: f64,
    pub item: T,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchData<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<SearchHit<T>>,
}

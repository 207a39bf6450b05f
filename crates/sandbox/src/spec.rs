//! Per-operation facts taken from Pipedrive's OpenAPI files: token cost and accepted OAuth scopes.
//! The table in `spec_table.rs` is generated from the vendored YAML by `tests/spec_table.rs`, which
//! fails when the two differ, so costs are never typed by hand and the hot path never parses YAML.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Which of Pipedrive's two API files an operation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    V1,
    V2,
}

/// One operation of the official files.
#[derive(Debug)]
pub struct SpecOp {
    pub api: Api,
    pub method: &'static str,
    /// Path template as written in the file, e.g. `/deals/{id}`.
    pub path: &'static str,
    /// `x-token-cost`.
    pub cost: u32,
    /// OAuth scopes of which a token needs any one (the file's `oauth2` security list).
    pub scopes: &'static [&'static str],
}

type Index = HashMap<(Api, &'static str, &'static str), &'static SpecOp>;

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        crate::spec_table::OPS
            .iter()
            .map(|op| ((op.api, op.method, op.path), op))
            .collect()
    })
}

/// Looks an operation up by file, method and path template.
pub fn lookup(api: Api, method: &str, path: &str) -> Option<&'static SpecOp> {
    // A shared map reference is covariant in its key, so borrowed keys of any lifetime work.
    let index: &HashMap<(Api, &str, &str), &'static SpecOp> = index();
    index.get(&(api, method, path)).copied()
}

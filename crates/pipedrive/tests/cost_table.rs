//! The committed cost table must equal what the official OpenAPI files say.
//!
//! Spec folder: `$PIPEDRIVE_OPENAPI_DIR` when set, else the sandbox's vendored copies in
//! `../sandbox/openapi/`. With neither present the comparison is skipped with a printed notice.
//!
//! Regenerate: `PIPEDRIVE_REGENERATE_COSTS=1 cargo test -p dealbridge-pipedrive --test cost_table`
//! rewrites `src/cost_table.rs` from the spec files.

// Integration tests are their own crate, which `allow-unwrap-in-tests` does not reach
// (rust-clippy#13981).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write as _;

use std::path::{Path, PathBuf};

use serde_norway::Value;

const HTTP_METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn spec_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PIPEDRIVE_OPENAPI_DIR") {
        return Some(PathBuf::from(dir));
    }
    let vendored = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sandbox/openapi");
    vendored.join("v1.yaml").is_file().then_some(vendored)
}

/// (path, METHOD) → cost for one spec file, paths prefixed the way the client sends them.
fn costs_from(spec: &Path, prefix: &str, into: &mut BTreeMap<(String, String), u64>) {
    let text = std::fs::read_to_string(spec).unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
    let doc: Value = serde_norway::from_str(&text).unwrap();
    let paths = doc.get("paths").and_then(Value::as_mapping).expect("paths");
    for (path, item) in paths {
        let path = path.as_str().expect("path is a string");
        // The OAuth operations live on the OAuth host and are not metered (cost 0).
        if path.starts_with("/oauth") {
            continue;
        }
        for method in HTTP_METHODS {
            let Some(op) = item.get(method) else { continue };
            let cost = op
                .get("x-token-cost")
                .and_then(Value::as_u64)
                .unwrap_or_else(|| panic!("{method} {path} has no x-token-cost"));
            let key = (format!("{prefix}{path}"), method.to_uppercase());
            assert!(
                into.insert(key, cost).is_none(),
                "duplicate {method} {path}"
            );
        }
    }
}

fn generate(dir: &Path) -> String {
    let mut costs = BTreeMap::new();
    costs_from(&dir.join("v1.yaml"), "/api/v1", &mut costs);
    costs_from(&dir.join("v2.yaml"), "/api/v2", &mut costs);
    let mut out = String::from(
        "// @generated from the official Pipedrive OpenAPI files (`x-token-cost` of every operation\n\
         // except the unmetered /oauth ones). Do not edit by hand: see the crate README,\n\
         // \"Cost table\", for the command that regenerates it. Sorted by (path, method).\n\n\
         // One line per operation keeps diffs of a regenerated table readable.\n\
         #[rustfmt::skip]\n\
         pub(crate) static COSTS: &[(&str, &str, u32)] = &[\n",
    );
    for ((path, method), cost) in &costs {
        out.push_str(&format!("    ({method:?}, {path:?}, {cost}),\n"));
    }
    out.push_str("];\n");
    out
}

#[test]
fn cost_table_matches_the_openapi_files() {
    let Some(dir) = spec_dir() else {
        // Written to stderr directly: libtest captures `println!` of passing tests, and a
        // skipped comparison must be visible in the plain test output.
        let _ = writeln!(
            std::io::stderr(),
            "cost table check SKIPPED: no spec files (set PIPEDRIVE_OPENAPI_DIR or vendor \
             crates/sandbox/openapi/)"
        );
        return;
    };
    println!("cost table check against {}", dir.display());
    let generated = generate(&dir);
    let table = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cost_table.rs");
    if std::env::var_os("PIPEDRIVE_REGENERATE_COSTS").is_some() {
        std::fs::write(&table, &generated).unwrap();
        println!("regenerated {}", table.display());
        return;
    }
    let committed = std::fs::read_to_string(&table).unwrap();
    assert!(
        committed == generated,
        "src/cost_table.rs differs from the OpenAPI files; regenerate it with \
         PIPEDRIVE_REGENERATE_COSTS=1 cargo test -p dealbridge-pipedrive --test cost_table"
    );
}

//! Regenerates `src/spec_table.rs` from the vendored OpenAPI files and fails on any difference, so
//! the token costs and scopes the sandbox charges are always those of Pipedrive's published files.
//! Set `SANDBOX_REGEN_SPEC_TABLE=1` to rewrite the file after replacing the YAML.

use serde_norway::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn ops_of(api: &str, file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{}/openapi/{file}", env!("CARGO_MANIFEST_DIR")))
        .expect("vendored spec");
    let doc: Value = serde_norway::from_str(&text).expect("valid YAML");
    let paths = doc["paths"].as_mapping().expect("paths");
    let mut rows = Vec::new();
    for (path, item) in paths {
        let path = path.as_str().expect("path key");
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let cost = op["x-token-cost"]
                .as_u64()
                .expect("every operation has x-token-cost");
            let mut scopes: Vec<String> = Vec::new();
            if let Some(security) = op.get("security").and_then(Value::as_sequence) {
                for req in security {
                    if let Some(list) = req.get("oauth2").and_then(Value::as_sequence) {
                        scopes.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
                    }
                }
            }
            let scopes = scopes
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            rows.push(format!(
                "    SpecOp {{ api: Api::{api}, method: \"{}\", path: {path:?}, cost: {cost}, scopes: &[{scopes}] }},",
                method.to_uppercase()
            ));
        }
    }
    rows
}

fn generate() -> String {
    let mut rows = ops_of("V1", "v1.yaml");
    rows.extend(ops_of("V2", "v2.yaml"));
    rows.sort();
    let mut out = String::from(
        "//! Generated from openapi/v1.yaml and openapi/v2.yaml by tests/spec_table.rs. Do not edit.\n\n\
         use crate::spec::{Api, SpecOp};\n\n\
         #[rustfmt::skip]\n\
         pub static OPS: &[SpecOp] = &[\n",
    );
    for row in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out.push_str("];\n");
    out
}

#[test]
fn spec_table_matches_vendored_yaml() {
    let path = format!("{}/src/spec_table.rs", env!("CARGO_MANIFEST_DIR"));
    let expected = generate();
    if std::env::var_os("SANDBOX_REGEN_SPEC_TABLE").is_some() {
        std::fs::write(&path, &expected).expect("write table");
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "src/spec_table.rs differs from the vendored OpenAPI files; rerun with SANDBOX_REGEN_SPEC_TABLE=1"
    );
}

//! Checks JSON against the vendored API2Cart OpenAPI 3.1 file: `$ref`s resolved, `anyOf`/`oneOf`
//! satisfied by at least one branch, `type` as a name or a list of names, `required`, and every
//! present property and array item checked recursively.

use std::sync::OnceLock;

use serde_json::Value;

pub fn doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = format!(
            "{}/openapi/api2cart/openapi.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("vendored file")).expect("JSON")
    })
}

fn resolve(mut s: &Value) -> &Value {
    while let Some(r) = s.get("$ref").and_then(Value::as_str) {
        s = r
            .trim_start_matches("#/")
            .split('/')
            .fold(doc(), |node, key| &node[key]);
    }
    s
}

/// The operation object of `method /<name>.json`.
pub fn operation(method: &str, name: &str) -> &'static Value {
    let op = &doc()["paths"][format!("/{name}.json")][method.to_lowercase()];
    assert!(
        op.is_object(),
        "{method} {name} is not in the official file"
    );
    op
}

/// Violations of `body` against the 200 response schema of `method name`.
pub fn check(method: &str, name: &str, body: &Value) -> Vec<String> {
    let schema =
        &operation(method, name)["responses"]["200"]["content"]["application/json"]["schema"];
    let mut errors = Vec::new();
    validate(schema, body, "$", &mut errors);
    errors
}

/// Violations of `body` against the named component schema.
pub fn check_component(name: &str, body: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate(
        &doc()["components"]["schemas"][name],
        body,
        "$",
        &mut errors,
    );
    errors
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    }
}

pub fn validate(schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let s = resolve(schema);
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = s.get(key).and_then(Value::as_array) {
            let misfits: Vec<Vec<String>> = branches
                .iter()
                .map(|b| {
                    let mut e = Vec::new();
                    validate(b, v, at, &mut e);
                    e
                })
                .collect();
            if !misfits.iter().any(Vec::is_empty) {
                // The branch whose type fits says what is wrong (a `null` branch's complaint is
                // only that the value is not null).
                let closest = misfits
                    .into_iter()
                    .max_by_key(|e| !e.iter().any(|m| m.starts_with(&format!("{at}: expected"))))
                    .unwrap_or_default();
                errors.push(format!("{at}: fits no branch of {key}: {closest:?}"));
                return;
            }
        }
    }
    let types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() && !types.iter().any(|t| type_ok(t, v)) {
        errors.push(format!("{at}: expected {types:?}, got {v}"));
        return;
    }
    if let (Some(req), Some(obj)) = (s.get("required").and_then(Value::as_array), v.as_object()) {
        for r in req.iter().filter_map(Value::as_str) {
            if !obj.contains_key(r) {
                errors.push(format!("{at}: missing required {r}"));
            }
        }
    }
    if let (Some(props), Some(obj)) = (
        s.get("properties").and_then(Value::as_object),
        v.as_object(),
    ) {
        for (name, sub) in props {
            if let Some(child) = obj.get(name) {
                validate(sub, child, &format!("{at}.{name}"), errors);
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, child) in arr.iter().enumerate() {
            validate(items, child, &format!("{at}[{i}]"), errors);
        }
    }
}

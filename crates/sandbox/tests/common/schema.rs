//! Checks JSON responses against the response schemas of the vendored OpenAPI files: `$ref`s are
//! resolved, `allOf` parts merged, and every present value must have the declared type (null only
//! where `nullable`), every `required` property must be present, and string enums must match.

use std::sync::OnceLock;

use serde_json::Value;

fn load(file: &str) -> Value {
    let path = format!("{}/openapi/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("vendored spec");
    serde_norway::from_str(&text).expect("spec parses")
}

pub fn doc(v2: bool) -> &'static Value {
    static V1: OnceLock<Value> = OnceLock::new();
    static V2: OnceLock<Value> = OnceLock::new();
    if v2 {
        V2.get_or_init(|| load("v2.yaml"))
    } else {
        V1.get_or_init(|| load("v1.yaml"))
    }
}

fn resolve<'a>(doc: &'a Value, mut s: &'a Value) -> &'a Value {
    while let Some(r) = s.get("$ref").and_then(Value::as_str) {
        s = r
            .trim_start_matches("#/")
            .split('/')
            .fold(doc, |node, key| &node[key]);
    }
    s
}

/// The operation object for `method path` (path as templated in the file).
pub fn operation(v2: bool, method: &str, path: &str) -> &'static Value {
    let d = doc(v2);
    let op = &d["paths"][path][method.to_lowercase()];
    assert!(
        op.is_object(),
        "{method} {path} is not in the official file"
    );
    op
}

pub fn token_cost(v2: bool, method: &str, path: &str) -> u64 {
    operation(v2, method, path)["x-token-cost"]
        .as_u64()
        .expect("x-token-cost")
}

/// Validates `body` against the response schema for `status`; returns the list of violations.
pub fn check(v2: bool, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
    let d = doc(v2);
    let op = operation(v2, method, path);
    let response = resolve(d, &op["responses"][status.to_string()]);
    assert!(
        response.is_object(),
        "{method} {path} documents no {status} response"
    );
    let schema = &response["content"]["application/json"]["schema"];
    let mut errors = Vec::new();
    validate(d, schema, body, "$", &mut errors);
    errors
}

fn merged<'a>(doc: &'a Value, s: &'a Value, out: &mut Vec<&'a Value>) {
    let s = resolve(doc, s);
    out.push(s);
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        for p in parts {
            merged(doc, p, out);
        }
    }
}

fn validate(doc: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let mut parts = Vec::new();
    merged(doc, schema, &mut parts);
    // Some fields document null in prose only (v2 `next_cursor`: "will be `null` if you have
    // reached the end"); the prose is part of the official file, so it counts as `nullable`.
    let nullable = parts.iter().any(|p| {
        p["nullable"] == Value::Bool(true)
            || p["description"]
                .as_str()
                .is_some_and(|d| d.contains("will be `null`"))
    });
    if v.is_null() {
        if !nullable && parts.iter().any(|p| p.get("type").is_some()) {
            errors.push(format!("{at}: null but not nullable"));
        }
        return;
    }
    for p in &parts {
        if let Some(t) = p.get("type").and_then(Value::as_str) {
            let ok = match t {
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "string" => v.is_string(),
                "boolean" => v.is_boolean(),
                "array" => v.is_array(),
                "object" => v.is_object(),
                _ => true,
            };
            if !ok {
                errors.push(format!("{at}: expected {t}, got {v}"));
                return;
            }
        }
        if let (Some(values), Some(s)) = (p.get("enum").and_then(Value::as_array), v.as_str()) {
            if !values.iter().any(|e| e.as_str() == Some(s)) {
                errors.push(format!("{at}: {s:?} not in enum"));
            }
        }
        if let Some(req) = p.get("required").and_then(Value::as_array) {
            for r in req.iter().filter_map(Value::as_str) {
                if v.get(r).is_none() {
                    errors.push(format!("{at}: missing required {r}"));
                }
            }
        }
        if let (Some(props), Some(obj)) = (
            p.get("properties").and_then(Value::as_object),
            v.as_object(),
        ) {
            for (name, sub) in props {
                if let Some(child) = obj.get(name) {
                    validate(doc, sub, child, &format!("{at}.{name}"), errors);
                }
            }
        }
        if let (Some(items), Some(arr)) = (p.get("items"), v.as_array()) {
            for (i, child) in arr.iter().enumerate() {
                validate(doc, items, child, &format!("{at}[{i}]"), errors);
            }
        }
    }
}

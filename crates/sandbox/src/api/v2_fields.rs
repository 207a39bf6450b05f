//! v2 search (`term`, `fields`, `exact_match`) and the custom fields API (40-hex `field_code`).

use actix_web::http::StatusCode;
use serde_json::{json, Map, Value};

use super::v2::{decode_cursor, encode_cursor, limit};
use super::{Call, Reply};
use crate::error::ApiError;
use crate::world::entities::{EntityKind, Kind};
use crate::world::World;

/// `field_type` values a create accepts (request schema of `POST /dealFields`).
const FIELD_TYPES: [&str; 16] = [
    "varchar",
    "text",
    "double",
    "phone",
    "date",
    "daterange",
    "time",
    "timerange",
    "set",
    "enum",
    "varchar_auto",
    "address",
    "monetary",
    "org",
    "people",
    "user",
];

fn text_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.to_lowercase()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| text_of(x, out)),
        Value::Object(o) => o.values().for_each(|x| text_of(x, out)),
        _ => {}
    }
}

/// Texts of a row the `fields` selection searches in.
fn haystack(row: &Map<String, Value>, fields: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for f in fields {
        let key = match *f {
            "email" => "emails",
            "phone" => "phones",
            other => other,
        };
        if let Some(v) = row.get(key) {
            text_of(v, &mut out);
        }
    }
    out
}

fn score(texts: &[String], term: &str, exact: bool) -> Option<f64> {
    let best = texts.iter().filter_map(|t| {
        if t == term {
            Some(1.0)
        } else if exact {
            None
        } else if t.starts_with(term) {
            Some(0.8)
        } else if t.contains(term) {
            Some(0.5)
        } else {
            None
        }
    });
    best.fold(None, |acc: Option<f64>, s| {
        Some(acc.map_or(s, |a| a.max(s)))
    })
}

fn search_item(world: &World, company_id: u64, kind: EntityKind, r: &Map<String, Value>) -> Value {
    let owner = json!({ "id": r.get("owner_id") });
    let names = |k: &str, id: Option<&Value>| -> Value {
        let id = id.and_then(Value::as_u64);
        let rec = id.and_then(|id| {
            world
                .companies
                .get(&company_id)?
                .store
                .get(
                    match k {
                        "person" => EntityKind::Person,
                        _ => EntityKind::Organization,
                    },
                    id,
                )
                .ok()
        });
        rec.map_or(Value::Null, |p| json!({ "id": p["id"], "name": p["name"] }))
    };
    let texts = |key: &str| -> Vec<Value> {
        r.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("value").cloned())
            .collect()
    };
    match kind {
        EntityKind::Deal => json!({
            "id": r["id"], "type": "deal", "title": r["title"],
            "value": r["value"].as_f64().unwrap_or(0.0) as i64, "currency": r["currency"],
            "status": r["status"], "visible_to": r["visible_to"], "owner": owner,
            "stage": { "id": r["stage_id"] }, "person": names("person", r.get("person_id")),
            "organization": names("org", r.get("org_id")), "custom_fields": [], "notes": [],
            "is_archived": r["is_archived"],
        }),
        EntityKind::Person => json!({
            "id": r["id"], "type": "person", "name": r["name"], "phones": texts("phones"),
            "emails": texts("emails"), "visible_to": r["visible_to"], "owner": owner,
            "organization": names("org", r.get("org_id")), "custom_fields": [], "notes": [],
        }),
        _ => json!({
            "id": r["id"], "type": "organization", "name": r["name"], "visible_to": r["visible_to"],
            "owner": owner, "custom_fields": [], "notes": [],
        }),
    }
}

pub fn search(world: &mut World, kind: EntityKind, call: &Call<'_>) -> Reply {
    let exact = call.query.get("exact_match").is_some_and(|v| v == "true");
    let term = call
        .query
        .get("term")
        .map(|t| t.trim().to_lowercase())
        .unwrap_or_default();
    if term.chars().count() < if exact { 1 } else { 2 } {
        return Err(ApiError::bad_request(
            "Validation failed: term: must be at least 2 characters (1 with exact_match)",
        ));
    }
    let allowed = kind.search_fields();
    let fields: Vec<&str> = match call.query.get("fields") {
        Some(f) => f.split(',').map(str::trim).collect(),
        None => allowed.to_vec(),
    };
    if let Some(bad) = fields.iter().find(|f| !allowed.contains(f)) {
        return Err(ApiError::bad_request(format!(
            "Validation failed: fields: unknown field {bad}"
        )));
    }
    let org_filter = call
        .query
        .get("organization_id")
        .and_then(|v| v.parse::<u64>().ok());
    let limit = limit(call)?;
    let offset = decode_cursor(call.query.get("cursor"))?;
    let company = world
        .companies
        .get(&call.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    let mut hits: Vec<(f64, &Map<String, Value>)> = company
        .store
        .rows(kind)
        .filter(|r| org_filter.is_none_or(|o| r.get("org_id").and_then(Value::as_u64) == Some(o)))
        .filter_map(|r| score(&haystack(r, &fields), &term, exact).map(|s| (s, r)))
        .collect();
    hits.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1["id"].as_u64().cmp(&b.1["id"].as_u64()))
    });
    let more = hits.len() > offset + limit;
    let items: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(s, r)| json!({ "result_score": s, "item": search_item(world, call.company_id, kind, r) }))
        .collect();
    let next = more.then(|| encode_cursor(offset + limit));
    let body = json!({ "success": true, "data": { "items": items }, "additional_data": { "next_cursor": next } });
    Ok((StatusCode::OK, body))
}

fn system_field(kind: Kind, name: &str) -> Value {
    let field_type = match kind {
        Kind::Int => "int",
        Kind::Num => "double",
        Kind::Bool | Kind::Flag => "boolean",
        Kind::Arr | Kind::Obj => "json",
        Kind::Str => "varchar",
    };
    json!({
        "field_name": name, "field_code": name, "field_type": field_type, "options": null,
        "subfields": null, "is_custom_field": false, "is_optional_response_field": false,
    })
}

pub fn list(world: &mut World, kind: EntityKind, call: &Call<'_>) -> Reply {
    let company = world
        .companies
        .get(&call.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    let mut all: Vec<Value> = kind
        .fields()
        .iter()
        .map(|f| system_field(f.kind, f.name))
        .collect();
    all.extend(
        company
            .store
            .custom_fields
            .get(&kind)
            .cloned()
            .unwrap_or_default(),
    );
    let limit = limit(call)?;
    let offset = decode_cursor(call.query.get("cursor"))?;
    let more = all.len() > offset + limit;
    let page: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    let next = more.then(|| encode_cursor(offset + limit));
    let body = json!({ "success": true, "data": page, "additional_data": { "next_cursor": next } });
    Ok((StatusCode::OK, body))
}

pub fn get(world: &mut World, kind: EntityKind, call: &Call<'_>) -> Reply {
    let code = call.params.first().copied().unwrap_or_default();
    let company = world
        .companies
        .get(&call.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    let mut custom = company.store.custom_fields.get(&kind).into_iter().flatten();
    let found = custom
        .find(|f| f["field_code"] == code)
        .cloned()
        .or_else(|| {
            kind.fields()
                .iter()
                .find(|f| f.name == code)
                .map(|f| system_field(f.kind, f.name))
        });
    let data = found.ok_or_else(|| ApiError::not_found("Field not found"))?;
    Ok((StatusCode::OK, json!({ "success": true, "data": data })))
}

pub fn create(world: &mut World, kind: EntityKind, call: &Call<'_>) -> Reply {
    let body = call
        .body
        .as_ref()
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("Request body must be a JSON object"))?;
    let name = body
        .get("field_name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "Validation failed: field_name: Parameter 'field_name' is required",
            )
        })?;
    let field_type = body
        .get("field_type")
        .and_then(Value::as_str)
        .filter(|t| FIELD_TYPES.contains(t))
        .ok_or_else(|| {
            ApiError::bad_request("Validation failed: field_type: must be one of the allowed types")
        })?;
    let mut options = Vec::new();
    if let Some(list) = body.get("options") {
        let list = list
            .as_array()
            .ok_or_else(|| ApiError::bad_request("Validation failed: options"))?;
        for (i, o) in list.iter().enumerate() {
            let label = o.get("label").and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad_request("Validation failed: options: label is required")
            })?;
            options.push(json!({ "id": i + 1, "label": label, "color": null, "add_time": null, "update_time": null }));
        }
    }
    let field_code = world.hex(40);
    let options = matches!(field_type, "enum" | "set").then_some(options);
    let field = json!({
        "field_name": name, "field_code": field_code,
        "description": body.get("description").and_then(Value::as_str).unwrap_or(""),
        "field_type": field_type, "options": options, "subfields": null,
        "is_custom_field": true, "is_optional_response_field": false,
        "ui_visibility": { "add_visible_flag": true, "details_visible_flag": true },
        "important_fields": { "enabled": false, "stage_ids": [] },
        "required_fields": { "enabled": false, "stage_ids": [] },
    });
    let company = world
        .companies
        .get_mut(&call.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    company
        .store
        .custom_fields
        .entry(kind)
        .or_default()
        .push(field.clone());
    Ok((StatusCode::OK, json!({ "success": true, "data": field })))
}

/// Custom field values in webhook v2 form: `{type, value}` (FACTS §4.3).
pub fn webhook_form(world: &World, company_id: u64, kind: EntityKind, mut data: Value) -> Value {
    let defs = world
        .companies
        .get(&company_id)
        .and_then(|c| c.store.custom_fields.get(&kind));
    if let (Some(Value::Object(custom)), Some(defs)) = (data.get_mut("custom_fields"), defs) {
        for (code, value) in custom.iter_mut() {
            let t = defs
                .iter()
                .find(|d| d["field_code"] == code.as_str())
                .map(|d| d["field_type"].clone());
            if !value.is_null() {
                *value = json!({ "type": t, "value": value.clone() });
            }
        }
    }
    data
}

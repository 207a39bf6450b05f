//! Per-company record storage and the generic create/read/update/delete/list/search rules that
//! deals, persons, organizations, activities, pipelines, stages and notes share.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::entities::{Dflt, EntityKind, Kind};
use crate::clock::{rfc3339, v1_time};
use crate::error::ApiError;

/// A stored record: field name to JSON value.
pub type Row = Map<String, Value>;

#[derive(Debug, Default)]
pub struct Table {
    next_id: u64,
    pub rows: BTreeMap<u64, Map<String, Value>>,
}

/// One company's records and custom field definitions.
#[derive(Debug, Default)]
pub struct Store {
    pub tables: HashMap<EntityKind, Table>,
    /// Custom field definitions in v2 form, per entity kind.
    pub custom_fields: HashMap<EntityKind, Vec<Value>>,
}

/// Filters shared by the v2 list endpoints (FACTS §3.3).
#[derive(Debug, Default)]
pub struct ListQuery {
    pub ids: Option<Vec<u64>>,
    /// Equality filters on integer fields, e.g. `owner_id`, `pipeline_id`.
    pub equals: Vec<(&'static str, i64)>,
    pub status: Option<String>,
    pub updated_since: Option<String>,
    pub updated_until: Option<String>,
    pub sort_by: String,
    pub descending: bool,
}

const DEFAULT_STAGES: [&str; 5] = [
    "Qualified",
    "Contact Made",
    "Demo Scheduled",
    "Proposal Made",
    "Negotiations Started",
];

fn format_time(kind: EntityKind, now_ms: i64) -> String {
    if kind.is_v1() {
        v1_time(now_ms)
    } else {
        rfc3339(now_ms)
    }
}

fn kind_ok(kind: Kind, v: &Value) -> bool {
    match kind {
        Kind::Int => v.is_i64() || v.is_u64(),
        Kind::Num => v.is_number(),
        Kind::Str => v.is_string(),
        Kind::Bool => v.is_boolean(),
        Kind::Flag => v.is_boolean() || v.as_u64().is_some_and(|n| n <= 1),
        Kind::Arr => v.is_array(),
        Kind::Obj => v.is_object(),
    }
}

impl Store {
    /// A new company starts like a new Pipedrive account: one pipeline with five stages.
    pub fn new(now_ms: i64) -> Self {
        let mut store = Store::default();
        // These bodies are valid by construction, so creation cannot fail.
        let seed = json!({ "name": "Pipeline" });
        let _ = store.create(EntityKind::Pipeline, &seed, 0, now_ms);
        for (i, name) in DEFAULT_STAGES.iter().enumerate() {
            let body = json!({ "name": name, "pipeline_id": 1, "order_nr": i + 1 });
            let _ = store.create(EntityKind::Stage, &body, 0, now_ms);
        }
        store
    }

    fn table(&mut self, kind: EntityKind) -> &mut Table {
        self.tables.entry(kind).or_default()
    }

    pub fn rows(&self, kind: EntityKind) -> impl Iterator<Item = &Map<String, Value>> {
        self.tables
            .get(&kind)
            .into_iter()
            .flat_map(|t| t.rows.values())
    }

    /// Checks a create or update body: an object, known writable fields of the right JSON type,
    /// and custom field codes that exist.
    fn validate(&self, kind: EntityKind, body: &Value, create: bool) -> Result<(), ApiError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::bad_request("Request body must be a JSON object"))?;
        if create {
            for name in kind.required() {
                if obj.get(*name).is_none_or(Value::is_null) {
                    return Err(ApiError::bad_request(format!(
                        "Validation failed: {name}: Parameter '{name}' is required"
                    )));
                }
            }
        }
        for def in kind.fields().iter().filter(|d| d.writable) {
            match obj.get(def.name) {
                Some(Value::Null) if def.nullable || !create => {}
                Some(v) if !kind_ok(def.kind, v) => {
                    return Err(ApiError::bad_request(format!(
                        "Validation failed: {}: Parameter '{}' must be {:?}",
                        def.name, def.name, def.kind
                    )));
                }
                _ => {}
            }
        }
        if let Some(custom) = obj.get("custom_fields") {
            self.validate_custom(kind, custom)?;
        }
        Ok(())
    }

    fn validate_custom(&self, kind: EntityKind, custom: &Value) -> Result<(), ApiError> {
        let Some(map) = custom.as_object().filter(|_| kind.has_custom_fields()) else {
            return Err(ApiError::bad_request("custom_fields must be an object"));
        };
        let defs = self.custom_fields.get(&kind);
        for (code, value) in map {
            let def = defs
                .and_then(|d| d.iter().find(|f| f["field_code"] == code.as_str()))
                .ok_or_else(|| ApiError::bad_request(format!("Unknown custom field: {code}")))?;
            if !value.is_null() && !custom_value_ok(def["field_type"].as_str(), value) {
                return Err(ApiError::bad_request(format!(
                    "Validation failed: custom_fields.{code}: wrong value type"
                )));
            }
        }
        Ok(())
    }

    pub fn create(
        &mut self,
        kind: EntityKind,
        body: &Value,
        user_id: u64,
        now_ms: i64,
    ) -> Result<Map<String, Value>, ApiError> {
        self.validate(kind, body, true)?;
        let now = format_time(kind, now_ms);
        let table = self.table(kind);
        table.next_id += 1;
        let id = table.next_id;
        let mut row = Map::new();
        for def in kind.fields() {
            let given = body.get(def.name).filter(|_| def.writable).cloned();
            let value = given.unwrap_or(match def.default {
                Dflt::Null => Value::Null,
                Dflt::Zero => json!(0),
                Dflt::False => json!(false),
                Dflt::True => json!(true),
                Dflt::Empty => json!([]),
                Dflt::Int(n) => json!(n),
                Dflt::Str(s) => json!(s),
                Dflt::Now => json!(now),
                Dflt::User => json!(user_id),
            });
            row.insert(def.name.to_owned(), value);
        }
        row.insert("id".into(), json!(id));
        if kind.has_custom_fields() {
            let custom = body.get("custom_fields").cloned().unwrap_or(json!({}));
            row.insert("custom_fields".into(), custom);
        }
        normalize_flags(kind, &mut row);
        table.rows.insert(id, row.clone());
        Ok(row)
    }

    pub fn get(&self, kind: EntityKind, id: u64) -> Result<&Map<String, Value>, ApiError> {
        self.tables
            .get(&kind)
            .and_then(|t| t.rows.get(&id))
            .ok_or_else(|| ApiError::not_found(format!("{} not found", kind.title())))
    }

    /// Applies an update; returns the new row and the previous values of the changed fields.
    pub fn update(
        &mut self,
        kind: EntityKind,
        id: u64,
        body: &Value,
        now_ms: i64,
    ) -> Result<(Row, Row), ApiError> {
        self.get(kind, id)?;
        self.validate(kind, body, false)?;
        let now = format_time(kind, now_ms);
        let row = self
            .table(kind)
            .rows
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(format!("{} not found", kind.title())))?;
        let mut previous = Map::new();
        for def in kind.fields().iter().filter(|d| d.writable) {
            if let Some(v) = body.get(def.name) {
                if row.get(def.name) != Some(v) {
                    let old = row.insert(def.name.to_owned(), v.clone());
                    previous.insert(def.name.to_owned(), old.unwrap_or(Value::Null));
                }
            }
        }
        if let Some(Value::Object(custom)) = body.get("custom_fields") {
            let old = row.get("custom_fields").cloned().unwrap_or(json!({}));
            let mut merged = old.as_object().cloned().unwrap_or_default();
            merged.extend(custom.clone());
            if Value::Object(merged.clone()) != old {
                previous.insert("custom_fields".into(), old);
                row.insert("custom_fields".into(), Value::Object(merged));
            }
        }
        normalize_flags(kind, row);
        if !previous.is_empty() {
            let old = row.insert("update_time".into(), json!(now));
            previous.insert("update_time".into(), old.unwrap_or(Value::Null));
        }
        Ok((row.clone(), previous))
    }

    pub fn delete(&mut self, kind: EntityKind, id: u64) -> Result<Map<String, Value>, ApiError> {
        self.table(kind)
            .rows
            .remove(&id)
            .ok_or_else(|| ApiError::not_found(format!("{} not found", kind.title())))
    }

    /// Rows matching a v2 list query, sorted as asked.
    pub fn list(&self, kind: EntityKind, q: &ListQuery) -> Vec<&Map<String, Value>> {
        let mut rows: Vec<_> = self
            .rows(kind)
            .filter(|r| {
                let id = r["id"].as_u64().unwrap_or(0);
                q.ids.as_ref().is_none_or(|ids| ids.contains(&id))
                    && q.equals.iter().all(|(f, v)| r.get(*f) == Some(&json!(v)))
                    && q.status
                        .as_ref()
                        .is_none_or(|s| r.get("status") == Some(&json!(s)))
                    && time_in(r, q.updated_since.as_deref(), q.updated_until.as_deref())
            })
            .collect();
        let key = q.sort_by.as_str();
        rows.sort_by(|a, b| {
            let ord = match key {
                "update_time" | "add_time" => a[key].as_str().cmp(&b[key].as_str()),
                _ => std::cmp::Ordering::Equal,
            };
            ord.then(a["id"].as_u64().cmp(&b["id"].as_u64()))
        });
        if q.descending {
            rows.reverse();
        }
        rows
    }
}

/// RFC 3339 strings in UTC with the same format compare correctly as text.
fn time_in(row: &Map<String, Value>, since: Option<&str>, until: Option<&str>) -> bool {
    let t = row.get("update_time").and_then(Value::as_str).unwrap_or("");
    since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)
}

/// v1 accepts 0/1 for booleans but always answers with true/false.
fn normalize_flags(kind: EntityKind, row: &mut Map<String, Value>) {
    for def in kind.fields().iter().filter(|d| d.kind == Kind::Flag) {
        if let Some(n) = row.get(def.name).and_then(Value::as_u64) {
            row.insert(def.name.to_owned(), json!(n == 1));
        }
    }
}

/// Value shapes per custom field type, as API v2 accepts them.
fn custom_value_ok(field_type: Option<&str>, v: &Value) -> bool {
    match field_type.unwrap_or("varchar") {
        "double" => v.is_number(),
        "monetary" => v.is_number() || v.get("value").is_some_and(Value::is_number),
        "enum" | "user" | "org" | "people" => v.is_u64(),
        "set" => v.as_array().is_some_and(|a| a.iter().all(Value::is_u64)),
        "address" => v.is_string() || v.is_object(),
        "daterange" | "timerange" => v.is_object(),
        _ => v.is_string(),
    }
}

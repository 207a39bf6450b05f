//! Generic v2 record operations (deals, persons, organizations, activities, pipelines, stages),
//! also used for v1 notes whose shape differs only in envelope details.

use actix_web::http::StatusCode;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::{Call, Reply};
use crate::error::ApiError;
use crate::world::entities::EntityKind;
use crate::world::{ListQuery, World};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub fn id_param(call: &Call<'_>) -> Result<u64, ApiError> {
    call.params
        .first()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| ApiError::bad_request("Validation failed: id: must be a positive integer"))
}

/// Cursors are opaque base64 to clients; inside they hold the offset of the next page.
pub fn encode_cursor(offset: usize) -> String {
    B64.encode(format!("offset:{offset}"))
}

pub fn decode_cursor(cursor: Option<&String>) -> Result<usize, ApiError> {
    let Some(c) = cursor else { return Ok(0) };
    B64.decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::bad_request("Invalid cursor"))
}

/// `limit`: default 100, at most 500 (FACTS §3.4).
pub fn limit(call: &Call<'_>) -> Result<usize, ApiError> {
    match call.query.get("limit") {
        None => Ok(100),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::bad_request("Validation failed: limit: must be 1 to 500")),
    }
}

/// A stored row as the API returns it: fields in schema order, nulls only where the official
/// schema allows them, and every custom field code present.
pub fn render(world: &World, company_id: u64, kind: EntityKind, row: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for def in kind.fields() {
        match row.get(def.name) {
            Some(Value::Null) | None if !def.nullable => {}
            Some(v) => {
                out.insert(def.name.to_owned(), v.clone());
            }
            None => {
                out.insert(def.name.to_owned(), Value::Null);
            }
        }
    }
    if kind.has_custom_fields() {
        let given = row.get("custom_fields").and_then(Value::as_object);
        let mut custom = Map::new();
        let defs = world
            .companies
            .get(&company_id)
            .and_then(|c| c.store.custom_fields.get(&kind));
        for def in defs.into_iter().flatten() {
            let code = def["field_code"].as_str().unwrap_or_default();
            let v = given
                .and_then(|g| g.get(code))
                .cloned()
                .unwrap_or(Value::Null);
            custom.insert(code.to_owned(), v);
        }
        out.insert("custom_fields".into(), Value::Object(custom));
    }
    Value::Object(out)
}

fn store<'w>(
    world: &'w mut World,
    call: &Call<'_>,
) -> Result<&'w mut crate::world::Store, ApiError> {
    world
        .companies
        .get_mut(&call.company_id)
        .map(|c| &mut c.store)
        .ok_or_else(ApiError::unauthorized)
}

fn list_query(kind: EntityKind, call: &Call<'_>) -> Result<ListQuery, ApiError> {
    let q = &call.query;
    let mut lq = ListQuery {
        sort_by: "id".into(),
        ..ListQuery::default()
    };
    if let Some(ids) = q.get("ids") {
        let parsed: Option<Vec<u64>> = ids.split(',').map(|s| s.trim().parse().ok()).collect();
        let parsed = parsed.filter(|v| v.len() <= 100);
        lq.ids = Some(parsed.ok_or_else(|| ApiError::bad_request("Validation failed: ids"))?);
    }
    for name in [
        "owner_id",
        "person_id",
        "org_id",
        "pipeline_id",
        "stage_id",
        "deal_id",
    ] {
        if let Some(v) = q.get(name) {
            if kind.fields().iter().any(|f| f.name == name) {
                let n = v
                    .parse()
                    .map_err(|_| ApiError::bad_request(format!("Validation failed: {name}")))?;
                lq.equals.push((name, n));
            }
        }
    }
    lq.status = q.get("status").cloned();
    lq.updated_since = q.get("updated_since").cloned();
    lq.updated_until = q.get("updated_until").cloned();
    if let Some(s) = q.get("sort_by") {
        if !["id", "update_time", "add_time"].contains(&s.as_str()) {
            return Err(ApiError::bad_request("Validation failed: sort_by"));
        }
        lq.sort_by = s.clone();
    }
    lq.descending = match q.get("sort_direction").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(ApiError::bad_request("Validation failed: sort_direction")),
    };
    Ok(lq)
}

pub fn list(world: &mut World, kind: EntityKind, call: &Call<'_>) -> Reply {
    let lq = list_query(kind, call)?;
    let limit = limit(call)?;
    let offset = decode_cursor(call.query.get("cursor"))?;
    let company = world
        .companies
        .get(&call.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    let rows = company.store.list(kind, &lq);
    let more = rows.len() > offset + limit;
    let page: Vec<Value> = rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|r| render(world, call.company_id, kind, r))
        .collect();
    let next = more.then(|| encode_cursor(offset + limit));
    let body = json!({ "success": true, "data": page, "additional_data": { "next_cursor": next } });
    Ok((StatusCode::OK, body))
}

pub fn get(world: &mut World, kind: EntityKind, call: &Call<'_>) -> Reply {
    let id = id_param(call)?;
    let row = store(world, call)?.get(kind, id)?.clone();
    let data = render(world, call.company_id, kind, &row);
    Ok((StatusCode::OK, json!({ "success": true, "data": data })))
}

pub fn create(world: &mut World, kind: EntityKind, call: &Call<'_>) -> Reply {
    let body = call.body.clone().unwrap_or(Value::Null);
    let row = store(world, call)?.create(kind, &body, call.user_id, call.now_ms)?;
    let data = render(world, call.company_id, kind, &row);
    let id = row["id"].as_u64().unwrap_or(0);
    emit(world, call, kind, "create", id, Some(data.clone()), None);
    Ok((StatusCode::OK, json!({ "success": true, "data": data })))
}

pub fn update(world: &mut World, kind: EntityKind, call: &Call<'_>) -> Reply {
    let id = id_param(call)?;
    let body = call.body.clone().unwrap_or(Value::Null);
    let (row, previous) = store(world, call)?.update(kind, id, &body, call.now_ms)?;
    let data = render(world, call.company_id, kind, &row);
    if !previous.is_empty() {
        emit(
            world,
            call,
            kind,
            "change",
            id,
            Some(data.clone()),
            Some(Value::Object(previous)),
        );
    }
    Ok((StatusCode::OK, json!({ "success": true, "data": data })))
}

pub fn delete(world: &mut World, kind: EntityKind, call: &Call<'_>) -> Reply {
    let id = id_param(call)?;
    let old = store(world, call)?.delete(kind, id)?;
    let previous = render(world, call.company_id, kind, &old);
    emit(world, call, kind, "delete", id, None, Some(previous));
    let data = if kind.is_v1() {
        json!(true)
    } else {
        json!({ "id": id })
    };
    Ok((StatusCode::OK, json!({ "success": true, "data": data })))
}

/// Hands the change to the webhook machinery, with custom fields in webhook form.
fn emit(
    world: &mut World,
    call: &Call<'_>,
    kind: EntityKind,
    action: &'static str,
    id: u64,
    data: Option<Value>,
    previous: Option<Value>,
) {
    let host = world
        .companies
        .get(&call.company_id)
        .map(|c| format!("{}.pipedrive.com", c.domain))
        .unwrap_or_default();
    let data = data.map(|d| super::v2_fields::webhook_form(world, call.company_id, kind, d));
    let event = crate::world::Event {
        company_id: call.company_id,
        user_id: call.user_id,
        kind,
        action,
        id,
        data,
        previous,
        host: &host,
    };
    world.emit(event, call.now_ms);
}

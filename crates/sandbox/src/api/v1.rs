//! The v1 operations that have no v2 form: `/users/me`, `/users`, `/users/{id}`,
//! `/activityTypes`, notes listing and webhooks.

use actix_web::http::StatusCode;
use serde_json::{json, Map, Value};

use super::v2::{id_param, render};
use super::{Call, Reply};
use crate::clock::v1_time;
use crate::error::ApiError;
use crate::world::entities::EntityKind;
use crate::world::{User, World};

/// v1 also takes form bodies; numbers and booleans arrive as text and are read back as JSON.
pub fn form_to_json(body: &[u8]) -> Value {
    let mut map = Map::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        let value = match v.as_ref() {
            "true" => json!(true),
            "false" => json!(false),
            s => s.parse::<i64>().map_or_else(|_| json!(s), |n| json!(n)),
        };
        map.insert(k.into_owned(), value);
    }
    Value::Object(map)
}

/// A user as `GET /v1/users` and `/v1/users/me` show it (the spec's `BaseUser`).
fn base_user(user: &User, caller: u64, now_ms: i64) -> Value {
    let created = v1_time(now_ms);
    json!({
        "id": user.id, "name": user.name, "default_currency": "USD", "locale": "en_US",
        "lang": 1, "email": user.email, "phone": null, "activated": true,
        "last_login": created, "created": created, "modified": null,
        "has_created_company": user.id == caller,
        "access": [{ "app": "sales", "admin": user.is_admin, "permission_set_id": "1" }],
        "active_flag": true, "timezone_name": "Europe/London", "timezone_offset": "+00:00",
        "role_id": 1, "icon_url": null, "is_you": user.id == caller, "is_deleted": false,
    })
}

pub fn users_me(world: &mut World, call: &Call<'_>) -> Reply {
    let user = world
        .users
        .get(&call.user_id)
        .ok_or_else(ApiError::unauthorized)?;
    let company = world
        .companies
        .get(&call.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    let mut data = base_user(user, call.user_id, call.now_ms);
    let company_fields = json!({
        "company_id": company.id, "company_name": company.name,
        "company_domain": company.domain, "company_country": "US",
        "company_industry": "Software",
        "language": { "language_code": "en", "country_code": "US" },
    });
    if let (Some(data), Value::Object(more)) = (data.as_object_mut(), company_fields) {
        data.extend(more);
    }
    Ok((StatusCode::OK, json!({ "success": true, "data": data })))
}

/// `GET /v1/users`: every user of the caller's company, in the order they were added.
pub fn users_list(world: &mut World, call: &Call<'_>) -> Reply {
    let company = world
        .companies
        .get(&call.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    let data: Vec<Value> = company
        .user_ids
        .iter()
        .filter_map(|id| world.users.get(id))
        .map(|user| base_user(user, call.user_id, call.now_ms))
        .collect();
    Ok((StatusCode::OK, json!({ "success": true, "data": data })))
}

/// `GET /v1/users/{id}`: one user of the caller's company; a user of another company is as
/// unknown as one that never existed (404, as the spec answers "does not exist or is inaccessible").
pub fn users_get(world: &mut World, call: &Call<'_>) -> Reply {
    let id = id_param(call)?;
    let company = world
        .companies
        .get(&call.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    let user = company
        .user_ids
        .contains(&id)
        .then(|| world.users.get(&id))
        .flatten()
        .ok_or_else(|| ApiError::not_found("User not found"))?;
    let data = base_user(user, call.user_id, call.now_ms);
    Ok((StatusCode::OK, json!({ "success": true, "data": data })))
}

/// The activity types a new Pipedrive account starts with (the spec's example shows `deadline`
/// and `call` in this form); companies here cannot change them.
const ACTIVITY_TYPES: [(&str, &str); 6] = [
    ("Call", "call"),
    ("Meeting", "meeting"),
    ("Task", "task"),
    ("Deadline", "deadline"),
    ("Email", "email"),
    ("Lunch", "lunch"),
];

/// `GET /v1/activityTypes`.
pub fn activity_types(world: &mut World, call: &Call<'_>) -> Reply {
    if !world.companies.contains_key(&call.company_id) {
        return Err(ApiError::unauthorized());
    }
    let data: Vec<Value> = ACTIVITY_TYPES
        .iter()
        .enumerate()
        .map(|(i, (name, key))| {
            json!({
                "id": i + 1, "order_nr": i + 1, "name": name, "key_string": key,
                "icon_key": key, "active_flag": true, "color": "FFFFFF", "is_custom_flag": false,
                "add_time": "2019-10-04 16:24:55", "update_time": "2019-10-04 16:24:55",
            })
        })
        .collect();
    Ok((StatusCode::OK, json!({ "success": true, "data": data })))
}

/// `GET /v1/notes`: filters by the linked record, offset pagination (`start`, `limit`).
pub fn list_notes(world: &mut World, call: &Call<'_>) -> Reply {
    let num = |name: &str| -> Result<Option<u64>, ApiError> {
        call.query
            .get(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::bad_request(format!("Invalid {name}")))
            })
            .transpose()
    };
    let start = num("start")?.unwrap_or(0) as usize;
    let limit = num("limit")?.unwrap_or(100).clamp(1, 500) as usize;
    let mut filters = Vec::new();
    for f in ["deal_id", "person_id", "org_id", "user_id", "project_id"] {
        if let Some(v) = num(f)? {
            filters.push((f, v));
        }
    }
    let company = world
        .companies
        .get(&call.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    let rows: Vec<_> = company
        .store
        .rows(EntityKind::Note)
        .filter(|r| {
            filters
                .iter()
                .all(|(f, v)| r.get(*f).and_then(Value::as_u64) == Some(*v))
        })
        .collect();
    let more = rows.len() > start + limit;
    let page: Vec<Value> = rows
        .into_iter()
        .skip(start)
        .take(limit)
        .map(|r| render(world, call.company_id, EntityKind::Note, r))
        .collect();
    let mut pagination =
        json!({ "start": start, "limit": limit, "more_items_in_collection": more });
    if more {
        pagination["next_start"] = json!(start + limit);
    }
    let body =
        json!({ "success": true, "data": page, "additional_data": { "pagination": pagination } });
    Ok((StatusCode::OK, body))
}

/// Only the calling app's own webhooks are visible to it (FACTS §4.1).
pub fn webhooks_list(world: &mut World, call: &Call<'_>) -> Reply {
    let company = world
        .companies
        .get(&call.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    let data: Vec<Value> = company
        .webhooks
        .values()
        .filter(|w| w.client_id == call.client_id)
        .map(|w| w.to_json(call.company_id))
        .collect();
    Ok((
        StatusCode::OK,
        json!({ "success": true, "status": "ok", "data": data }),
    ))
}

pub fn webhooks_create(world: &mut World, call: &Call<'_>) -> Reply {
    let body = call.body.clone().unwrap_or(Value::Null);
    let data = world.create_webhook(
        call.company_id,
        &call.client_id,
        call.user_id,
        &body,
        call.now_ms,
    )?;
    Ok((
        StatusCode::CREATED,
        json!({ "success": true, "status": "ok", "data": data }),
    ))
}

pub fn webhooks_delete(world: &mut World, call: &Call<'_>) -> Reply {
    let id = id_param(call)?;
    let company = world
        .companies
        .get_mut(&call.company_id)
        .ok_or_else(ApiError::unauthorized)?;
    match company.webhooks.get(&id) {
        Some(w) if w.client_id == call.client_id => {
            company.webhooks.remove(&id);
            Ok((StatusCode::OK, json!({ "success": true, "status": "ok" })))
        }
        _ => Err(ApiError::not_found("Webhook not found")),
    }
}

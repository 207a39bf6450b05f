//! The API: `/api2cart/v1.1/<method>.json`, with `x-api-key` + `x-store-key` and API2Cart's
//! `{return_code, return_message, result, pagination}` envelope. `params`, `response_fields` and
//! `exclude` are accepted and ignored: every documented field the stand-in keeps is returned.

use std::collections::HashMap;

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{records, Store, Webhook, EVENTS, STORE_ID};
use crate::server::Shared;

type Query = HashMap<String, String>;

/// A refused call: its HTTP status, API2Cart return code and message. The stand-in's codes: 1
/// invalid parameter, 2 wrong `x-api-key`, 9 wrong `x-store-key` or lost connection, 7 not found,
/// 6 unknown method (API2Cart's own numbering for these is not published).
struct Refusal(StatusCode, i64, String);

fn refuse(status: StatusCode, code: i64, message: impl Into<String>) -> Refusal {
    Refusal(status, code, message.into())
}

fn invalid(message: impl Into<String>) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, 1, message)
}

fn not_found(what: &str) -> Refusal {
    refuse(StatusCode::NOT_FOUND, 7, format!("{what} not found"))
}

fn envelope(result: Value, pagination: Option<Value>) -> HttpResponse {
    let mut body = json!({ "return_code": 0, "return_message": "", "result": result });
    if let Some(pagination) = pagination {
        body["pagination"] = pagination;
    }
    HttpResponse::Ok().json(body)
}

pub async fn dispatch(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<String>,
    query: web::Query<Query>,
    body: web::Bytes,
) -> HttpResponse {
    let method = path.into_inner();
    match call(&req, &shared, &method, &query, &body) {
        Ok((response, store_key, changed)) => {
            if !changed.is_empty() {
                super::delivery::spawn_events(shared.into_inner(), store_key, changed);
            }
            response
        }
        Err(Refusal(status, code, message)) => HttpResponse::build(status)
            .json(json!({ "return_code": code, "return_message": message, "result": null })),
    }
}

/// The answer, the store it was about, and the changes to deliver as webhooks.
type Called = (
    HttpResponse,
    String,
    Vec<(&'static str, &'static str, Value)>,
);

fn call(
    req: &HttpRequest,
    shared: &Shared,
    method: &str,
    query: &Query,
    body: &[u8],
) -> Result<Called, Refusal> {
    let name = method
        .strip_suffix(".json")
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, 6, "methods are named <method>.json"))?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (api_key, store_key) = (header("x-api-key"), header("x-store-key"));
    let mut stores = shared.api2cart.stores();
    let store = stores
        .get_mut(&store_key)
        .filter(|store| !api_key.is_empty() && store.account_key == api_key);
    let Some(store) = store else {
        let known_account = stores.values().any(|s| s.account_key == api_key);
        return Err(if known_account {
            refuse(StatusCode::UNAUTHORIZED, 9, "Incorrect store key")
        } else {
            refuse(StatusCode::UNAUTHORIZED, 2, "Incorrect API Key")
        });
    };
    if let Some(reason) = &store.lost {
        return Err(refuse(
            StatusCode::OK,
            9,
            format!("Store connection lost: {reason}"),
        ));
    }
    let now = shared.clock.now_ms();
    let http = req.method().clone();
    let mut delivered = Vec::new();
    let response = match (http, name) {
        (Method::GET, "order.list") => list(
            &store.orders,
            query,
            "order",
            "orders_count",
            "create_at",
            "modified_at",
        ),
        (Method::GET, "order.info") => {
            let id = query.get("id").or_else(|| query.get("order_id"));
            info(&store.orders, id, "order")
        }
        (Method::GET, "customer.list") => list(
            &store.customers,
            query,
            "customer",
            "customers_count",
            "created_time",
            "modified_time",
        ),
        (Method::GET, "customer.info") => info(&store.customers, query.get("id"), "customer"),
        (Method::GET, "product.list") => list(
            &store.products,
            query,
            "product",
            "products_count",
            "create_at",
            "modified_at",
        ),
        (Method::GET, "product.info") => info(&store.products, query.get("id"), "product"),
        (Method::PUT, "product.update") => {
            let product = update_product(store, body, now)?;
            delivered.push(("product", "update", product));
            Ok(envelope(json!({ "updated_items": 1 }), None))
        }
        (Method::PUT, "product.price.update") => {
            let product = update_group_prices(store, body, now)?;
            delivered.push(("product", "update", product));
            Ok(envelope(json!({ "updated_items": 1 }), None))
        }
        (Method::GET, "webhook.events") => Ok(envelope(
            json!({ "events": EVENTS.iter().map(|(entity, action)| json!({
                "webhook_name": format!("{entity}.{action}"), "entity": entity, "action": action,
                "filterable_fields": {}
            })).collect::<Vec<_>>() }),
            None,
        )),
        (Method::POST, "webhook.create") => create_webhook(store, body, now),
        (Method::GET, "webhook.list") => Ok(list_webhooks(store, query)),
        (Method::PUT, "webhook.update") => update_webhook(store, body, now),
        (Method::DELETE, "webhook.delete") => {
            let id = query
                .get("id")
                .and_then(|id| id.parse::<u64>().ok())
                .ok_or_else(|| invalid("id is required"))?;
            let before = store.webhooks.len();
            store.webhooks.retain(|hook| hook.id != id);
            if store.webhooks.len() == before {
                return Err(not_found("webhook"));
            }
            Ok(envelope(json!({ "deleted": "true" }), None))
        }
        _ => Err(refuse(
            StatusCode::NOT_FOUND,
            6,
            format!("{} {name} is not served by the sandbox", req.method()),
        )),
    }?;
    Ok((response, store_key, delivered))
}

fn page(query: &Query) -> Result<(usize, usize), Refusal> {
    let number = |name: &str, default: usize| -> Result<usize, Refusal> {
        query.get(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| invalid(format!("{name} must be a number")))
        })
    };
    let start = match query.get("page_cursor").filter(|c| !c.is_empty()) {
        Some(cursor) => cursor
            .strip_prefix("start:")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| invalid("page_cursor is not one this API returned"))?,
        None => number("start", 0)?,
    };
    let count = number("count", 10)?;
    if !(1..=250).contains(&count) {
        return Err(invalid("count must be between 1 and 250"));
    }
    Ok((start, count))
}

/// A `*.list` call: filters by ids and by created/modified windows (`Y-m-d H:i:s`, UTC), pages
/// by `start`/`count` or the `pagination.next` cursor.
fn list(
    records: &[Value],
    query: &Query,
    key: &str,
    count_key: &str,
    created: &str,
    modified: &str,
) -> Result<HttpResponse, Refusal> {
    let (start, count) = page(query)?;
    let bound = |name: &str| -> Result<Option<i64>, Refusal> {
        query
            .get(name)
            .map(|text| {
                records::filter_ms(text)
                    .ok_or_else(|| invalid(format!("{name} must look like 2010-07-29 13:45:52")))
            })
            .transpose()
    };
    let windows = [
        (created, bound("created_from")?, bound("created_to")?),
        (modified, bound("modified_from")?, bound("modified_to")?),
    ];
    let ids: Option<Vec<&str>> = query
        .get("ids")
        .or_else(|| query.get("product_ids"))
        .or_else(|| query.get("order_ids"))
        .map(|ids| ids.split(',').map(str::trim).collect());
    let text_filter = |record: &Value, param: &str, pointer: &str| {
        query.get(param).is_none_or(|want| {
            record.pointer(pointer).and_then(Value::as_str) == Some(want.as_str())
        })
    };
    let matching: Vec<&Value> = records
        .iter()
        .filter(|record| {
            ids.as_ref()
                .is_none_or(|ids| ids.contains(&record["id"].as_str().unwrap_or_default()))
        })
        .filter(|record| {
            windows.iter().all(|(field, from, to)| {
                let at = records::date_ms(record, field);
                from.is_none_or(|from| at.is_some_and(|at| at >= from))
                    && to.is_none_or(|to| at.is_some_and(|at| at <= to))
            })
        })
        .filter(|record| text_filter(record, "customer_email", "/customer/email"))
        .filter(|record| text_filter(record, "customer_id", "/customer/id"))
        .filter(|record| text_filter(record, "order_status", "/status/id"))
        .collect();
    let total = matching.len();
    let page: Vec<Value> = matching
        .into_iter()
        .skip(start)
        .take(count)
        .cloned()
        .collect();
    let next = (start + count < total).then(|| format!("start:{}", start + count));
    let previous = (start > 0).then(|| format!("start:{}", start.saturating_sub(count)));
    Ok(envelope(
        json!({ count_key: total, key: page }),
        Some(json!({ "previous": previous, "next": next })),
    ))
}

fn info(records: &[Value], id: Option<&String>, what: &str) -> Result<HttpResponse, Refusal> {
    let id = id.ok_or_else(|| invalid("id is required"))?;
    records
        .iter()
        .find(|record| record["id"].as_str() == Some(id.as_str()))
        .map(|record| envelope(record.clone(), None))
        .ok_or_else(|| not_found(what))
}

fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| invalid(format!("body: {e}")))
}

#[derive(Deserialize)]
struct ProductUpdate {
    id: String,
    #[serde(default)]
    price: Option<f64>,
    #[serde(default)]
    quantity: Option<f64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

fn product_mut<'a>(store: &'a mut Store, id: &str) -> Result<&'a mut Value, Refusal> {
    store
        .products
        .iter_mut()
        .find(|p| p["id"].as_str() == Some(id))
        .ok_or_else(|| not_found("product"))
}

fn update_product(store: &mut Store, body: &[u8], now: i64) -> Result<Value, Refusal> {
    let update: ProductUpdate = json_body(body)?;
    if update.price.is_some_and(|p| !p.is_finite() || p < 0.0) {
        return Err(invalid("price must be zero or more"));
    }
    if update.quantity.is_some_and(|q| !q.is_finite() || q < 0.0) {
        return Err(invalid("quantity must be zero or more"));
    }
    let product = product_mut(store, &update.id)?;
    if let Some(price) = update.price {
        product["price"] = json!(price);
    }
    if let Some(quantity) = update.quantity {
        product["quantity"] = json!(quantity);
        product["in_stock"] = json!(quantity > 0.0);
    }
    if let Some(name) = update.name {
        product["name"] = json!(name);
    }
    if let Some(description) = update.description {
        product["description"] = json!(description);
    }
    product["modified_at"] = records::date(now);
    Ok(product.clone())
}

#[derive(Deserialize)]
struct PriceUpdate {
    product_id: String,
    group_prices: Vec<GroupPrice>,
}

#[derive(Deserialize)]
struct GroupPrice {
    group_id: String,
    price: f64,
    #[serde(default)]
    qty: Option<u32>,
}

/// `product.price.update`: sets the product's price for customer groups (`advanced_price`).
fn update_group_prices(store: &mut Store, body: &[u8], now: i64) -> Result<Value, Refusal> {
    let update: PriceUpdate = json_body(body)?;
    if update.group_prices.is_empty()
        || update
            .group_prices
            .iter()
            .any(|g| !g.price.is_finite() || g.price < 0.0)
    {
        return Err(invalid("group_prices needs prices of zero or more"));
    }
    let product = product_mut(store, &update.product_id)?;
    let mut prices = product["advanced_price"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for group in update.group_prices {
        prices.retain(|p| p["group_id"].as_str() != Some(group.group_id.as_str()));
        prices.push(json!({
            "id": format!("{}-{}", update.product_id, group.group_id),
            "value": group.price,
            "avail": true,
            "group_id": group.group_id,
            "quantity_from": group.qty.unwrap_or(1),
        }));
    }
    product["advanced_price"] = json!(prices);
    product["modified_at"] = records::date(now);
    Ok(product.clone())
}

#[derive(Deserialize)]
struct WebhookCreate {
    entity: String,
    action: String,
    #[serde(default)]
    callback: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    fields: Option<String>,
    #[serde(default)]
    active: Option<bool>,
}

fn next_webhook_id(store: &Store) -> u64 {
    store.webhooks.iter().map(|h| h.id).max().unwrap_or(0) + 1
}

fn create_webhook(store: &mut Store, body: &[u8], now: i64) -> Result<HttpResponse, Refusal> {
    let create: WebhookCreate = json_body(body)?;
    if !EVENTS.contains(&(create.entity.as_str(), create.action.as_str())) {
        return Err(invalid(format!(
            "{}.{} is not a supported event (see webhook.events)",
            create.entity, create.action
        )));
    }
    let callback = create
        .callback
        .ok_or_else(|| invalid("callback is required"))?;
    if url::Url::parse(&callback).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
        return Err(invalid("callback must be an http(s) URL"));
    }
    let id = next_webhook_id(store);
    let at = records::date(now)["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    store.webhooks.push(Webhook {
        id,
        entity: create.entity,
        action: create.action,
        callback,
        label: create.label,
        fields: create.fields.unwrap_or_else(|| "force_all".to_owned()),
        active: create.active.unwrap_or(true),
        created_at: at.clone(),
        updated_at: at,
        deliveries: 0,
        last_status: None,
    });
    Ok(envelope(json!({ "id": id }), None))
}

fn list_webhooks(store: &Store, query: &Query) -> HttpResponse {
    let ids: Option<Vec<u64>> = query.get("ids").map(|ids| {
        ids.split(',')
            .filter_map(|id| id.trim().parse().ok())
            .collect()
    });
    let active = query.get("active").map(|a| a == "true" || a == "1");
    let hooks: Vec<Value> = store
        .webhooks
        .iter()
        .filter(|h| query.get("entity").is_none_or(|e| *e == h.entity))
        .filter(|h| query.get("action").is_none_or(|a| *a == h.action))
        .filter(|h| active.is_none_or(|a| a == h.active))
        .filter(|h| ids.as_ref().is_none_or(|ids| ids.contains(&h.id)))
        .map(|h| records::webhook(h, STORE_ID))
        .collect();
    envelope(json!({ "webhook": hooks }), None)
}

#[derive(Deserialize)]
struct WebhookUpdate {
    /// A string in the file's `WebhookUpdate` (`"25"`); numbers are accepted too.
    id: Value,
    #[serde(default)]
    callback: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    active: Option<bool>,
}

/// `webhook.update`: how a disabled webhook is re-enabled after a lost connection.
fn update_webhook(store: &mut Store, body: &[u8], now: i64) -> Result<HttpResponse, Refusal> {
    let update: WebhookUpdate = json_body(body)?;
    let id = match &update.id {
        Value::String(text) => text.parse::<u64>().ok(),
        other => other.as_u64(),
    }
    .ok_or_else(|| invalid("id must be a webhook id"))?;
    let hook = store
        .webhooks
        .iter_mut()
        .find(|h| h.id == id)
        .ok_or_else(|| not_found("webhook"))?;
    if let Some(callback) = update.callback {
        hook.callback = callback;
    }
    if let Some(label) = update.label {
        hook.label = Some(label);
    }
    if let Some(active) = update.active {
        hook.active = active;
    }
    hook.updated_at = records::date(now)["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(envelope(json!({ "updated_items": 1 }), None))
}

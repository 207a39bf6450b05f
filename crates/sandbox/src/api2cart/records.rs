//! API2Cart-shaped records (schemas `Order`, `Customer`, `Product`, `Webhook` of the vendored
//! file), built as JSON so the stand-in returns exactly what the file describes.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::{CustomerSpec, Webhook};

/// API2Cart's date format, `Y-m-d\TH:i:sO` in PHP terms.
pub const DATE_FORMAT: &str = "Y-m-d\\TH:i:sO";

pub fn date(ms: i64) -> Value {
    let at = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    json!({ "value": at.format("%Y-%m-%dT%H:%M:%S%z").to_string(), "format": DATE_FORMAT })
}

/// Milliseconds of a record's `{value, format}` date, for filters.
pub fn date_ms(record: &Value, field: &str) -> Option<i64> {
    let value = record[field]["value"].as_str()?;
    DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%z")
        .ok()
        .map(|at| at.timestamp_millis())
}

/// A filter parameter (`modified_from=2010-07-29 13:45:52`, UTC), in milliseconds.
pub fn filter_ms(text: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|at| at.and_utc().timestamp_millis())
}

pub fn customer(id: &str, spec: &CustomerSpec, store_id: &str, now_ms: i64) -> Value {
    json!({
        "id": id,
        "email": spec.email,
        "first_name": spec.first_name,
        "last_name": spec.last_name,
        "phone": spec.phone,
        "company": spec.company,
        "created_time": date(now_ms),
        "modified_time": date(now_ms),
        "group": [],
        "login": spec.email,
        "status": "enabled",
        "is_guest": false,
        "news_letter_subscription": false,
        "consents": [],
        "address_book": [],
        "orders_count": 0,
        "last_order_id": null,
        "stores_ids": [store_id],
    })
}

pub fn product(id: &str, sku: &str, name: &str, price: f64, quantity: u32, now_ms: i64) -> Value {
    json!({
        "id": id,
        "type": "simple",
        "u_model": sku,
        "u_sku": sku,
        "name": name,
        "description": "",
        "price": price,
        "advanced_price": [],
        "quantity": quantity,
        "inventory": [],
        "group_items": [],
        "categories_ids": [],
        "stores_ids": ["1"],
        "avail_sale": true,
        "avail_view": true,
        "in_stock": quantity > 0,
        "manage_stock": "True",
        "create_at": date(now_ms),
        "modified_at": date(now_ms),
    })
}

pub struct OrderLine<'a> {
    pub product: &'a Value,
    pub quantity: u32,
    pub line_id: String,
}

pub fn order(
    id: &str,
    customer: &Value,
    lines: &[OrderLine<'_>],
    currency: &str,
    store_id: &str,
    now_ms: i64,
) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .map(|line| {
            let price = line.product["price"].as_f64().unwrap_or_default();
            json!({
                "product_id": line.product["id"],
                "order_product_id": line.line_id,
                "model": line.product["u_model"],
                "name": line.product["name"],
                "price": price,
                "price_inc_tax": price,
                "quantity": line.quantity,
                "discount_amount": 0,
                "total_price": round(price * f64::from(line.quantity)),
                "tax_percent": 0,
                "tax_value": 0,
                "options": [],
                "variant_id": null,
            })
        })
        .collect();
    let total = round(items.iter().filter_map(|i| i["total_price"].as_f64()).sum());
    let address = json!({
        "first_name": customer["first_name"],
        "last_name": customer["last_name"],
        "company": customer["company"],
        "phone": customer["phone"],
    });
    json!({
        "id": id,
        "order_id": id,
        "customer": {
            "id": customer["id"],
            "email": customer["email"],
            "first_name": customer["first_name"],
            "last_name": customer["last_name"],
            "phone": customer["phone"],
        },
        "create_at": date(now_ms),
        "modified_at": date(now_ms),
        "currency": { "id": currency, "name": currency, "iso3": currency, "symbol_left": "", "symbol_right": "", "rate": 1, "avail": true, "default": true },
        "billing_address": address,
        "shipping_address": address,
        "payment_method": { "name": "Sandbox card" },
        "status": { "id": "pending", "name": "Pending", "history": [] },
        "totals": { "total": total, "subtotal": total, "shipping": 0, "tax": 0, "discount": 0 },
        "total": { "subtotal_ex_tax": total, "shipping_ex_tax": 0, "total_discount": 0, "total_tax": 0, "total": total, "total_paid": 0 },
        "discounts": [],
        "order_products": items,
        "bundles": [],
        "store_id": store_id,
        "refunds": [],
    })
}

/// Money to cents, as stores report it.
fn round(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

/// Display name of a status id (`on-hold` -> `On hold`).
pub fn status_name(id: &str) -> String {
    let words = id.replace(['-', '_'], " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub fn webhook(hook: &Webhook, store_id: &str) -> Value {
    json!({
        "id": hook.id,
        "label": hook.label,
        "store_id": store_id,
        "active": hook.active,
        "callback": hook.callback,
        "fields": hook.fields,
        "created_at": hook.created_at,
        "updated_at": hook.updated_at,
        "entity": hook.entity,
        "action": hook.action,
    })
}

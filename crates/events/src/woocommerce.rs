//! WooCommerce webhooks: `X-WC-Webhook-Signature` = base64(HMAC-SHA256(secret, raw body)); topics
//! `order.created` and `order.updated`, mapped onto `order.created` / `order.updated` with the
//! normalized [`Order`]. The unsigned `webhook_id=N` ping WooCommerce sends when a webhook is saved
//! is [`Ignored`].
//!
//! WooCommerce has no per-event id (its delivery id is new on every attempt), so the dedupe key is
//! (webhook id, order id, `date_modified_gmt`): the same state of the same order is one event.

use chrono::{DateTime, NaiveDateTime, Utc};
use dealbridge_core::event::{EventSource, EventType, NewEvent};
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::check_size;
use crate::records::{Customer, LineItem, Order};
use crate::shopify::non_empty;
use crate::validate::{number_to_amount, parse_json, Checks};
use crate::{verify_body, Delivery, FieldError, Headers, Ignored, IngestError};

/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub const TOPICS: [&str; 2] = ["order.created", "order.updated"];

const SIGNATURE: &str = "X-WC-Webhook-Signature";

/// Verifies a WooCommerce delivery against the connection's secrets and parses it.
pub fn parse(
    headers: &Headers,
    body: &[u8],
    secrets: &[SecretString],
) -> Result<Delivery, IngestError> {
    check_size(body, MAX_BODY_BYTES)?;
    let signature = headers.get(SIGNATURE).filter(|sig| !sig.is_empty());
    if signature.is_none() {
        // Only the set-up ping comes unsigned; anything else unsigned is refused.
        return setup_ping(body)
            .map(|webhook_id| Delivery::Ignored(Ignored::WooCommerceSetupPing { webhook_id }))
            .ok_or(IngestError::BadSignature);
    }
    verify_body(secrets, body, signature)?;
    let topic = headers.get("X-WC-Webhook-Topic").unwrap_or_default();
    let kind = match topic {
        "order.created" => EventType::OrderCreated,
        "order.updated" => EventType::OrderUpdated,
        other => {
            return Err(IngestError::Invalid(vec![FieldError::header(
                "X-WC-Webhook-Topic",
                format!(
                    "`{other}` is not a subscribed topic (one of {})",
                    TOPICS.join(", ")
                ),
            )]))
        }
    };
    let webhook_id = headers
        .get("X-WC-Webhook-ID")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| IngestError::missing_header("X-WC-Webhook-ID"))?;
    let source = headers.get("X-WC-Webhook-Source").map(str::to_owned);
    let raw: WooOrder = parse_json(body)?;
    // Part of the dedupe key: without it every later state of the order would look like a
    // duplicate of the first.
    let modified = raw
        .date_modified_gmt
        .clone()
        .filter(|at| !at.is_empty())
        .ok_or_else(|| IngestError::invalid("date_modified_gmt", "is required"))?;
    let order = raw.normalize(source)?;
    let mut checks = Checks::default();
    order.check("", &mut checks);
    checks.finish()?;
    let occurred_at = order
        .updated_at
        .ok_or_else(|| IngestError::invalid("date_modified_gmt", "is required"))?;
    Ok(Delivery::Event(NewEvent {
        source: EventSource::WooCommerce,
        kind,
        dedupe_key: format!("{webhook_id}:{}:{modified}", order.id),
        entity_key: Some(format!("order:{}", order.id)),
        occurred_at,
        payload: serde_json::to_value(&order)
            .map_err(|error| IngestError::invalid("body", error.to_string()))?,
    }))
}

/// `webhook_id=N` as a form body: the ping sent when a webhook is saved.
fn setup_ping(body: &[u8]) -> Option<u64> {
    let mut pairs = url::form_urlencoded::parse(body);
    let (name, value) = pairs.next()?;
    if name != "webhook_id" || pairs.next().is_some() {
        return None;
    }
    value.parse().ok()
}

/// WooCommerce's `*_gmt` dates: UTC without an offset (`2017-03-22T16:28:08`).
fn gmt(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, IngestError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S")
        .map(|at| Some(at.and_utc()))
        .map_err(|_| IngestError::invalid(field, "must be a date like 2017-03-22T16:28:08 (UTC)"))
}

/// The fields of WooCommerce's REST v3 order that the normalized order needs.
#[derive(Debug, Deserialize)]
struct WooOrder {
    id: u64,
    #[serde(default)]
    number: Option<String>,
    status: String,
    currency: String,
    total: String,
    #[serde(default)]
    total_tax: Option<String>,
    #[serde(default)]
    date_created_gmt: Option<String>,
    #[serde(default)]
    date_modified_gmt: Option<String>,
    #[serde(default)]
    customer_id: u64,
    #[serde(default)]
    billing: Option<WooBilling>,
    #[serde(default)]
    line_items: Vec<WooLine>,
}

#[derive(Debug, Deserialize)]
struct WooBilling {
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    company: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WooLine {
    name: String,
    #[serde(default)]
    product_id: Option<u64>,
    quantity: u32,
    #[serde(default)]
    sku: Option<String>,
    /// A number in WooCommerce's JSON (unlike the order's money strings).
    price: serde_json::Number,
    #[serde(default)]
    total: Option<String>,
}

impl WooOrder {
    fn normalize(self, source: Option<String>) -> Result<Order, IngestError> {
        let placed_at = gmt("date_created_gmt", self.date_created_gmt.as_deref())?;
        let updated_at = gmt("date_modified_gmt", self.date_modified_gmt.as_deref())?;
        let customer = self.billing.map(|billing| Customer {
            // 0 is a guest checkout.
            id: (self.customer_id != 0).then(|| self.customer_id.to_string()),
            store: source.clone(),
            email: non_empty(billing.email),
            first_name: non_empty(billing.first_name),
            last_name: non_empty(billing.last_name),
            phone: non_empty(billing.phone),
            company: non_empty(billing.company),
            updated_at: None,
        });
        Ok(Order {
            id: self.id.to_string(),
            number: self.number,
            store: source,
            status: self.status,
            fulfillment_status: None,
            currency: self.currency,
            total: self.total,
            subtotal: None,
            tax: self.total_tax,
            placed_at,
            updated_at,
            customer,
            line_items: self
                .line_items
                .into_iter()
                .map(|line| LineItem {
                    product_id: line
                        .product_id
                        .filter(|id| *id != 0)
                        .map(|id| id.to_string()),
                    sku: non_empty(line.sku),
                    name: line.name,
                    quantity: line.quantity,
                    unit_price: number_to_amount(&line.price),
                    total: line.total,
                })
                .collect(),
        })
    }
}

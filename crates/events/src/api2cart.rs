//! API2Cart webhooks. API2Cart documents no signature, so the callback URL the connection
//! registers carries an unguessable per-connection token, checked here in constant time first.
//! Entities `order` and `customer` with actions `add` and `update` map onto `order.created`,
//! `order.updated` and `customer.updated` (a new customer is an update of what the CRM knows),
//! with the normalized [`Order`] and [`Customer`] as payload.
//!
//! API2Cart has no delivery id, so the dedupe key is (store, entity, action, entity id, modified
//! time), with a hash of the body standing in for a missing modified time. An empty body with a non-zero `X-Webhook-Error-Code` is the connection-loss notice.
//! Whether the entity comes bare or wrapped in `result` is not documented: both are accepted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use dealbridge_core::event::{EventSource, EventType, NewEvent};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use sha2::{Digest as _, Sha256};

use crate::error::check_size;
use crate::records::{Customer, LineItem, Order};
use crate::shopify::non_empty;
use crate::validate::{field_path, number_to_amount, parse_json, Checks};
use crate::{token_matches, ConnectionLoss, Delivery, FieldError, Headers, IngestError};

/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

const STORE: &str = "X-Webhook-Store-Id";
const ENTITY: &str = "X-Webhook-Entity";
const ACTION: &str = "X-Webhook-Action";
const ERROR_CODE: &str = "X-Webhook-Error-Code";

/// Checks the callback URL's token against the connection's, then parses the delivery.
/// `now` stands in for the event time only when the record carries no modified time.
pub fn parse(
    headers: &Headers,
    body: &[u8],
    presented_token: &str,
    expected_token: &SecretString,
    now: DateTime<Utc>,
) -> Result<Delivery, IngestError> {
    if !token_matches(presented_token, expected_token) {
        return Err(IngestError::BadSignature);
    }
    check_size(body, MAX_BODY_BYTES)?;
    let store = headers.get(STORE).filter(|s| !s.is_empty());
    let error_code = headers
        .get(ERROR_CODE)
        .filter(|code| !code.is_empty() && *code != "0");
    if body.iter().all(u8::is_ascii_whitespace) {
        return match error_code {
            Some(code) => Ok(Delivery::ConnectionLost(ConnectionLoss {
                store_id: store.map(str::to_owned),
                error_code: code.to_owned(),
                reason: headers.get("X-Webhook-Error-Reason").map(str::to_owned),
                message: headers.get("X-Webhook-Error-Message").map(str::to_owned),
                tries_left: headers
                    .get("X-Webhook-Error-Try-Count")
                    .and_then(|n| n.parse().ok()),
            })),
            None => Err(IngestError::invalid("body", "is empty")),
        };
    }
    let store = store.ok_or_else(|| IngestError::missing_header(STORE))?;
    let entity = headers.get(ENTITY).unwrap_or_default();
    let action = headers.get(ACTION).unwrap_or_default();
    let (kind, entity_key, modified, payload) = match (entity, action) {
        ("order", "add" | "update") => {
            let raw: A2cOrder = unwrap_result(parse_json(body)?)?;
            let modified = raw.modified_at.as_ref().map(|at| at.value.clone());
            let order = raw.normalize(store)?;
            let mut checks = Checks::default();
            order.check("", &mut checks);
            checks.finish()?;
            let kind = if action == "add" {
                EventType::OrderCreated
            } else {
                EventType::OrderUpdated
            };
            let updated = order.updated_at.or(order.placed_at);
            (
                kind,
                format!("order:{}", order.id),
                (modified, updated),
                to_value(&order)?,
            )
        }
        ("customer", "add" | "update") => {
            let raw: A2cCustomer = unwrap_result(parse_json(body)?)?;
            let modified = raw.modified_time.as_ref().map(|at| at.value.clone());
            let customer = raw.normalize(store)?;
            let mut checks = Checks::default();
            customer.check_identified("", &mut checks);
            checks.finish()?;
            let id = customer.id.clone().unwrap_or_default();
            let updated = customer.updated_at;
            (
                EventType::CustomerUpdated,
                format!("customer:{id}"),
                (modified, updated),
                to_value(&customer)?,
            )
        }
        _ => {
            return Err(IngestError::Invalid(vec![FieldError::header(
                ENTITY,
                format!(
                "`{entity}.{action}` is not a subscribed event (order or customer, add or update)"
            ),
            )]))
        }
    };
    let (modified_text, modified_at) = modified;
    // Without a modified time (some platforms leave it out), identical bodies are the duplicates.
    let version = modified_text
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| format!("sha256:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(body))));
    let id = entity_key.split_once(':').map_or("", |(_, id)| id);
    Ok(Delivery::Event(NewEvent {
        source: EventSource::Api2Cart,
        kind,
        dedupe_key: format!("{store}:{entity}:{action}:{id}:{version}"),
        entity_key: Some(entity_key),
        occurred_at: modified_at.unwrap_or(now),
        payload,
    }))
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, IngestError> {
    serde_json::to_value(value).map_err(|error| IngestError::invalid("body", error.to_string()))
}

/// The entity itself, or `{"result": entity}` as the read API wraps it.
fn unwrap_result<T: serde::de::DeserializeOwned>(
    body: serde_json::Value,
) -> Result<T, IngestError> {
    let entity = match body {
        serde_json::Value::Object(mut map)
            if map.contains_key("result") && !map.contains_key("id") =>
        {
            map.remove("result").unwrap_or_default()
        }
        other => other,
    };
    serde_path_to_error::deserialize(entity).map_err(|error| {
        IngestError::invalid(
            field_path(error.path(), "body"),
            error.into_inner().to_string(),
        )
    })
}

/// API2Cart's dates: `{"value": "...", "format": "<PHP date format>"}`.
#[derive(Debug, Deserialize)]
struct A2cDate {
    value: String,
}

impl A2cDate {
    /// The formats API2Cart is seen to use: `Y-m-d\TH:i:sO`, ISO 8601 with a colon in the
    /// offset, and `Y-m-d H:i:s` (UTC).
    fn parse(&self, field: &str) -> Result<DateTime<Utc>, IngestError> {
        let value = self.value.trim();
        DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%z")
            .or_else(|_| DateTime::parse_from_rfc3339(value))
            .map(|at| at.with_timezone(&Utc))
            .or_else(|_| {
                NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S").map(|at| at.and_utc())
            })
            .map_err(|_| {
                IngestError::invalid(format!("{field}.value"), "is not a date API2Cart uses")
            })
    }
}

fn optional_date(
    field: &str,
    date: Option<&A2cDate>,
) -> Result<Option<DateTime<Utc>>, IngestError> {
    date.map(|date| date.parse(field)).transpose()
}

/// Ids come as strings or numbers depending on the platform.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Ok(text),
        serde_json::Value::Number(number) => Ok(number.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or number, got {other}"
        ))),
    }
}

fn optional_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(text) => Ok(non_empty(Some(text))),
        serde_json::Value::Number(number) => Ok(Some(number.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or number, got {other}"
        ))),
    }
}

#[derive(Debug, Deserialize)]
struct A2cOrder {
    #[serde(deserialize_with = "text")]
    id: String,
    #[serde(default, deserialize_with = "optional_text")]
    order_id: Option<String>,
    #[serde(default)]
    customer: Option<A2cCustomer>,
    #[serde(default)]
    create_at: Option<A2cDate>,
    #[serde(default)]
    modified_at: Option<A2cDate>,
    currency: A2cCurrency,
    #[serde(default)]
    status: Option<A2cStatus>,
    #[serde(default)]
    totals: Option<A2cTotals>,
    #[serde(default)]
    total: Option<A2cTotal>,
    #[serde(default)]
    billing_address: Option<A2cAddress>,
    #[serde(default)]
    order_products: Vec<A2cLine>,
}

#[derive(Debug, Deserialize)]
struct A2cCurrency {
    iso3: String,
}

#[derive(Debug, Deserialize)]
struct A2cStatus {
    #[serde(deserialize_with = "text")]
    id: String,
}

#[derive(Debug, Deserialize)]
struct A2cTotals {
    #[serde(default)]
    total: Option<serde_json::Number>,
    #[serde(default)]
    subtotal: Option<serde_json::Number>,
    #[serde(default)]
    tax: Option<serde_json::Number>,
}

#[derive(Debug, Deserialize)]
struct A2cTotal {
    #[serde(default)]
    total: Option<serde_json::Number>,
    #[serde(default)]
    subtotal_ex_tax: Option<serde_json::Number>,
    #[serde(default)]
    total_tax: Option<serde_json::Number>,
}

#[derive(Debug, Deserialize)]
struct A2cAddress {
    #[serde(default, deserialize_with = "optional_text")]
    company: Option<String>,
}

#[derive(Debug, Deserialize)]
struct A2cLine {
    #[serde(default, deserialize_with = "optional_text")]
    product_id: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    model: Option<String>,
    name: String,
    price: serde_json::Number,
    quantity: u32,
    #[serde(default)]
    total_price: Option<serde_json::Number>,
}

#[derive(Debug, Deserialize)]
struct A2cCustomer {
    #[serde(default, deserialize_with = "optional_text")]
    id: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    email: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    first_name: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    last_name: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    phone: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    company: Option<String>,
    #[serde(default)]
    modified_time: Option<A2cDate>,
}

impl A2cOrder {
    fn normalize(self, store: &str) -> Result<Order, IngestError> {
        let amount = |n: Option<&serde_json::Number>| n.map(number_to_amount);
        let (total, subtotal, tax) = match (&self.total, &self.totals) {
            (Some(rich), _) if rich.total.is_some() => (
                amount(rich.total.as_ref()),
                amount(rich.subtotal_ex_tax.as_ref()),
                amount(rich.total_tax.as_ref()),
            ),
            (_, Some(totals)) => (
                amount(totals.total.as_ref()),
                amount(totals.subtotal.as_ref()),
                amount(totals.tax.as_ref()),
            ),
            _ => (None, None, None),
        };
        let total = total.ok_or_else(|| IngestError::invalid("total.total", "is required"))?;
        let company = self.billing_address.and_then(|address| address.company);
        let customer = self
            .customer
            .map(|customer| customer.normalize(store))
            .transpose()?
            .map(|mut customer| {
                customer.company = customer.company.or(company);
                customer
            });
        Ok(Order {
            number: self.order_id.filter(|number| *number != self.id),
            id: self.id,
            store: Some(store.to_owned()),
            status: self
                .status
                .map_or_else(|| "unknown".to_owned(), |status| status.id),
            fulfillment_status: None,
            currency: self.currency.iso3,
            total,
            subtotal,
            tax,
            placed_at: optional_date("create_at", self.create_at.as_ref())?,
            updated_at: optional_date("modified_at", self.modified_at.as_ref())?,
            customer,
            line_items: self
                .order_products
                .into_iter()
                .map(|line| LineItem {
                    product_id: line.product_id,
                    sku: line.model,
                    name: line.name,
                    quantity: line.quantity,
                    unit_price: number_to_amount(&line.price),
                    total: line.total_price.as_ref().map(number_to_amount),
                })
                .collect(),
        })
    }
}

impl A2cCustomer {
    fn normalize(self, store: &str) -> Result<Customer, IngestError> {
        Ok(Customer {
            id: self.id,
            store: Some(store.to_owned()),
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            phone: self.phone,
            company: self.company,
            updated_at: optional_date("modified_time", self.modified_time.as_ref())?,
        })
    }
}

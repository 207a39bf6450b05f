//! Shopify webhooks: `X-Shopify-Hmac-Sha256` over the raw body; topics `orders/create`,
//! `orders/updated` and `customers/update`, mapped onto `order.created`, `order.updated` and
//! `customer.updated` with the normalized [`Order`] and [`Customer`] as payload.
//!
//! Shopify's newer "Events" deliveries drop the `X-` prefix of every header; both spellings work.

use chrono::{DateTime, Utc};
use dealbridge_core::event::{EventSource, EventType, NewEvent};
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::check_size;
use crate::records::{Customer, LineItem, Order};
use crate::validate::{parse_json, Checks};
use crate::{verify_body, FieldError, Headers, IngestError};

/// Largest body accepted: big orders with many lines stay well under it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub const TOPICS: [&str; 3] = ["orders/create", "orders/updated", "customers/update"];

fn header<'h>(headers: &'h Headers, name: &str) -> Option<&'h str> {
    headers.first_of(&[&format!("X-{name}"), name])
}

/// Verifies a Shopify delivery against the connection's secrets (the app's client secret, or
/// both during a rotation) and parses it. `now` stands in for the event time only when neither
/// the record nor `X-Shopify-Triggered-At` gives one.
pub fn parse(
    headers: &Headers,
    body: &[u8],
    secrets: &[SecretString],
    now: DateTime<Utc>,
) -> Result<NewEvent, IngestError> {
    check_size(body, MAX_BODY_BYTES)?;
    verify_body(secrets, body, header(headers, "Shopify-Hmac-Sha256"))?;
    let topic = header(headers, "Shopify-Topic").unwrap_or_default();
    // Shopify's own dedupe guide: the event id is shared by duplicates of one event; the
    // webhook id is per delivery, the fallback for senders without event ids.
    let dedupe = header(headers, "Shopify-Event-Id")
        .or_else(|| header(headers, "Shopify-Webhook-Id"))
        .ok_or_else(|| IngestError::missing_header("X-Shopify-Event-Id"))?;
    let shop = header(headers, "Shopify-Shop-Domain").map(str::to_owned);
    let triggered_at = header(headers, "Shopify-Triggered-At")
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&Utc));
    let (kind, entity_key, updated_at, payload) = match topic {
        "orders/create" | "orders/updated" => {
            let order = parse_json::<ShopifyOrder>(body)?.normalize(shop);
            let mut checks = Checks::default();
            order.check("", &mut checks);
            checks.finish()?;
            let kind = if topic == "orders/create" {
                EventType::OrderCreated
            } else {
                EventType::OrderUpdated
            };
            (
                kind,
                format!("order:{}", order.id),
                order.updated_at,
                to_value(&order),
            )
        }
        "customers/update" => {
            let customer = parse_json::<ShopifyCustomer>(body)?.normalize(shop);
            let mut checks = Checks::default();
            customer.check_identified("", &mut checks);
            checks.finish()?;
            let id = customer.id.clone().unwrap_or_default();
            let updated_at = customer.updated_at;
            (
                EventType::CustomerUpdated,
                format!("customer:{id}"),
                updated_at,
                to_value(&customer),
            )
        }
        other => {
            return Err(IngestError::Invalid(vec![FieldError::header(
                "X-Shopify-Topic",
                format!(
                    "`{other}` is not a subscribed topic (one of {})",
                    TOPICS.join(", ")
                ),
            )]))
        }
    };
    Ok(NewEvent {
        source: EventSource::Shopify,
        kind,
        dedupe_key: dedupe.to_owned(),
        entity_key: Some(entity_key),
        occurred_at: updated_at.or(triggered_at).unwrap_or(now),
        payload: payload?,
    })
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, IngestError> {
    serde_json::to_value(value).map_err(|error| IngestError::invalid("body", error.to_string()))
}

/// The fields of Shopify's REST Order resource that the normalized order needs.
#[derive(Debug, Deserialize)]
struct ShopifyOrder {
    id: u64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    contact_email: Option<String>,
    currency: String,
    total_price: String,
    #[serde(default)]
    subtotal_price: Option<String>,
    #[serde(default)]
    total_tax: Option<String>,
    #[serde(default)]
    financial_status: Option<String>,
    #[serde(default)]
    fulfillment_status: Option<String>,
    #[serde(default)]
    cancelled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    customer: Option<ShopifyCustomer>,
    #[serde(default)]
    billing_address: Option<ShopifyAddress>,
    #[serde(default)]
    line_items: Vec<ShopifyLine>,
}

#[derive(Debug, Deserialize)]
struct ShopifyCustomer {
    id: u64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    default_address: Option<ShopifyAddress>,
}

#[derive(Debug, Deserialize)]
struct ShopifyAddress {
    #[serde(default)]
    company: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ShopifyLine {
    #[serde(default)]
    product_id: Option<u64>,
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    name: Option<String>,
    quantity: u32,
    price: String,
}

impl ShopifyOrder {
    fn normalize(self, shop: Option<String>) -> Order {
        let status = if self.cancelled_at.is_some() {
            "cancelled".to_owned()
        } else {
            self.financial_status
                .unwrap_or_else(|| "pending".to_owned())
        };
        let company = self.billing_address.and_then(|address| address.company);
        let email = non_empty(self.email).or(non_empty(self.contact_email));
        let customer = match self.customer {
            Some(customer) => {
                let mut customer = customer.normalize(shop.clone());
                customer.email = customer.email.or(email);
                customer.company = customer.company.or(company);
                Some(customer)
            }
            None if email.is_some() => Some(Customer {
                id: None,
                store: shop.clone(),
                email,
                first_name: None,
                last_name: None,
                phone: None,
                company,
                updated_at: None,
            }),
            None => None,
        };
        Order {
            id: self.id.to_string(),
            number: self.name,
            store: shop,
            status,
            fulfillment_status: self.fulfillment_status,
            currency: self.currency,
            total: self.total_price,
            subtotal: self.subtotal_price,
            tax: self.total_tax,
            placed_at: self.created_at,
            updated_at: self.updated_at,
            customer,
            line_items: self
                .line_items
                .into_iter()
                .map(|line| LineItem {
                    product_id: line.product_id.map(|id| id.to_string()),
                    sku: non_empty(line.sku),
                    name: line.name.or(line.title).unwrap_or_default(),
                    quantity: line.quantity,
                    unit_price: line.price,
                    total: None,
                })
                .collect(),
        }
    }
}

impl ShopifyCustomer {
    fn normalize(self, shop: Option<String>) -> Customer {
        Customer {
            id: Some(self.id.to_string()),
            store: shop,
            email: non_empty(self.email),
            first_name: non_empty(self.first_name),
            last_name: non_empty(self.last_name),
            phone: non_empty(self.phone),
            company: self
                .default_address
                .and_then(|address| non_empty(address.company)),
            updated_at: self.updated_at,
        }
    }
}

/// Stores send `""` as often as `null` for a missing value.
pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

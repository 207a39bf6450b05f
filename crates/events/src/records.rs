//! The normalized order and customer every source is mapped onto. Whatever the store (or the
//! event API), `order.*` events carry an [`Order`] and `customer.updated` a [`Customer`] as their
//! payload, so the workflows read one shape.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validate::Checks;

/// An order as the workflows read it. Amounts are decimal text (`"409.94"`) in `currency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// The order's id in its system (Shopify's numeric id, WooCommerce's id, API2Cart's `id`).
    pub id: String,
    /// The number shown to people (`#1001`), when it differs from the id.
    #[serde(default)]
    pub number: Option<String>,
    /// The store it came from (Shopify shop domain, WooCommerce site URL, API2Cart store id);
    /// absent for orders sent through the event API.
    #[serde(default)]
    pub store: Option<String>,
    /// The source's own status word: Shopify's financial status (or `cancelled`), WooCommerce's
    /// status, API2Cart's status id, or the event API sender's.
    pub status: String,
    /// Shopify's fulfillment status, when the source has one.
    #[serde(default)]
    pub fulfillment_status: Option<String>,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// Grand total, tax and shipping included.
    pub total: String,
    #[serde(default)]
    pub subtotal: Option<String>,
    #[serde(default)]
    pub tax: Option<String>,
    #[serde(default)]
    pub placed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Who placed it; stores may withhold personal data, so every field may be absent.
    #[serde(default)]
    pub customer: Option<Customer>,
    #[serde(default)]
    pub line_items: Vec<LineItem>,
}

/// A customer as the workflows read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// The customer's id in its system; absent for guest checkouts.
    #[serde(default)]
    pub id: Option<String>,
    /// The store it came from; absent for customers sent through the event API.
    #[serde(default)]
    pub store: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    #[serde(default)]
    pub product_id: Option<String>,
    #[serde(default)]
    pub sku: Option<String>,
    pub name: String,
    pub quantity: u32,
    /// Price of one unit.
    pub unit_price: String,
    /// The line's total, when the source states it.
    #[serde(default)]
    pub total: Option<String>,
}

impl Order {
    pub(crate) fn check(&self, at: &str, checks: &mut Checks) {
        checks.required_text(&format!("{at}id"), &self.id);
        checks.optional_text(&format!("{at}number"), self.number.as_deref());
        checks.required_text(&format!("{at}status"), &self.status);
        checks.currency(&format!("{at}currency"), &self.currency);
        checks.amount(&format!("{at}total"), &self.total);
        for (name, value) in [("subtotal", &self.subtotal), ("tax", &self.tax)] {
            if let Some(value) = value {
                checks.amount(&format!("{at}{name}"), value);
            }
        }
        if let Some(customer) = &self.customer {
            customer.check_fields(&format!("{at}customer."), checks);
        }
        for (index, line) in self.line_items.iter().enumerate() {
            let at = format!("{at}line_items[{index}].");
            checks.required_text(&format!("{at}name"), &line.name);
            checks.amount(&format!("{at}unit_price"), &line.unit_price);
            if let Some(total) = &line.total {
                checks.amount(&format!("{at}total"), total);
            }
        }
    }
}

impl Customer {
    /// Checks the fields that are present; whether an id or email is required depends on where
    /// the customer appears (see [`Customer::check_identified`]).
    pub(crate) fn check_fields(&self, at: &str, checks: &mut Checks) {
        if let Some(email) = &self.email {
            checks.email(&format!("{at}email"), email);
        }
        for (name, value) in [
            ("id", &self.id),
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("phone", &self.phone),
            ("company", &self.company),
        ] {
            checks.optional_text(&format!("{at}{name}"), value.as_deref());
        }
    }

    /// A `customer.updated` event must say which customer: an id or an email.
    pub(crate) fn check_identified(&self, at: &str, checks: &mut Checks) {
        self.check_fields(at, checks);
        let blank = |value: &Option<String>| value.as_deref().is_none_or(|v| v.trim().is_empty());
        if blank(&self.id) && blank(&self.email) {
            checks.fail(format!("{at}id"), "an id or an email is required");
        }
    }
}

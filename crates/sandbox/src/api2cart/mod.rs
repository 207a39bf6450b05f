//! A stand-in for API2Cart, built from its published OpenAPI file (`openapi/api2cart/`): stores
//! with orders, customers and products behind `x-api-key` + `x-store-key`, the
//! `{return_code, return_message, result, pagination}` envelope, webhooks registered with
//! `webhook.create` and delivered when records change, and the connection-loss notice on demand.
//! Served at `/api2cart/v1.1/<method>.json`; controlled through [`Api2Cart`] and `/_sandbox/api2cart`.

mod api;
mod control_http;
mod delivery;
mod records;
pub mod seed;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::web;
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::server::Shared;

pub use control_http::configure as configure_control;

/// The path prefix of the API, under the sandbox's base URL.
pub const API_PREFIX: &str = "/api2cart/v1.1";

/// Notices API2Cart sends about a lost connection before it disables the webhook.
const LOSS_NOTICES: u32 = 5;

/// Every store of the stand-in, by store key.
#[derive(Default)]
pub struct State {
    stores: Mutex<BTreeMap<String, Store>>,
}

impl State {
    fn stores(&self) -> MutexGuard<'_, BTreeMap<String, Store>> {
        self.stores.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Store {
    account_key: String,
    name: String,
    url: String,
    currency: String,
    /// Why API2Cart can no longer reach the store, while it cannot.
    lost: Option<String>,
    notices_left: u32,
    customers: Vec<Value>,
    orders: Vec<Value>,
    products: Vec<Value>,
    webhooks: Vec<Webhook>,
    next_id: u64,
}

impl Store {
    fn next_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }
}

/// A registered webhook. `store_id` is always `1`: the stand-in's stores are single-store carts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Webhook {
    pub id: u64,
    pub entity: String,
    pub action: String,
    pub callback: String,
    pub label: Option<String>,
    pub fields: String,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
    /// Deliveries attempted, and the HTTP status of the last one (none: not answered).
    pub deliveries: u32,
    pub last_status: Option<u16>,
}

const STORE_ID: &str = "1";

/// The entities and actions the stand-in delivers (`webhook.events`).
pub const EVENTS: [(&str, &str); 5] = [
    ("order", "add"),
    ("order", "update"),
    ("customer", "add"),
    ("customer", "update"),
    ("product", "update"),
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreSpec {
    /// The API2Cart account key (`x-api-key`) the store belongs to.
    pub api_key: String,
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    /// ISO code of the store's currency; `USD` when absent.
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub products: Vec<ProductSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProductSpec {
    pub sku: String,
    pub name: String,
    pub price: f64,
    #[serde(default = "default_stock")]
    pub quantity: u32,
}

fn default_stock() -> u32 {
    100
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CustomerSpec {
    pub email: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
}

/// Fields of a customer to change; absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CustomerChanges {
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderSpec {
    /// The buyer: an existing customer with this email, or a new one (`customer.add`).
    pub customer: CustomerSpec,
    pub items: Vec<OrderItemSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderItemSpec {
    pub product_id: String,
    pub quantity: u32,
}

/// A store as the control API reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreInfo {
    pub store_key: String,
    pub name: String,
    pub url: String,
    pub connected: bool,
    pub webhooks: Vec<Webhook>,
}

/// The in-process control of the API2Cart stand-in (the HTTP routes under `/_sandbox/api2cart`
/// call the same methods). Changes deliver the matching webhooks, as API2Cart does.
#[derive(Clone)]
pub struct Api2Cart {
    pub(crate) shared: Arc<Shared>,
}

impl Api2Cart {
    fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    /// Creates a store with its products; returns its info with a new store key.
    pub fn create_store(&self, spec: StoreSpec) -> Result<StoreInfo> {
        if spec.api_key.trim().is_empty() || spec.name.trim().is_empty() {
            return Err(Error::Invalid("api_key and name are required".into()));
        }
        let store_key = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
        let now = self.now_ms();
        let mut store = Store {
            account_key: spec.api_key,
            url: spec
                .url
                .unwrap_or_else(|| format!("https://{store_key}.store.example")),
            name: spec.name,
            currency: spec.currency.unwrap_or_else(|| "USD".to_owned()),
            lost: None,
            notices_left: LOSS_NOTICES,
            customers: Vec::new(),
            orders: Vec::new(),
            products: Vec::new(),
            webhooks: Vec::new(),
            next_id: 1000,
        };
        for product in spec.products {
            if product.price < 0.0 || !product.price.is_finite() {
                return Err(Error::Invalid(format!("price of {}", product.sku)));
            }
            let id = store.next_id();
            store.products.push(records::product(
                &id,
                &product.sku,
                &product.name,
                product.price,
                product.quantity,
                now,
            ));
        }
        let info = info(&store_key, &store);
        self.shared.api2cart.stores().insert(store_key, store);
        Ok(info)
    }

    pub fn store(&self, store_key: &str) -> Result<StoreInfo> {
        let stores = self.shared.api2cart.stores();
        let store = stores
            .get(store_key)
            .ok_or_else(|| Error::NotFound(format!("store {store_key}")))?;
        Ok(info(store_key, store))
    }

    pub fn products(&self, store_key: &str) -> Result<Vec<Value>> {
        self.with_store(store_key, |store| Ok(store.products.clone()))
    }

    /// Places an order (creating the customer when new); delivers `customer.add` and `order.add`.
    pub fn place_order(&self, store_key: &str, spec: OrderSpec) -> Result<Value> {
        if spec.items.is_empty() || spec.items.iter().any(|item| item.quantity == 0) {
            return Err(Error::Invalid(
                "an order needs items of quantity 1 or more".into(),
            ));
        }
        if !spec.customer.email.contains('@') {
            return Err(Error::Invalid(
                "customer.email must be an email address".into(),
            ));
        }
        let now = self.now_ms();
        let mut events = Vec::new();
        let order = self.with_store(store_key, |store| {
            let existing = store
                .customers
                .iter()
                .position(|c| c["email"].as_str() == Some(spec.customer.email.as_str()));
            let customer_index = match existing {
                Some(index) => index,
                None => {
                    let id = store.next_id();
                    let customer = records::customer(&id, &spec.customer, STORE_ID, now);
                    events.push(("customer", "add", customer.clone()));
                    store.customers.push(customer);
                    store.customers.len() - 1
                }
            };
            let mut lines = Vec::new();
            for item in &spec.items {
                let product = store
                    .products
                    .iter()
                    .find(|p| p["id"].as_str() == Some(item.product_id.as_str()))
                    .ok_or_else(|| Error::NotFound(format!("product {}", item.product_id)))?;
                lines.push((product.clone(), item.quantity));
            }
            let id = store.next_id();
            let line_ids: Vec<String> = lines.iter().map(|_| store.next_id()).collect();
            let order_lines: Vec<records::OrderLine<'_>> = lines
                .iter()
                .zip(line_ids)
                .map(|((product, quantity), line_id)| records::OrderLine {
                    product,
                    quantity: *quantity,
                    line_id,
                })
                .collect();
            let customer = &mut store.customers[customer_index];
            let order = records::order(&id, customer, &order_lines, &store.currency, STORE_ID, now);
            let count = customer["orders_count"].as_u64().unwrap_or_default() + 1;
            customer["orders_count"] = count.into();
            customer["last_order_id"] = id.clone().into();
            store.orders.push(order.clone());
            events.push(("order", "add", order.clone()));
            Ok(order)
        })?;
        self.deliver(store_key, events);
        Ok(order)
    }

    /// Moves an order to status `status` (`processing`, `completed`, ...); delivers `order.update`.
    pub fn update_order_status(
        &self,
        store_key: &str,
        order_id: &str,
        status: &str,
    ) -> Result<Value> {
        if status.trim().is_empty() {
            return Err(Error::Invalid("status is required".into()));
        }
        let now = self.now_ms();
        let order = self.with_store(store_key, |store| {
            let order = store
                .orders
                .iter_mut()
                .find(|o| o["id"].as_str() == Some(order_id))
                .ok_or_else(|| Error::NotFound(format!("order {order_id}")))?;
            let entry = serde_json::json!({
                "id": status, "name": records::status_name(status),
                "modified_time": records::date(now), "notify": false, "comment": ""
            });
            let mut history = order["status"]["history"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            history.push(entry);
            order["status"] = serde_json::json!({
                "id": status, "name": records::status_name(status), "history": history
            });
            if status == "completed" {
                order["total"]["total_paid"] = order["total"]["total"].clone();
            }
            order["modified_at"] = records::date(now);
            Ok(order.clone())
        })?;
        self.deliver(store_key, vec![("order", "update", order.clone())]);
        Ok(order)
    }

    /// Changes a customer; delivers `customer.update`.
    pub fn update_customer(
        &self,
        store_key: &str,
        customer_id: &str,
        changes: CustomerChanges,
    ) -> Result<Value> {
        if changes.email.as_deref().is_some_and(|e| !e.contains('@')) {
            return Err(Error::Invalid("email must be an email address".into()));
        }
        let now = self.now_ms();
        let customer = self.with_store(store_key, |store| {
            let customer = store
                .customers
                .iter_mut()
                .find(|c| c["id"].as_str() == Some(customer_id))
                .ok_or_else(|| Error::NotFound(format!("customer {customer_id}")))?;
            for (field, value) in [
                ("email", changes.email),
                ("first_name", changes.first_name),
                ("last_name", changes.last_name),
                ("phone", changes.phone),
                ("company", changes.company),
            ] {
                if let Some(value) = value {
                    customer[field] = value.into();
                }
            }
            customer["modified_time"] = records::date(now);
            Ok(customer.clone())
        })?;
        self.deliver(store_key, vec![("customer", "update", customer.clone())]);
        Ok(customer)
    }

    /// API2Cart loses access to the store (as when its bridge is removed or its key changes):
    /// API calls for it fail, and every active webhook gets the empty-body notice. Each call
    /// sends one more notice; after the fifth the webhooks are disabled, as API2Cart does.
    pub fn break_connection(&self, store_key: &str, reason: &str) -> Result<()> {
        let notices = self.with_store(store_key, |store| {
            store.lost = Some(reason.to_owned());
            store.notices_left = store.notices_left.saturating_sub(1);
            let left = store.notices_left;
            let hooks: Vec<Webhook> = store
                .webhooks
                .iter()
                .filter(|h| h.active)
                .cloned()
                .collect();
            if left == 0 {
                for hook in &mut store.webhooks {
                    hook.active = false;
                }
            }
            Ok(hooks
                .into_iter()
                .map(|hook| delivery::Notice {
                    hook,
                    reason: reason.to_owned(),
                    tries_left: left,
                })
                .collect::<Vec<_>>())
        })?;
        delivery::spawn_notices(self.shared.clone(), store_key.to_owned(), notices);
        Ok(())
    }

    /// Restores a lost connection (the merchant reinstalled the bridge).
    pub fn restore_connection(&self, store_key: &str) -> Result<()> {
        self.with_store(store_key, |store| {
            store.lost = None;
            store.notices_left = LOSS_NOTICES;
            Ok(())
        })
    }

    fn with_store<T>(&self, store_key: &str, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        let mut stores = self.shared.api2cart.stores();
        let store = stores
            .get_mut(store_key)
            .ok_or_else(|| Error::NotFound(format!("store {store_key}")))?;
        f(store)
    }

    /// Sends `entity.action` with `record` to every active webhook registered for it, unless the
    /// connection is lost (API2Cart cannot see the store's changes then).
    fn deliver(&self, store_key: &str, events: Vec<(&'static str, &'static str, Value)>) {
        delivery::spawn_events(self.shared.clone(), store_key.to_owned(), events);
    }
}

fn info(store_key: &str, store: &Store) -> StoreInfo {
    StoreInfo {
        store_key: store_key.to_owned(),
        name: store.name.clone(),
        url: store.url.clone(),
        connected: store.lost.is_none(),
        webhooks: store.webhooks.clone(),
    }
}

/// The API routes; registered before the Pipedrive API's catch-all.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope(API_PREFIX).route("/{method}", web::route().to(api::dispatch)));
}

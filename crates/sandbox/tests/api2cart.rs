//! The API2Cart stand-in: every served method against the official file's schemas, auth, the
//! envelope, `order.list` windows and paging, webhook delivery on changes, and the lost connection.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{a2c_schema, Receiver};
use dealbridge_sandbox::api2cart::{
    seed, Api2Cart, CustomerChanges, CustomerSpec, OrderItemSpec, OrderSpec,
};
use dealbridge_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::{json, Value};

const API_KEY: &str = "acct-key-1";

struct A2c {
    sandbox: SandboxHandle,
    receiver: Receiver,
    http: reqwest::Client,
    store_key: String,
}

async fn a2c() -> A2c {
    let receiver = Receiver::start().await;
    let sandbox = dealbridge_sandbox::spawn(SandboxConfig {
        workers: 1,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let store = sandbox
        .control()
        .api2cart()
        .create_store(seed::demo_store(API_KEY))
        .unwrap();
    A2c {
        sandbox,
        receiver,
        http: reqwest::Client::new(),
        store_key: store.store_key,
    }
}

impl A2c {
    fn control(&self) -> Api2Cart {
        self.sandbox.control().api2cart()
    }

    async fn call_with(
        &self,
        api_key: &str,
        store_key: &str,
        method: &str,
        name: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}/api2cart/v1.1/{name}.json", self.sandbox.base_url());
        let mut req = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .header("x-api-key", api_key)
            .header("x-store-key", store_key)
            .query(query);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    async fn call(
        &self,
        method: &str,
        name: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_with(API_KEY, &self.store_key, method, name, query, body)
            .await
    }

    /// Calls, expects success, and checks the answer against the official schema.
    async fn ok(
        &self,
        method: &str,
        name: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Value {
        let (status, resp) = self.call(method, name, query, body).await;
        assert_eq!(
            (status, &resp["return_code"]),
            (200, &json!(0)),
            "{method} {name}: {resp}"
        );
        let errors = a2c_schema::check(method, name, &resp);
        assert!(
            errors.is_empty(),
            "{method} {name} violates the official schema: {errors:#?}\n{resp:#}"
        );
        resp
    }

    async fn hook(&self, entity: &str, action: &str) -> u64 {
        let body = json!({"entity": entity, "action": action, "callback": format!("{}/a2c/tok", self.receiver.url), "label": "dealbridge"});
        let errors = a2c_schema::check_component("WebhookCreate", &body);
        assert!(errors.is_empty(), "{errors:?}");
        self.ok("POST", "webhook.create", &[], Some(body)).await["result"]["id"]
            .as_u64()
            .unwrap()
    }

    fn order_spec(&self, email: &str) -> OrderSpec {
        let products = self.control().products(&self.store_key).unwrap();
        OrderSpec {
            customer: CustomerSpec {
                email: email.into(),
                first_name: Some("Ada".into()),
                last_name: Some("Lovelace".into()),
                ..CustomerSpec::default()
            },
            items: vec![
                OrderItemSpec {
                    product_id: products[0]["id"].as_str().unwrap().into(),
                    quantity: 2,
                },
                OrderItemSpec {
                    product_id: products[1]["id"].as_str().unwrap().into(),
                    quantity: 1,
                },
            ],
        }
    }
}

/// Method, name, query and body of one API call.
type Call<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Option<Value>);

#[tokio::test]
async fn every_served_method_matches_the_official_schema() {
    let env = a2c().await;
    let mut covered = BTreeSet::new();
    let order = env
        .control()
        .place_order(&env.store_key, env.order_spec("ada@example.com"))
        .unwrap();
    assert!(a2c_schema::check_component("Order", &order).is_empty());
    let order_id = order["id"].as_str().unwrap().to_owned();
    let customer_id = order["customer"]["id"].as_str().unwrap().to_owned();
    let product_id = order["order_products"][0]["product_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let calls: Vec<Call<'_>> = vec![
        ("GET", "order.list", vec![("count", "5")], None),
        ("GET", "order.info", vec![("id", &order_id)], None),
        ("GET", "customer.list", vec![], None),
        ("GET", "customer.info", vec![("id", &customer_id)], None),
        ("GET", "product.list", vec![], None),
        ("GET", "product.info", vec![("id", &product_id)], None),
        (
            "PUT",
            "product.update",
            vec![],
            Some(json!({"id": product_id, "price": 26.5, "quantity": 40})),
        ),
        (
            "PUT",
            "product.price.update",
            vec![],
            Some(
                json!({"product_id": product_id, "group_prices": [{"group_id": "2", "price": 22.0}]}),
            ),
        ),
        ("GET", "webhook.events", vec![], None),
        ("GET", "webhook.list", vec![], None),
    ];
    for (method, name, query, body) in calls {
        let resp = env.ok(method, name, &query, body).await;
        assert!(!resp["result"].is_null(), "{name}");
        covered.insert(name);
    }
    let id = env.hook("order", "add").await;
    covered.insert("webhook.create");
    env.ok(
        "PUT",
        "webhook.update",
        &[],
        Some(json!({"id": id.to_string(), "active": false})),
    )
    .await;
    covered.insert("webhook.update");
    env.ok("DELETE", "webhook.delete", &[("id", &id.to_string())], None)
        .await;
    covered.insert("webhook.delete");
    assert_eq!(covered.len(), 13);

    let product = env
        .ok("GET", "product.info", &[("id", &product_id)], None)
        .await;
    assert_eq!(product["result"]["price"], json!(26.5));
    assert_eq!(product["result"]["advanced_price"][0]["value"], json!(22.0));
    let info = env
        .ok("GET", "order.info", &[("id", &order_id)], None)
        .await;
    assert_eq!(
        info["result"]["totals"]["total"],
        json!(107.9),
        "2 x 24.0 + 59.9"
    );
    assert_eq!(info["result"]["currency"]["iso3"], "EUR");
}

#[tokio::test]
async fn both_keys_are_required() {
    let env = a2c().await;
    let (status, resp) = env
        .call_with("wrong", &env.store_key, "GET", "order.list", &[], None)
        .await;
    assert_eq!((status, resp["return_code"].as_i64()), (401, Some(2)));
    let (status, resp) = env
        .call_with(API_KEY, "wrong", "GET", "order.list", &[], None)
        .await;
    assert_eq!((status, resp["return_code"].as_i64()), (401, Some(9)));
    let other = env
        .control()
        .create_store(seed::demo_store("another-account"))
        .unwrap();
    let (status, _) = env
        .call_with(API_KEY, &other.store_key, "GET", "order.list", &[], None)
        .await;
    assert_eq!(status, 401, "a store key of another account is refused");
    let (status, resp) = env
        .call("GET", "order.info", &[("id", "999999")], None)
        .await;
    assert_eq!((status, resp["return_code"].as_i64()), (404, Some(7)));
    let (status, _) = env
        .call("GET", "order.list", &[("count", "251")], None)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn order_list_filters_by_modified_time_and_pages() {
    let env = a2c().await;
    let first = env
        .control()
        .place_order(&env.store_key, env.order_spec("a@example.com"))
        .unwrap();
    env.sandbox
        .control()
        .advance(std::time::Duration::from_secs(3600));
    let second = env
        .control()
        .place_order(&env.store_key, env.order_spec("b@example.com"))
        .unwrap();
    let third = env
        .control()
        .place_order(&env.store_key, env.order_spec("c@example.com"))
        .unwrap();
    let all = env.ok("GET", "order.list", &[], None).await;
    assert_eq!(all["result"]["orders_count"], 3);
    // Between the two: only the later orders were modified after it.
    let between = chrono::DateTime::parse_from_str(
        first["modified_at"]["value"].as_str().unwrap(),
        "%Y-%m-%dT%H:%M:%S%z",
    )
    .unwrap()
        + chrono::Duration::minutes(30);
    let from = between.format("%Y-%m-%d %H:%M:%S").to_string();
    let recent = env
        .ok("GET", "order.list", &[("modified_from", &from)], None)
        .await;
    let ids: Vec<&str> = recent["result"]["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            second["id"].as_str().unwrap(),
            third["id"].as_str().unwrap()
        ]
    );
    // Updating the first order moves its modified time into the window.
    env.control()
        .update_order_status(&env.store_key, first["id"].as_str().unwrap(), "completed")
        .unwrap();
    let recent = env
        .ok("GET", "order.list", &[("modified_from", &from)], None)
        .await;
    assert_eq!(recent["result"]["orders_count"], 3);
    // Paging with the cursor.
    let page1 = env.ok("GET", "order.list", &[("count", "2")], None).await;
    assert_eq!(page1["result"]["order"].as_array().unwrap().len(), 2);
    let next = page1["pagination"]["next"].as_str().unwrap().to_owned();
    let page2 = env
        .ok(
            "GET",
            "order.list",
            &[("count", "2"), ("page_cursor", &next)],
            None,
        )
        .await;
    assert_eq!(page2["result"]["order"][0]["id"], third["id"]);
    assert_eq!(page2["pagination"]["next"], Value::Null);
    let (status, _) = env
        .call("GET", "order.list", &[("modified_from", "yesterday")], None)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn changes_are_delivered_to_registered_webhooks() {
    let env = a2c().await;
    for (entity, action) in [
        ("order", "add"),
        ("order", "update"),
        ("customer", "add"),
        ("customer", "update"),
    ] {
        env.hook(entity, action).await;
    }
    let order = env
        .control()
        .place_order(&env.store_key, env.order_spec("ada@example.com"))
        .unwrap();
    let seen = env.receiver.wait_for(2, 5).await;
    let kinds: BTreeSet<(String, String)> = seen
        .iter()
        .map(|s| {
            (
                s.headers["x-webhook-entity"].clone(),
                s.headers["x-webhook-action"].clone(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("customer".into(), "add".into()),
            ("order".into(), "add".into())
        ]
        .into_iter()
        .collect()
    );
    let delivered = seen
        .iter()
        .find(|s| s.headers["x-webhook-entity"] == "order")
        .unwrap();
    assert_eq!(delivered.path, "/a2c/tok");
    assert_eq!(delivered.headers["x-webhook-store-id"], "1");
    assert_eq!(delivered.headers["x-webhook-error-code"], "0");
    assert_eq!(delivered.body, order);
    assert!(a2c_schema::check_component("Order", &delivered.body).is_empty());

    let order_id = order["id"].as_str().unwrap();
    env.control()
        .update_order_status(&env.store_key, order_id, "completed")
        .unwrap();
    let customer_id = order["customer"]["id"].as_str().unwrap();
    env.control()
        .update_customer(
            &env.store_key,
            customer_id,
            CustomerChanges {
                company: Some("Analytical Engines".into()),
                ..CustomerChanges::default()
            },
        )
        .unwrap();
    let seen = env.receiver.wait_for(4, 5).await;
    assert_eq!(seen.len(), 4);
    let update = seen
        .iter()
        .find(|s| {
            s.headers["x-webhook-entity"] == "order" && s.headers["x-webhook-action"] == "update"
        })
        .unwrap();
    assert_eq!(update.body["status"]["id"], "completed");
    let customer = seen
        .iter()
        .find(|s| {
            s.headers["x-webhook-action"] == "update" && s.headers["x-webhook-entity"] == "customer"
        })
        .unwrap();
    assert_eq!(customer.body["company"], "Analytical Engines");
    assert!(a2c_schema::check_component("Customer", &customer.body).is_empty());
    // A second order by the same customer adds no customer.
    env.control()
        .place_order(&env.store_key, env.order_spec("ada@example.com"))
        .unwrap();
    let seen = env.receiver.wait_for(5, 5).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(env.receiver.seen().len(), 5, "{seen:?}");
    let hooks = env.control().store(&env.store_key).unwrap().webhooks;
    assert_eq!(hooks.iter().map(|h| h.deliveries).sum::<u32>(), 5);
    assert!(hooks.iter().all(|h| h.last_status.is_none_or(|s| s == 200)));
}

#[tokio::test]
async fn a_lost_connection_sends_notices_and_stops_the_api() {
    let env = a2c().await;
    let hook = env.hook("order", "add").await;
    env.control()
        .break_connection(&env.store_key, "incorrect store key")
        .unwrap();
    let seen = env.receiver.wait_for(1, 5).await;
    let notice = &seen[0];
    assert!(notice.raw.is_empty(), "the notice has an empty body");
    assert_ne!(notice.headers["x-webhook-error-code"], "0");
    assert_eq!(
        notice.headers["x-webhook-error-reason"],
        "incorrect store key"
    );
    assert_eq!(notice.headers["x-webhook-error-try-count"], "4");
    let (status, resp) = env.call("GET", "order.list", &[], None).await;
    assert_eq!((status, resp["return_code"].as_i64()), (200, Some(9)));
    // Orders placed meanwhile are not delivered.
    env.control()
        .place_order(&env.store_key, env.order_spec("ada@example.com"))
        .unwrap();
    for _ in 0..4 {
        env.control()
            .break_connection(&env.store_key, "incorrect store key")
            .unwrap();
    }
    env.receiver.wait_for(5, 5).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(env.receiver.seen().len(), 5);
    assert!(env.receiver.seen().iter().all(|s| s.raw.is_empty()));
    // After the fifth notice the webhook is disabled; restoring and re-enabling brings it back.
    assert!(!env.control().store(&env.store_key).unwrap().webhooks[0].active);
    env.control().restore_connection(&env.store_key).unwrap();
    env.ok(
        "PUT",
        "webhook.update",
        &[],
        Some(json!({"id": hook.to_string(), "active": true})),
    )
    .await;
    env.control()
        .place_order(&env.store_key, env.order_spec("ada@example.com"))
        .unwrap();
    let seen = env.receiver.wait_for(6, 5).await;
    assert_eq!(seen[5].headers["x-webhook-entity"], "order");
}

#[tokio::test]
async fn the_control_routes_drive_the_same_store() {
    let env = a2c().await;
    let http = &env.http;
    let base = format!("{}/_sandbox/api2cart", env.sandbox.base_url());
    let store: Value = http
        .post(format!("{base}/stores"))
        .json(&seed::demo_store(API_KEY))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = store["store_key"].as_str().unwrap();
    let products = env.control().products(key).unwrap();
    let order = http
        .post(format!("{base}/stores/{key}/orders"))
        .json(&json!({"customer": {"email": "ada@example.com"}, "items": [{"product_id": products[2]["id"], "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status().as_u16(), 201);
    let order: Value = order.json().await.unwrap();
    let id = order["id"].as_str().unwrap();
    let updated: Value = http
        .put(format!("{base}/stores/{key}/orders/{id}/status"))
        .json(&json!({"status": "processing"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["status"]["name"], "Processing");
    let bad = http
        .post(format!("{base}/stores/{key}/orders"))
        .json(&json!({"customer": {"email": "x"}, "items": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let lost = http
        .delete(format!("{base}/stores/{key}/connection"))
        .send()
        .await
        .unwrap();
    assert_eq!(lost.status().as_u16(), 204);
    let info: Value = http
        .get(format!("{base}/stores/{key}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["connected"], false);
    let missing = http
        .get(format!("{base}/stores/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

#[test]
fn the_schema_checker_rejects_wrong_types() {
    assert!(
        a2c_schema::check_component("Product", &json!({"id": "1", "manage_stock": true})).len()
            == 1
    );
    assert!(
        !a2c_schema::check_component("Order", &json!({"totals": {"total": "12.00"}})).is_empty()
    );
    assert!(!a2c_schema::check_component("WebhookCreate", &json!({"entity": "order"})).is_empty());
    assert!(a2c_schema::check_component(
        "Order",
        &json!({"currency": null, "totals": {"total": 12}})
    )
    .is_empty());
}

//! Events in, end to end against the embedded sandbox: the first run's demo API2Cart store,
//! whose orders arrive as events; and the dashboard's event API secrets and store connections,
//! driven through their forms with a signed event sent to the real route.

#![allow(clippy::unwrap_used)] // a failed unwrap in a helper is a failed test (rust-clippy#13981)

mod helpers;

use std::time::Duration;

use dealbridge_app::pipedrive_setup::SANDBOX_CLIENT_ID;
use dealbridge_core::event::EventSource;
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_events::event_api;
use dealbridge_sandbox::api2cart::{CustomerSpec, OrderItemSpec, OrderSpec};
use dealbridge_storage::{ConnectionState, StoreKind};
use helpers::{spawn_app, TestApp};
use secrecy::{ExposeSecret, SecretString};

/// Installs the demo company's admin through the sandbox's consent, signed in to the dashboard.
async fn install(app: &TestApp) -> TenantId {
    let sandbox = app.sandbox.as_ref().unwrap();
    let start = app.get("/install").await;
    let location = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let company = sandbox
        .control
        .companies()
        .into_iter()
        .find(|c| c.domain == "demo")
        .unwrap();
    let callback = sandbox
        .control
        .approve_install(
            SANDBOX_CLIENT_ID,
            company.id,
            company.user_ids[0],
            Some(&state),
        )
        .unwrap();
    let back = app.client.get(&callback).send().await.unwrap();
    assert_eq!(
        back.status(),
        303,
        "{}",
        back.text().await.unwrap_or_default()
    );
    let tenant = app
        .store
        .tenant_by_company(CompanyId::new(i64::try_from(company.id).unwrap()))
        .await
        .unwrap()
        .unwrap();
    tenant.id
}

async fn wait_for_events(
    app: &TestApp,
    tenant: TenantId,
    source: EventSource,
    n: usize,
) -> Vec<String> {
    for _ in 0..100 {
        let events = app.store.recent_events(tenant, source, 50).await.unwrap();
        if events.len() >= n {
            return events.into_iter().map(|e| e.kind).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} {source:?} events arrived");
}

#[tokio::test]
async fn first_run_connects_the_demo_store_so_its_orders_arrive_as_events() {
    let app = spawn_app().await;
    let tenant = install(&app).await;
    let connections = app.store.store_connections(tenant).await.unwrap();
    assert_eq!(connections.len(), 1, "the demo store is connected");
    let demo = &connections[0];
    assert_eq!(demo.kind, StoreKind::Api2Cart);
    assert_eq!(demo.display_name, dealbridge_web::DEMO_STORE_NAME);
    assert_eq!(demo.webhook_ids.len(), 4, "order and customer add/update");
    let sandbox = app.sandbox.as_ref().unwrap();
    let key = sandbox.api2cart.demo_store_key.expose_secret().to_owned();
    let store = sandbox.control.api2cart().store(&key).unwrap();
    assert_eq!(store.webhooks.len(), 4, "registered in API2Cart");
    assert!(
        store.webhooks.iter().all(|h| !h.callback.contains(&key)),
        "the store key is not in the callback"
    );

    // What a developer reads to place an order by hand: the demo store's key and products.
    let described: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(app.data_path().join("demo-store.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(described["store_key"], key);
    let product = described["products"][0]["id"].as_str().unwrap().to_owned();
    sandbox
        .control
        .api2cart()
        .place_order(
            &key,
            OrderSpec {
                customer: CustomerSpec {
                    email: "ada@example.com".into(),
                    first_name: Some("Ada".into()),
                    ..CustomerSpec::default()
                },
                items: vec![OrderItemSpec {
                    product_id: product,
                    quantity: 2,
                }],
            },
        )
        .unwrap();
    let kinds = wait_for_events(&app, tenant, EventSource::Api2Cart, 2).await;
    assert!(kinds.contains(&"order.created".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"customer.updated".to_owned()), "{kinds:?}");
    let jobs = app.store.job_counts(Some(tenant)).await.unwrap();
    assert!(jobs.queued >= 2, "each event queued its job: {jobs:?}");

    // A lost connection is shown on the dashboard.
    sandbox
        .control
        .api2cart()
        .break_connection(&key, "incorrect store key")
        .unwrap();
    for _ in 0..100 {
        let connection = app
            .store
            .store_connection(tenant, demo.id)
            .await
            .unwrap()
            .unwrap();
        if connection.state == ConnectionState::NeedsAttention {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = app.get("/dashboard").await.text().await.unwrap();
    assert!(page.contains("needs attention"), "{page}");
    assert!(page.contains("incorrect store key"), "{page}");
}

fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// The secret as the browser shows it (Tera escapes `/` in base64 as an entity).
fn secret_of(page: &str) -> SecretString {
    let start = page.find("whsec_").unwrap();
    let end = page[start..].find('<').unwrap();
    SecretString::from(page[start..start + end].replace("&#x2F;", "/"))
}

async fn form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn send_event(app: &TestApp, tenant: TenantId, id: &str, secret: &SecretString) -> u16 {
    let body = br#"{"type":"signup","timestamp":"2026-05-28T20:26:00Z","data":{"user_id":"u_42","email":"ada@example.com"}}"#;
    let now = chrono::Utc::now().timestamp();
    let signature = event_api::sign(secret, id, now, body).unwrap();
    app.client
        .post(format!("{}/api/v1/events", app.address))
        .header("content-type", "application/json")
        .header("dealbridge-tenant", tenant.to_string())
        .header("webhook-id", id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_dashboard_manages_secrets_and_stores_with_csrf_and_audit() {
    let app = spawn_app().await;
    let tenant = install(&app).await;
    let dashboard = app.get("/dashboard").await.text().await.unwrap();
    assert!(
        dashboard.contains(&tenant.to_string()),
        "the tenant id is shown"
    );
    let csrf = csrf_of(&dashboard);

    let forged = form(&app, "/dashboard/event-api/secrets", &[("csrf", "nope")]).await;
    assert_eq!(forged.status(), 403, "CSRF-checked");
    let created = form(&app, "/dashboard/event-api/secrets", &[("csrf", &csrf)]).await;
    assert_eq!(created.status(), 200);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let first = secret_of(&created.text().await.unwrap());
    assert_eq!(send_event(&app, tenant, "msg_1", &first).await, 200);
    let again = app.get("/dashboard").await.text().await.unwrap();
    assert!(!again.contains(first.expose_secret()), "shown only once");

    let rotated = form(
        &app,
        "/dashboard/event-api/secrets/rotate",
        &[("csrf", &csrf)],
    )
    .await;
    let page = rotated.text().await.unwrap();
    assert!(page.contains("keep working until"), "{page}");
    let second = secret_of(&page);
    assert_eq!(
        send_event(&app, tenant, "msg_2", &first).await,
        200,
        "grace period"
    );
    assert_eq!(send_event(&app, tenant, "msg_3", &second).await, 200);
    let listed = app.store.event_api_secrets(tenant).await.unwrap();
    let newest = listed[0].id.to_string();
    let revoked = form(
        &app,
        &format!("/dashboard/event-api/secrets/{newest}/revoke"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(revoked.status(), 303);
    assert_eq!(
        send_event(&app, tenant, "msg_4", &second).await,
        401,
        "revoked"
    );

    let connected = form(
        &app,
        "/dashboard/stores",
        &[
            ("csrf", &csrf),
            ("kind", "shopify"),
            ("display_name", "Norman's"),
            ("shop_domain", "norman.myshopify.com"),
            ("secret", "shpss_secret"),
        ],
    )
    .await;
    assert_eq!(connected.status(), 303);
    let bad = form(
        &app,
        "/dashboard/stores",
        &[
            ("csrf", &csrf),
            ("kind", "shopify"),
            ("display_name", "x"),
            ("shop_domain", "not a domain"),
            ("secret", "s"),
        ],
    )
    .await;
    assert_eq!(bad.status(), 400);
    let connections = app.store.store_connections(tenant).await.unwrap();
    assert_eq!(connections.len(), 2, "the demo store and Shopify");
    // As the browser shows it: Tera escapes `/` as an entity.
    let page = app
        .get("/dashboard")
        .await
        .text()
        .await
        .unwrap()
        .replace("&#x2F;", "/");
    assert!(
        page.contains(&format!("/hooks/shopify/{}", connections[1].path_token)),
        "{page}"
    );
    assert!(!page.contains("shpss_secret"), "the secret is never shown");

    // Disconnecting the API2Cart store deletes its webhooks at API2Cart.
    let demo = &connections[0];
    let gone = form(
        &app,
        &format!("/dashboard/stores/{}/disconnect", demo.id),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(gone.status(), 303);
    let sandbox = app.sandbox.as_ref().unwrap();
    let key = sandbox.api2cart.demo_store_key.expose_secret().to_owned();
    assert_eq!(
        sandbox
            .control
            .api2cart()
            .store(&key)
            .unwrap()
            .webhooks
            .len(),
        0
    );
    assert_eq!(app.store.store_connections(tenant).await.unwrap().len(), 1);

    let actions: Vec<String> = app
        .store
        .audit_log(Some(tenant), 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for action in [
        "event_api.secret_created",
        "event_api.secret_rotated",
        "event_api.secret_revoked",
        "store.connected",
        "store.disconnected",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} audited: {actions:?}"
        );
    }
}

//! The signed event API and the store webhooks, through the real HTTP routes: real-shaped
//! payloads for every source and type, good and bad signatures, duplicates, replays outside the
//! tolerance, a foreign tenant's credentials, oversized and malformed bodies. The event API runs
//! on both stores (Postgres when `TEST_POSTGRES_URL` is set, listed as ignored otherwise).

use std::sync::Arc;

use actix_web::{test, web, App};
use chrono::{Duration, Utc};
use dealbridge_core::event::EventSource;
use dealbridge_core::tenant::NewTenant;
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_crypto::{ExposeSecret, KeyRing, SecretString};
use dealbridge_events::{event_api, sign_body};
use dealbridge_inbox::{
    random_token, seal_secret, EventApiReceiver, InboxWriter, SecretRole, StoreReceiver,
};
use dealbridge_storage::{
    ConnectionState, Maintenance, NewEventApiSecret, NewStoreConnection, Store, StoreKind,
};
use dealbridge_storage_sql::{PgStore, SqliteStore};
use libtest_mimic::{Arguments, Failed, Trial};
use uuid::Uuid;

const URL_VAR: &str = "TEST_POSTGRES_URL";
type TestResult = Result<(), Failed>;

const SHOPIFY_ORDER: &[u8] = include_bytes!("../../events/tests/fixtures/shopify_order.json");
const SHOPIFY_CUSTOMER: &[u8] = include_bytes!("../../events/tests/fixtures/shopify_customer.json");
const WOO_ORDER: &[u8] = include_bytes!("../../events/tests/fixtures/woocommerce_order.json");
const A2C_ORDER: &[u8] = include_bytes!("../../events/tests/fixtures/api2cart_order.json");
const A2C_CUSTOMER: &[u8] = include_bytes!("../../events/tests/fixtures/api2cart_customer.json");

fn main() {
    let args = Arguments::from_args();
    let url = std::env::var(URL_VAR).ok();
    if url.is_none() {
        eprintln!("postgres event API tests SKIPPED: {URL_VAR} is not set");
    }
    let trials = vec![
        Trial::test("sqlite::event_api_answers_every_request_truthfully", || {
            run(async { event_api_answers(sqlite().await?.0).await })
        }),
        Trial::test(
            "sqlite::store_webhooks_answer_every_delivery_truthfully",
            || run(async { store_webhooks_answer(sqlite().await?.0).await }),
        ),
        Trial::test("openapi::the_document_parses_and_lists_the_routes", || {
            run(openapi_document())
        }),
        {
            let given = url.clone();
            Trial::test(
                "postgres::event_api_answers_every_request_truthfully",
                move || {
                    let url = given.unwrap_or_default();
                    run(async move {
                        let (store, name) = fresh_database(&url).await?;
                        event_api_answers(Arc::new(store)).await?;
                        drop_database(&url, &name).await
                    })
                },
            )
            .with_ignored_flag(url.is_none())
        },
    ];
    libtest_mimic::run(&args, trials).exit();
}

fn run(test: impl std::future::Future<Output = TestResult>) -> TestResult {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(err)?
        .block_on(test)
}

fn err(e: impl std::fmt::Display) -> Failed {
    Failed::from(e.to_string())
}

fn check(condition: bool, what: impl Into<String>) -> TestResult {
    if condition {
        Ok(())
    } else {
        Err(Failed::from(what.into()))
    }
}

async fn sqlite() -> Result<(Arc<dyn Store>, tempfile::TempDir), Failed> {
    let dir = tempfile::tempdir().map_err(err)?;
    let url = format!("sqlite://{}/events.db", dir.path().display());
    let store = SqliteStore::connect(&url, 4).await.map_err(err)?;
    store.migrate().await.map_err(err)?;
    // The directory must outlive the store: leak it for the test's lifetime.
    let store: Arc<dyn Store> = Arc::new(store);
    std::mem::forget(dir);
    Ok((store, tempfile::tempdir().map_err(err)?))
}

fn base_of(url: &str) -> &str {
    url.rsplit_once('/').map(|(base, _)| base).unwrap_or(url)
}

async fn fresh_database(admin_url: &str) -> Result<(PgStore, String), Failed> {
    let name = format!("dealbridge_events_test_{}", Uuid::new_v4().simple());
    let store = PgStore::connect(&format!("{}/{name}", base_of(admin_url)), 8)
        .await
        .map_err(err)?;
    store.migrate().await.map_err(err)?;
    Ok((store, name))
}

async fn drop_database(admin_url: &str, name: &str) -> TestResult {
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url)
        .await
        .map_err(err)?;
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await
        .map_err(err)?;
    Ok(())
}

async fn tenant(store: &dyn Store, company: i64) -> Result<TenantId, Failed> {
    let tenant = store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(company),
            company_name: format!("Company {company}"),
            company_domain: format!("company{company}"),
        })
        .await
        .map_err(err)?;
    Ok(tenant.id)
}

/// A new signing secret for the tenant, sealed as the dashboard stores it.
async fn add_secret(
    store: &dyn Store,
    keys: &KeyRing,
    tenant_id: TenantId,
    retire_others_at: Option<chrono::DateTime<Utc>>,
) -> Result<(Uuid, SecretString), Failed> {
    let secret = event_api::generate_secret();
    let id = Uuid::now_v7();
    let sealed =
        seal_secret(keys, SecretRole::EventApiSecret, tenant_id, id, &secret).map_err(err)?;
    store
        .add_event_api_secret(
            &NewEventApiSecret {
                tenant_id,
                id,
                secret: sealed,
                created_at: Utc::now(),
            },
            retire_others_at,
        )
        .await
        .map_err(err)?;
    Ok((id, secret))
}

/// The routes with both receivers over one group-commit writer, as the app wires them.
macro_rules! event_app {
    ($store:expr, $keys:expr) => {{
        let writer = InboxWriter::spawn($store.clone(), Default::default());
        let events = EventApiReceiver::new($store.clone(), $keys.clone(), writer.clone());
        let stores = StoreReceiver::new($store.clone(), $keys.clone(), writer);
        test::init_service(
            App::new()
                .app_data(web::Data::new(events))
                .app_data(web::Data::new(stores))
                .configure(dealbridge_web::configure_event_sources),
        )
        .await
    }};
}

/// A request to the event API, signed with `secret` at `sent` seconds from now.
fn event(
    tenant: &str,
    id: &str,
    secret: &SecretString,
    sent: i64,
    body: &serde_json::Value,
) -> test::TestRequest {
    let body = serde_json::to_vec(body).unwrap_or_default();
    signed(tenant, id, secret, sent, body)
}

fn signed(
    tenant: &str,
    id: &str,
    secret: &SecretString,
    sent: i64,
    body: Vec<u8>,
) -> test::TestRequest {
    let timestamp = Utc::now().timestamp() + sent;
    let signature = event_api::sign(secret, id, timestamp, &body).unwrap_or_default();
    test::TestRequest::post()
        .uri("/api/v1/events")
        .insert_header(("content-type", "application/json"))
        .insert_header(("dealbridge-tenant", tenant))
        .insert_header(("webhook-id", id))
        .insert_header(("webhook-timestamp", timestamp.to_string()))
        .insert_header(("webhook-signature", signature))
        .set_payload(body)
}

/// One real-shaped body per event API type.
fn every_type() -> Vec<serde_json::Value> {
    let at = "2026-05-28T20:26:00Z";
    [
        ("signup", serde_json::json!({"user_id": "u_42", "email": "ada@example.com", "plan": "pro"})),
        ("order.created", serde_json::json!({"id": "A1001", "number": "#1001", "status": "paid", "currency": "EUR", "total": "59.90", "customer": {"id": "c7", "email": "ada@example.com"}, "line_items": [{"sku": "MUG", "name": "Mug", "quantity": 2, "unit_price": "29.95"}]})),
        ("order.updated", serde_json::json!({"id": "A1002", "status": "refunded", "currency": "EUR", "total": "0"})),
        ("customer.updated", serde_json::json!({"email": "ada@example.com", "company": "Analytical Engines"})),
        ("usage.reported", serde_json::json!({"account_id": "acct_1", "metric": "api_calls", "quantity": 1200})),
        ("ticket.created", serde_json::json!({"ticket_id": "T-9", "email": "ada@example.com", "subject": "Invoice", "priority": "high"})),
        ("deal.stage_changed", serde_json::json!({"deal_id": 42, "stage_id": 3, "note": "Signed the trial agreement"})),
    ]
    .into_iter()
    .map(|(kind, data)| serde_json::json!({"type": kind, "timestamp": at, "data": data}))
    .collect()
}

type Answer = (u16, serde_json::Value);

/// Sends the request; the status and the JSON answer.
macro_rules! call {
    ($app:expr, $request:expr) => {
        async {
            let response = test::call_service(&$app, $request.to_request()).await;
            let status = response.status().as_u16();
            let body = test::read_body(response).await;
            let answer: Answer = (
                status,
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            );
            answer
        }
    };
}

fn expect(name: &str, answer: &Answer, status: u16, word: Option<&str>) -> TestResult {
    check(
        answer.0 == status,
        format!("{name}: expected {status}, got {answer:?}"),
    )?;
    if let Some(word) = word {
        check(
            answer.1["status"] == word,
            format!("{name}: expected status {word:?}, got {answer:?}"),
        )?;
    }
    Ok(())
}

async fn event_api_answers(store: Arc<dyn Store>) -> TestResult {
    let (keys, _) = KeyRing::generate("k1").map_err(err)?;
    let keys = Arc::new(keys);
    let ours = tenant(store.as_ref(), 501).await?;
    let theirs = tenant(store.as_ref(), 502).await?;
    let (_, secret) = add_secret(store.as_ref(), &keys, ours, None).await?;
    let (_, foreign) = add_secret(store.as_ref(), &keys, theirs, None).await?;
    let app = event_app!(store, keys);
    let me = ours.to_string();

    // Every type is recorded, with its job.
    for (n, body) in every_type().iter().enumerate() {
        let answer = call!(app, event(&me, &format!("msg_{n}"), &secret, 0, body)).await;
        expect(
            &format!("type {}", body["type"]),
            &answer,
            200,
            Some("recorded"),
        )?;
    }
    let signup = &every_type()[0];
    let resent = call!(app, event(&me, "msg_0", &secret, 0, signup)).await;
    expect("the same webhook-id again", &resent, 200, Some("duplicate"))?;

    let refusals: Vec<(&str, test::TestRequest, u16)> = vec![
        (
            "wrong secret",
            event(&me, "msg_x1", &event_api::generate_secret(), 0, signup),
            401,
        ),
        (
            "another tenant's secret",
            event(&me, "msg_x2", &foreign, 0, signup),
            401,
        ),
        (
            "replayed 6 minutes later",
            event(&me, "msg_x3", &secret, -360, signup),
            401,
        ),
        (
            "sent 6 minutes ahead",
            event(&me, "msg_x4", &secret, 360, signup),
            401,
        ),
        (
            "unknown tenant",
            event(&TenantId::new().to_string(), "msg_x5", &secret, 0, signup),
            404,
        ),
        (
            "not a tenant id",
            event("acme", "msg_x6", &secret, 0, signup),
            404,
        ),
        (
            "not json",
            signed(&me, "msg_x7", &secret, 0, b"{\"type\":".to_vec()),
            400,
        ),
        (
            "oversized",
            signed(
                &me,
                "msg_x8",
                &secret,
                0,
                vec![b' '; event_api::MAX_BODY_BYTES + 1],
            ),
            413,
        ),
    ];
    for (name, request, status) in refusals {
        expect(name, &call!(app, request).await, status, None)?;
    }
    let unsigned = test::TestRequest::post()
        .uri("/api/v1/events")
        .insert_header(("dealbridge-tenant", me.as_str()))
        .set_payload(serde_json::to_vec(signup).unwrap_or_default());
    expect("unsigned", &call!(app, unsigned).await, 401, None)?;
    let no_tenant = test::TestRequest::post()
        .uri("/api/v1/events")
        .set_payload(serde_json::to_vec(signup).unwrap_or_default());
    let answer = call!(app, no_tenant).await;
    expect("no tenant header", &answer, 400, None)?;
    check(
        answer.1["errors"][0]["field"] == "header:dealbridge-tenant",
        format!("the missing header is named: {answer:?}"),
    )?;

    // A bad payload is answered field by field, and nothing of it is stored.
    let bad = serde_json::json!({"type": "order.created", "timestamp": "2026-05-28T20:26:00Z",
        "data": {"id": "A9", "status": "paid", "currency": "euro", "total": "ten",
                 "customer": {"email": "not-an-email"}}});
    let answer = call!(app, event(&me, "msg_bad", &secret, 0, &bad)).await;
    expect("invalid order", &answer, 400, None)?;
    let fields: Vec<String> = answer.1["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for field in ["data.currency", "data.total", "data.customer.email"] {
        check(
            fields.iter().any(|f| f == field),
            format!("{field} is named: {fields:?}"),
        )?;
    }
    let unknown = serde_json::json!({"type": "signup", "timestamp": "2026-05-28T20:26:00Z",
        "data": {"user_id": "u1", "email": "a@example.com", "favourite_colour": "blue"}});
    let answer = call!(app, event(&me, "msg_unknown", &secret, 0, &unknown)).await;
    expect("unknown field", &answer, 400, None)?;

    // A rotation keeps the old secret valid for the grace period; a revoked one stops at once.
    let grace = Utc::now() + Duration::hours(24);
    let (new_id, rotated) = add_secret(store.as_ref(), &keys, ours, Some(grace)).await?;
    let old = call!(app, event(&me, "msg_old", &secret, 0, signup)).await;
    expect(
        "old secret during the grace period",
        &old,
        200,
        Some("recorded"),
    )?;
    let new = call!(app, event(&me, "msg_new", &rotated, 0, signup)).await;
    expect("new secret", &new, 200, Some("recorded"))?;
    store
        .revoke_event_api_secret(ours, new_id, Utc::now())
        .await
        .map_err(err)?;
    let revoked = call!(app, event(&me, "msg_revoked", &rotated, 0, signup)).await;
    expect("revoked secret", &revoked, 401, None)?;

    let recorded = store
        .recent_events(ours, EventSource::EventApi, 100)
        .await
        .map_err(err)?;
    let expected = every_type().len() + 2;
    check(
        recorded.len() == expected,
        format!("{expected} events recorded, got {}", recorded.len()),
    )?;
    let jobs = store.job_counts(Some(ours)).await.map_err(err)?;
    // The signup sent with the old and new secrets is the same user: the later one is the
    // entity's newest, both are recorded; every recorded, non-stale event has its job.
    let stale = recorded
        .iter()
        .filter(|e| e.state == dealbridge_storage::InboxState::Stale)
        .count() as u64;
    check(
        jobs.queued == expected as u64 - stale,
        format!("one job per recorded event: {jobs:?}, {stale} stale"),
    )?;
    check(
        store
            .recent_events(theirs, EventSource::EventApi, 10)
            .await
            .map_err(err)?
            .is_empty(),
        "nothing recorded for the other tenant",
    )?;
    let _ = foreign.expose_secret();
    Ok(())
}

struct Connected {
    path: String,
    secret: SecretString,
    token: Option<SecretString>,
    id: Uuid,
}

async fn connect(
    store: &dyn Store,
    keys: &KeyRing,
    tenant_id: TenantId,
    kind: StoreKind,
) -> Result<Connected, Failed> {
    let id = Uuid::now_v7();
    let secret = SecretString::from(random_token());
    let token = (kind == StoreKind::Api2Cart).then(|| SecretString::from(random_token()));
    let seal = |role, value: &SecretString| seal_secret(keys, role, tenant_id, id, value);
    let path = random_token();
    store
        .add_store_connection(&NewStoreConnection {
            tenant_id,
            id,
            kind,
            display_name: format!("{} store", kind.as_str()),
            shop_domain: (kind == StoreKind::Shopify).then(|| "norman.myshopify.com".into()),
            secret: seal(SecretRole::StoreSecret, &secret).map_err(err)?,
            callback_token: token
                .as_ref()
                .map(|t| seal(SecretRole::CallbackToken, t))
                .transpose()
                .map_err(err)?,
            path_token: path.clone(),
        })
        .await
        .map_err(err)?;
    Ok(Connected {
        path,
        secret,
        token,
        id,
    })
}

fn shopify(
    path: &str,
    topic: &str,
    event_id: &str,
    key: &SecretString,
    body: &[u8],
) -> test::TestRequest {
    test::TestRequest::post()
        .uri(&format!("/hooks/shopify/{path}"))
        .insert_header(("content-type", "application/json"))
        .insert_header(("X-Shopify-Topic", topic))
        .insert_header(("X-Shopify-Hmac-Sha256", sign_body(key, body)))
        .insert_header(("X-Shopify-Shop-Domain", "norman.myshopify.com"))
        .insert_header((
            "X-Shopify-Webhook-Id",
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        ))
        .insert_header(("X-Shopify-Event-Id", event_id))
        .insert_header(("X-Shopify-Triggered-At", "2008-01-10T16:00:01Z"))
        .set_payload(body.to_vec())
}

fn woo(path: &str, topic: &str, key: &SecretString, body: &[u8]) -> test::TestRequest {
    test::TestRequest::post()
        .uri(&format!("/hooks/woocommerce/{path}"))
        .insert_header(("content-type", "application/json"))
        .insert_header(("X-WC-Webhook-Source", "https://shop.example.com/"))
        .insert_header(("X-WC-Webhook-Topic", topic))
        .insert_header(("X-WC-Webhook-Resource", "order"))
        .insert_header(("X-WC-Webhook-Signature", sign_body(key, body)))
        .insert_header(("X-WC-Webhook-ID", "14"))
        .insert_header((
            "X-WC-Webhook-Delivery-ID",
            "a7a5c2b7f0f04ac0bd2b0e6dd2e2c8b3",
        ))
        .set_payload(body.to_vec())
}

fn a2c(
    path: &str,
    token: Option<&str>,
    entity: &str,
    action: &str,
    body: &[u8],
) -> test::TestRequest {
    let uri = match token {
        Some(token) => format!("/hooks/api2cart/{path}?token={token}"),
        None => format!("/hooks/api2cart/{path}"),
    };
    test::TestRequest::post()
        .uri(&uri)
        .insert_header(("content-type", "application/json"))
        .insert_header(("X-Webhook-Store-Id", "1"))
        .insert_header(("X-Webhook-Entity", entity))
        .insert_header(("X-Webhook-Action", action))
        .insert_header(("X-Webhook-Error-Code", "0"))
        .set_payload(body.to_vec())
}

async fn store_webhooks_answer(store: Arc<dyn Store>) -> TestResult {
    let (keys, _) = KeyRing::generate("k1").map_err(err)?;
    let keys = Arc::new(keys);
    let ours = tenant(store.as_ref(), 601).await?;
    let theirs = tenant(store.as_ref(), 602).await?;
    let shop = connect(store.as_ref(), &keys, ours, StoreKind::Shopify).await?;
    let other_shop = connect(store.as_ref(), &keys, theirs, StoreKind::Shopify).await?;
    let woo_shop = connect(store.as_ref(), &keys, ours, StoreKind::WooCommerce).await?;
    let cart = connect(store.as_ref(), &keys, ours, StoreKind::Api2Cart).await?;
    let token = cart
        .token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .unwrap_or_default();
    let app = event_app!(store, keys);

    let cases: Vec<(&str, test::TestRequest, u16, Option<&str>)> = vec![
        (
            "shopify order",
            shopify(
                &shop.path,
                "orders/create",
                "evt-1",
                &shop.secret,
                SHOPIFY_ORDER,
            ),
            200,
            Some("recorded"),
        ),
        (
            "shopify order again",
            shopify(
                &shop.path,
                "orders/create",
                "evt-1",
                &shop.secret,
                SHOPIFY_ORDER,
            ),
            200,
            Some("duplicate"),
        ),
        (
            "shopify order update",
            shopify(
                &shop.path,
                "orders/updated",
                "evt-2",
                &shop.secret,
                SHOPIFY_ORDER,
            ),
            200,
            None,
        ),
        (
            "shopify customer",
            shopify(
                &shop.path,
                "customers/update",
                "evt-3",
                &shop.secret,
                SHOPIFY_CUSTOMER,
            ),
            200,
            Some("recorded"),
        ),
        (
            "shopify bad hmac",
            shopify(
                &shop.path,
                "orders/create",
                "evt-4",
                &SecretString::from("nope".to_owned()),
                SHOPIFY_ORDER,
            ),
            401,
            None,
        ),
        (
            "shopify another tenant's secret",
            shopify(
                &shop.path,
                "orders/create",
                "evt-5",
                &other_shop.secret,
                SHOPIFY_ORDER,
            ),
            401,
            None,
        ),
        (
            "shopify from another shop",
            shopify(
                &shop.path,
                "orders/create",
                "evt-10",
                &shop.secret,
                SHOPIFY_ORDER,
            )
            .insert_header(("X-Shopify-Shop-Domain", "other.myshopify.com")),
            403,
            None,
        ),
        (
            "shopify malformed",
            shopify(
                &shop.path,
                "orders/create",
                "evt-6",
                &shop.secret,
                b"{\"id\":",
            ),
            400,
            None,
        ),
        (
            "shopify oversized",
            shopify(
                &shop.path,
                "orders/create",
                "evt-7",
                &shop.secret,
                &vec![b' '; dealbridge_web::MAX_STORE_HOOK_BODY + 1],
            ),
            413,
            None,
        ),
        (
            "shopify unknown path",
            shopify(
                &random_token(),
                "orders/create",
                "evt-8",
                &shop.secret,
                SHOPIFY_ORDER,
            ),
            404,
            None,
        ),
        (
            "shopify on the woocommerce path",
            shopify(
                &woo_shop.path,
                "orders/create",
                "evt-9",
                &shop.secret,
                SHOPIFY_ORDER,
            ),
            404,
            None,
        ),
        (
            "woocommerce order",
            woo(&woo_shop.path, "order.created", &woo_shop.secret, WOO_ORDER),
            200,
            Some("recorded"),
        ),
        (
            "woocommerce redelivery",
            woo(&woo_shop.path, "order.created", &woo_shop.secret, WOO_ORDER),
            200,
            Some("duplicate"),
        ),
        (
            "woocommerce bad signature",
            woo(&woo_shop.path, "order.created", &shop.secret, WOO_ORDER),
            401,
            None,
        ),
        (
            "woocommerce set-up ping",
            test::TestRequest::post()
                .uri(&format!("/hooks/woocommerce/{}", woo_shop.path))
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload("webhook_id=14"),
            200,
            Some("ignored"),
        ),
        (
            "api2cart order",
            a2c(&cart.path, Some(&token), "order", "add", A2C_ORDER),
            200,
            Some("recorded"),
        ),
        (
            "api2cart order again",
            a2c(&cart.path, Some(&token), "order", "add", A2C_ORDER),
            200,
            Some("duplicate"),
        ),
        (
            "api2cart order update",
            a2c(&cart.path, Some(&token), "order", "update", A2C_ORDER),
            200,
            None,
        ),
        (
            "api2cart customer",
            a2c(&cart.path, Some(&token), "customer", "add", A2C_CUSTOMER),
            200,
            Some("recorded"),
        ),
        (
            "api2cart wrong token",
            a2c(&cart.path, Some(&random_token()), "order", "add", A2C_ORDER),
            401,
            None,
        ),
        (
            "api2cart no token",
            a2c(&cart.path, None, "order", "add", A2C_ORDER),
            401,
            None,
        ),
        (
            "api2cart malformed",
            a2c(&cart.path, Some(&token), "order", "add", b"[1,2"),
            400,
            None,
        ),
    ];
    for (name, request, status, word) in cases {
        expect(name, &call!(app, request).await, status, word)?;
    }
    let count = |source| {
        let store = store.clone();
        async move {
            store
                .recent_events(ours, source, 100)
                .await
                .map(|e| e.len())
        }
    };
    check(
        count(EventSource::Shopify).await.map_err(err)? == 3,
        "3 Shopify events",
    )?;
    check(
        count(EventSource::WooCommerce).await.map_err(err)? == 1,
        "1 WooCommerce event",
    )?;
    check(
        count(EventSource::Api2Cart).await.map_err(err)? == 3,
        "3 API2Cart events",
    )?;

    // API2Cart's connection-loss notice: an empty body, answered 200, and the connection
    // needs attention with the reason it gave.
    let notice = test::TestRequest::post()
        .uri(&format!("/hooks/api2cart/{}?token={token}", cart.path))
        .insert_header(("X-Webhook-Store-Id", "1"))
        .insert_header(("X-Webhook-Error-Code", "1"))
        .insert_header(("X-Webhook-Error-Reason", "incorrect store key"))
        .insert_header(("X-Webhook-Error-Try-Count", "4"));
    expect(
        "api2cart connection lost",
        &call!(app, notice).await,
        200,
        Some("connection_lost"),
    )?;
    let connection = store
        .store_connection(ours, cart.id)
        .await
        .map_err(err)?
        .ok_or_else(|| Failed::from("connection gone"))?;
    check(
        connection.state == ConnectionState::NeedsAttention,
        "the connection needs attention",
    )?;
    check(
        connection
            .attention_reason
            .is_some_and(|r| r.contains("incorrect store key")),
        "with API2Cart's reason",
    )?;
    let forged = test::TestRequest::post()
        .uri(&format!("/hooks/api2cart/{}", cart.path))
        .insert_header(("X-Webhook-Error-Code", "1"));
    expect("a forged notice", &call!(app, forged).await, 401, None)?;
    Ok(())
}

async fn openapi_document() -> TestResult {
    let app =
        test::init_service(App::new().configure(dealbridge_web::configure_event_sources)).await;
    let request = test::TestRequest::get().uri("/api/v1/openapi.json");
    let (status, document) = call!(app, request).await;
    check(status == 200, format!("served: {status}"))?;
    check(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document",
    )?;
    for path in [
        "/api/v1/events",
        "/hooks/shopify/{path_token}",
        "/hooks/woocommerce/{path_token}",
        "/hooks/api2cart/{path_token}",
    ] {
        check(
            document["paths"][path]["post"].is_object(),
            format!("{path} is listed"),
        )?;
    }
    let variants = &document["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]["oneOf"];
    check(
        variants.as_array().map(Vec::len) == Some(7),
        format!("one request schema per event type: {variants}"),
    )?;
    for schema in [
        "Signup",
        "Order",
        "Customer",
        "UsageReport",
        "Ticket",
        "DealStageChange",
    ] {
        check(
            document["components"]["schemas"][schema].is_object(),
            format!("{schema} schema"),
        )?;
    }
    // It parses back as an OpenAPI document.
    let text = serde_json::to_string(&document).map_err(err)?;
    serde_json::from_str::<utoipa::openapi::OpenApi>(&text).map_err(err)?;
    Ok(())
}

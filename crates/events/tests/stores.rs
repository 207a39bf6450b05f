//! Shopify, WooCommerce and API2Cart deliveries: signatures, dedupe keys, ignorable requests, and
//! the one normalized order/customer shape all three map onto.

use chrono::{DateTime, Utc};
use dealbridge_core::event::{EventSource, EventType, NewEvent};
use dealbridge_events::{api2cart, shopify, woocommerce};
use dealbridge_events::{sign_body, ConnectionLoss, Delivery, Headers, Ignored, IngestError};
use secrecy::SecretString;

const SHOPIFY_ORDER: &[u8] = include_bytes!("fixtures/shopify_order.json");
const SHOPIFY_CUSTOMER: &[u8] = include_bytes!("fixtures/shopify_customer.json");
const WOO_ORDER: &[u8] = include_bytes!("fixtures/woocommerce_order.json");
const A2C_ORDER: &[u8] = include_bytes!("fixtures/api2cart_order.json");
const A2C_CUSTOMER: &[u8] = include_bytes!("fixtures/api2cart_customer.json");

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default()
}

fn status(result: Result<impl std::fmt::Debug, IngestError>) -> u16 {
    result.err().map_or(200, |error| error.status())
}

fn event_of(delivery: Result<Delivery, IngestError>) -> NewEvent {
    match delivery {
        Ok(Delivery::Event(event)) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

// ---- Shopify

fn shopify_headers(topic: &str, body: &[u8], key: &str, event_id: Option<&str>) -> Headers {
    let mut pairs = vec![
        ("X-Shopify-Topic".to_owned(), topic.to_owned()),
        (
            "X-Shopify-Hmac-Sha256".to_owned(),
            sign_body(&secret(key), body),
        ),
        (
            "X-Shopify-Shop-Domain".to_owned(),
            "norman.myshopify.com".to_owned(),
        ),
        (
            "X-Shopify-Webhook-Id".to_owned(),
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".to_owned(),
        ),
        (
            "X-Shopify-Triggered-At".to_owned(),
            "2008-01-10T16:00:01Z".to_owned(),
        ),
    ];
    if let Some(id) = event_id {
        pairs.push(("X-Shopify-Event-Id".to_owned(), id.to_owned()));
    }
    Headers::from_pairs(pairs)
}

#[test]
fn shopify_orders_map_onto_the_normalized_order() {
    let headers = shopify_headers(
        "orders/create",
        SHOPIFY_ORDER,
        "shpss_1",
        Some("98880550-7158-44d4-b7cd-2c97c8a091b5"),
    );
    let event = shopify::parse(&headers, SHOPIFY_ORDER, &[secret("shpss_1")], now())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(event.source, EventSource::Shopify);
    assert_eq!(event.kind, EventType::OrderCreated);
    assert_eq!(event.dedupe_key, "98880550-7158-44d4-b7cd-2c97c8a091b5");
    assert_eq!(event.entity_key.as_deref(), Some("order:450789469"));
    assert_eq!(event.occurred_at.to_rfc3339(), "2008-01-10T16:00:00+00:00");
    let order = &event.payload;
    assert_eq!(order["number"], "#1001");
    assert_eq!(order["store"], "norman.myshopify.com");
    assert_eq!(
        (order["currency"].as_str(), order["total"].as_str()),
        (Some("USD"), Some("409.94"))
    );
    assert_eq!(order["status"], "authorized");
    assert_eq!(order["customer"]["email"], "bob.norman@mail.example.com");
    assert_eq!(order["customer"]["company"], "Norman Widgets");
    assert_eq!(order["line_items"][1]["sku"], "IPOD2008RED");
    assert_eq!(order["line_items"][1]["unit_price"], "199.00");

    let updated = shopify_headers("orders/updated", SHOPIFY_ORDER, "shpss_1", None);
    let event = shopify::parse(&updated, SHOPIFY_ORDER, &[secret("shpss_1")], now())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(event.kind, EventType::OrderUpdated);
    // Without an event id the webhook id is the dedupe key.
    assert_eq!(event.dedupe_key, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
}

#[test]
fn shopify_customers_and_unprefixed_headers() {
    let headers = Headers::from_pairs([
        ("Shopify-Topic", "customers/update".to_owned()),
        (
            "Shopify-Hmac-Sha256",
            sign_body(&secret("k"), SHOPIFY_CUSTOMER),
        ),
        ("Shopify-Event-Id", "evt-1".to_owned()),
    ]);
    let event = shopify::parse(&headers, SHOPIFY_CUSTOMER, &[secret("k")], now())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(event.kind, EventType::CustomerUpdated);
    assert_eq!(event.entity_key.as_deref(), Some("customer:207119551"));
    assert_eq!(event.payload["company"], "Norman Widgets");
    assert_eq!(event.occurred_at.to_rfc3339(), "2008-01-11T14:30:00+00:00");
}

#[test]
fn shopify_refuses_bad_signatures_and_accepts_either_secret_during_rotation() {
    let headers = shopify_headers("orders/create", SHOPIFY_ORDER, "old", Some("e1"));
    assert_eq!(
        status(shopify::parse(
            &headers,
            SHOPIFY_ORDER,
            &[secret("new")],
            now()
        )),
        401
    );
    assert_eq!(
        status(shopify::parse(
            &headers,
            SHOPIFY_ORDER,
            &[secret("new"), secret("old")],
            now()
        )),
        200
    );
    let mut tampered = SHOPIFY_ORDER.to_vec();
    tampered[5] = b'9';
    assert_eq!(
        status(shopify::parse(&headers, &tampered, &[secret("old")], now())),
        401
    );
    let unsigned = Headers::from_pairs([("X-Shopify-Topic", "orders/create")]);
    assert_eq!(
        status(shopify::parse(
            &unsigned,
            SHOPIFY_ORDER,
            &[secret("old")],
            now()
        )),
        401
    );
}

#[test]
fn shopify_duplicates_share_the_event_id() {
    let first = shopify_headers("orders/updated", SHOPIFY_ORDER, "k", Some("evt-7"));
    let mut retry_pairs = vec![("X-Shopify-Webhook-Id", "another-delivery".to_owned())];
    retry_pairs.extend([
        ("X-Shopify-Topic", "orders/updated".to_owned()),
        (
            "X-Shopify-Hmac-Sha256",
            sign_body(&secret("k"), SHOPIFY_ORDER),
        ),
        ("X-Shopify-Event-Id", "evt-7".to_owned()),
    ]);
    let retry = Headers::from_pairs(retry_pairs);
    let keys: Vec<String> = [first, retry]
        .iter()
        .map(|h| {
            shopify::parse(h, SHOPIFY_ORDER, &[secret("k")], now())
                .map(|e| e.dedupe_key)
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(keys, ["evt-7", "evt-7"]);
}

#[test]
fn shopify_malformed_missing_unknown_and_oversized() {
    let sign = |topic: &str, body: &[u8]| shopify_headers(topic, body, "k", Some("e"));
    let fields = |topic: &str, body: &[u8]| {
        shopify::parse(&sign(topic, body), body, &[secret("k")], now())
            .err()
            .map(|e| {
                (
                    e.status(),
                    e.field_errors()
                        .iter()
                        .map(|f| f.field.clone())
                        .collect::<Vec<_>>(),
                )
            })
    };
    assert_eq!(
        fields("orders/create", b"{\"id\":"),
        Some((400, vec!["id".to_owned()]))
    );
    assert_eq!(
        fields("orders/create", br#"{"id":1,"currency":"USD"}"#),
        Some((400, vec!["body".to_owned()]))
    );
    assert_eq!(
        fields(
            "orders/create",
            br#"{"id":1,"currency":"USD","total_price":"abc","line_items":[]}"#
        ),
        Some((400, vec!["total".to_owned()]))
    );
    assert_eq!(
        fields("app/uninstalled", b"{}"),
        Some((400, vec!["header:X-Shopify-Topic".to_owned()]))
    );
    let no_id = Headers::from_pairs([
        ("X-Shopify-Topic", "orders/create".to_owned()),
        (
            "X-Shopify-Hmac-Sha256",
            sign_body(&secret("k"), SHOPIFY_ORDER),
        ),
    ]);
    assert_eq!(
        status(shopify::parse(&no_id, SHOPIFY_ORDER, &[secret("k")], now())),
        400
    );
    let big = vec![b' '; shopify::MAX_BODY_BYTES + 1];
    assert_eq!(
        status(shopify::parse(
            &sign("orders/create", &big),
            &big,
            &[secret("k")],
            now()
        )),
        413
    );
}

#[test]
fn shopify_orders_without_personal_data_still_parse() {
    let body = br#"{"id":5,"email":null,"currency":"EUR","total_price":"10.00","customer":null,"line_items":[]}"#;
    let event = shopify::parse(
        &shopify_headers("orders/create", body, "k", Some("e")),
        body,
        &[secret("k")],
        now(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(event.payload["customer"], serde_json::Value::Null);
    // No record time: the trigger time stands in.
    assert_eq!(event.occurred_at.to_rfc3339(), "2008-01-10T16:00:01+00:00");
}

// ---- WooCommerce

fn woo_headers(topic: &str, body: &[u8], key: &str) -> Headers {
    Headers::from_pairs([
        (
            "X-WC-Webhook-Source",
            "https://shop.example.com/".to_owned(),
        ),
        ("X-WC-Webhook-Topic", topic.to_owned()),
        ("X-WC-Webhook-Resource", "order".to_owned()),
        ("X-WC-Webhook-Signature", sign_body(&secret(key), body)),
        ("X-WC-Webhook-ID", "14".to_owned()),
        (
            "X-WC-Webhook-Delivery-ID",
            "a7a5c2b7f0f04ac0bd2b0e6dd2e2c8b3".to_owned(),
        ),
    ])
}

#[test]
fn woocommerce_orders_map_onto_the_normalized_order() {
    let event = event_of(woocommerce::parse(
        &woo_headers("order.updated", WOO_ORDER, "ck"),
        WOO_ORDER,
        &[secret("ck")],
    ));
    assert_eq!(event.source, EventSource::WooCommerce);
    assert_eq!(event.kind, EventType::OrderUpdated);
    assert_eq!(event.dedupe_key, "14:727:2017-03-22T19:28:08");
    assert_eq!(event.entity_key.as_deref(), Some("order:727"));
    assert_eq!(event.occurred_at.to_rfc3339(), "2017-03-22T19:28:08+00:00");
    let order = &event.payload;
    assert_eq!(
        (
            order["status"].as_str(),
            order["total"].as_str(),
            order["tax"].as_str()
        ),
        (Some("processing"), Some("29.35"), Some("1.35"))
    );
    assert_eq!(order["store"], "https://shop.example.com/");
    assert_eq!(order["customer"]["email"], "john.doe@example.com");
    assert_eq!(
        order["customer"]["id"],
        serde_json::Value::Null,
        "customer_id 0 is a guest"
    );
    assert_eq!(order["line_items"][0]["unit_price"], "3");
    assert_eq!(order["line_items"][1]["sku"], "Bar3");
    let created = event_of_created();
    assert_eq!(created.kind, EventType::OrderCreated);
}

fn event_of_created() -> NewEvent {
    event_of(woocommerce::parse(
        &woo_headers("order.created", WOO_ORDER, "ck"),
        WOO_ORDER,
        &[secret("ck")],
    ))
}

#[test]
fn woocommerce_redeliveries_of_one_state_share_a_key_and_new_states_do_not() {
    let first = event_of_created();
    let again = event_of_created();
    assert_eq!(first.dedupe_key, again.dedupe_key);
    let text = std::str::from_utf8(WOO_ORDER).unwrap_or_default().replace(
        "2017-03-22T19:28:08\",\"discount",
        "2017-03-23T08:00:00\",\"discount",
    );
    let later = event_of(woocommerce::parse(
        &woo_headers("order.created", text.as_bytes(), "ck"),
        text.as_bytes(),
        &[secret("ck")],
    ));
    assert_ne!(first.dedupe_key, later.dedupe_key);
}

#[test]
fn woocommerce_setup_ping_is_ignored_and_other_unsigned_requests_refused() {
    let ping = Headers::from_pairs([("Content-Type", "application/x-www-form-urlencoded")]);
    assert_eq!(
        woocommerce::parse(&ping, b"webhook_id=14", &[secret("ck")]),
        Ok(Delivery::Ignored(Ignored::WooCommerceSetupPing {
            webhook_id: 14
        }))
    );
    for body in [&b"webhook_id=abc"[..], b"webhook_id=1&x=2", WOO_ORDER, b""] {
        assert_eq!(
            woocommerce::parse(&ping, body, &[secret("ck")]),
            Err(IngestError::BadSignature)
        );
    }
    let forged = woo_headers("order.created", WOO_ORDER, "not-the-secret");
    assert_eq!(
        status(woocommerce::parse(&forged, WOO_ORDER, &[secret("ck")])),
        401
    );
}

#[test]
fn woocommerce_malformed_unknown_and_oversized() {
    let bad = br#"{"id":1,"status":"pending","currency":"USD","total":"1.00","date_modified_gmt":"yesterday"}"#;
    let error = woocommerce::parse(
        &woo_headers("order.created", bad, "ck"),
        bad,
        &[secret("ck")],
    )
    .err();
    assert_eq!(
        error.as_ref().map(|e| e.field_errors()[0].field.as_str()),
        Some("date_modified_gmt")
    );
    assert_eq!(
        status(woocommerce::parse(
            &woo_headers("order.created", b"[1,", "ck"),
            b"[1,",
            &[secret("ck")]
        )),
        400
    );
    assert_eq!(
        status(woocommerce::parse(
            &woo_headers("product.created", WOO_ORDER, "ck"),
            WOO_ORDER,
            &[secret("ck")]
        )),
        400
    );
    let big = vec![b'x'; woocommerce::MAX_BODY_BYTES + 1];
    assert_eq!(
        status(woocommerce::parse(
            &woo_headers("order.created", &big, "ck"),
            &big,
            &[secret("ck")]
        )),
        413
    );
}

// ---- API2Cart

fn a2c_headers(entity: &str, action: &str) -> Headers {
    Headers::from_pairs([
        ("X-Webhook-Store-Id", "1"),
        ("X-Webhook-Entity", entity),
        ("X-Webhook-Action", action),
        ("X-Webhook-Error-Code", "0"),
    ])
}

fn a2c(headers: &Headers, body: &[u8]) -> Result<Delivery, IngestError> {
    api2cart::parse(headers, body, "tok_9f2", &secret("tok_9f2"), now())
}

#[test]
fn api2cart_orders_map_onto_the_normalized_order() {
    let event = event_of(a2c(&a2c_headers("order", "add"), A2C_ORDER));
    assert_eq!(event.source, EventSource::Api2Cart);
    assert_eq!(event.kind, EventType::OrderCreated);
    assert_eq!(
        event.dedupe_key,
        "1:order:add:4130541658:2026-07-30T15:02:11-0500"
    );
    assert_eq!(event.entity_key.as_deref(), Some("order:4130541658"));
    assert_eq!(event.occurred_at.to_rfc3339(), "2026-07-30T20:02:11+00:00");
    let order = &event.payload;
    assert_eq!(
        (
            order["currency"].as_str(),
            order["total"].as_str(),
            order["tax"].as_str()
        ),
        (Some("USD"), Some("58.4"), Some("3.9"))
    );
    assert_eq!(order["status"], "completed");
    assert_eq!(
        order["number"],
        serde_json::Value::Null,
        "order_id equal to id adds nothing"
    );
    assert_eq!(order["customer"]["company"], "Roe Ceramics");
    assert_eq!(
        order["customer"]["phone"],
        serde_json::Value::Null,
        "empty strings are absent"
    );
    assert_eq!(order["line_items"][0]["unit_price"], "24");
    assert_eq!(order["line_items"][0]["total"], "48");
    let updated = event_of(a2c(&a2c_headers("order", "update"), A2C_ORDER));
    assert_eq!(updated.kind, EventType::OrderUpdated);
    assert_ne!(updated.dedupe_key, event.dedupe_key);
    assert_eq!(
        event_of(a2c(&a2c_headers("order", "add"), A2C_ORDER)).dedupe_key,
        event.dedupe_key
    );
}

#[test]
fn api2cart_customers_and_wrapped_bodies() {
    let wrapped = format!(
        "{{\"result\":{}}}",
        std::str::from_utf8(A2C_CUSTOMER).unwrap_or_default()
    );
    for body in [A2C_CUSTOMER, wrapped.as_bytes()] {
        let event = event_of(a2c(&a2c_headers("customer", "update"), body));
        assert_eq!(event.kind, EventType::CustomerUpdated);
        assert_eq!(event.entity_key.as_deref(), Some("customer:1037295427"));
        assert_eq!(event.payload["email"], "jane.roe@example.com");
        assert_eq!(event.payload["store"], "1");
    }
}

#[test]
fn api2cart_token_is_checked_first() {
    let refused = api2cart::parse(
        &a2c_headers("order", "add"),
        A2C_ORDER,
        "tok_guess",
        &secret("tok_9f2"),
        now(),
    );
    assert_eq!(refused, Err(IngestError::BadSignature));
    let big = vec![b' '; api2cart::MAX_BODY_BYTES + 1];
    assert_eq!(
        api2cart::parse(
            &a2c_headers("order", "add"),
            &big,
            "",
            &secret("tok_9f2"),
            now()
        ),
        Err(IngestError::BadSignature)
    );
    assert_eq!(status(a2c(&a2c_headers("order", "add"), &big)), 413);
}

#[test]
fn api2cart_connection_loss_notice() {
    let headers = Headers::from_pairs([
        ("X-Webhook-Store-Id", "1"),
        ("X-Webhook-Error-Code", "8"),
        ("X-Webhook-Error-Reason", "incorrect store key"),
        ("X-Webhook-Error-Message", "Reconnect the store in API2Cart"),
        ("X-Webhook-Error-Try-Count", "3"),
    ]);
    assert_eq!(
        a2c(&headers, b""),
        Ok(Delivery::ConnectionLost(ConnectionLoss {
            store_id: Some("1".to_owned()),
            error_code: "8".to_owned(),
            reason: Some("incorrect store key".to_owned()),
            message: Some("Reconnect the store in API2Cart".to_owned()),
            tries_left: Some(3),
        }))
    );
    // An empty body without an error code is not a notice.
    assert_eq!(status(a2c(&a2c_headers("order", "add"), b"")), 400);
}

#[test]
fn api2cart_malformed_and_unknown() {
    assert_eq!(status(a2c(&a2c_headers("order", "add"), b"{oops")), 400);
    assert_eq!(status(a2c(&a2c_headers("product", "add"), A2C_ORDER)), 400);
    let no_total = br#"{"id":"7","currency":{"iso3":"USD"}}"#;
    let error = a2c(&a2c_headers("order", "add"), no_total).err();
    assert_eq!(
        error.as_ref().map(|e| e.field_errors()[0].field.as_str()),
        Some("total.total")
    );
    let bad_date = br#"{"id":"7","currency":{"iso3":"USD"},"totals":{"total":1},"modified_at":{"value":"soon","format":"x"}}"#;
    let error = a2c(&a2c_headers("order", "add"), bad_date).err();
    assert_eq!(
        error.as_ref().map(|e| e.field_errors()[0].field.as_str()),
        Some("modified_at.value")
    );
    let no_store =
        Headers::from_pairs([("X-Webhook-Entity", "order"), ("X-Webhook-Action", "add")]);
    assert_eq!(status(a2c(&no_store, A2C_ORDER)), 400);
}

#[test]
fn every_store_produces_the_same_order_shape() {
    let shopify = shopify::parse(
        &shopify_headers("orders/create", SHOPIFY_ORDER, "k", Some("e")),
        SHOPIFY_ORDER,
        &[secret("k")],
        now(),
    )
    .map(|e| e.payload)
    .unwrap_or_default();
    let woo = event_of_created().payload;
    let a2c = event_of(a2c(&a2c_headers("order", "add"), A2C_ORDER)).payload;
    let keys = |value: &serde_json::Value| {
        value
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert!(!keys(&shopify).is_empty());
    assert_eq!(keys(&shopify), keys(&woo));
    assert_eq!(keys(&shopify), keys(&a2c));
    for payload in [&shopify, &woo, &a2c] {
        let order: Result<dealbridge_events::records::Order, _> =
            serde_json::from_value(payload.clone());
        assert!(order.is_ok(), "{payload}");
    }
}

#[test]
fn woocommerce_orders_need_their_modified_time() {
    let undated = br#"{"id":1,"status":"pending","currency":"USD","total":"1.00"}"#;
    let error = woocommerce::parse(
        &woo_headers("order.updated", undated, "ck"),
        undated,
        &[secret("ck")],
    )
    .err();
    assert_eq!(
        error.as_ref().map(|e| e.field_errors()[0].field.as_str()),
        Some("date_modified_gmt")
    );
}

#[test]
fn api2cart_without_a_modified_time_dedupes_on_the_body() {
    let bare = br#"{"id":"7","currency":{"iso3":"USD"},"totals":{"total":1}}"#;
    let changed = br#"{"id":"7","currency":{"iso3":"USD"},"totals":{"total":2}}"#;
    let key = |body: &[u8]| event_of(a2c(&a2c_headers("order", "update"), body)).dedupe_key;
    assert_eq!(key(bare), key(bare));
    assert_ne!(key(bare), key(changed));
    assert!(key(bare).starts_with("1:order:update:7:sha256:"));
}

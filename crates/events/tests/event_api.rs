//! The signed event API: Standard Webhooks signatures, tolerance, rotation and every payload type.

use chrono::{DateTime, Duration, Utc};
use dealbridge_core::event::{EventSource, EventType};
use dealbridge_events::event_api::{self, Secrets, MAX_BODY_BYTES, TOLERANCE_SECONDS};
use dealbridge_events::{Headers, IngestError};
use secrecy::SecretString;
use serde_json::json;

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default()
}

/// Headers a sender using `secret` would put on `body`, `id` at time `ts`.
fn signed(secret_text: &str, id: &str, ts: i64, body: &[u8]) -> Headers {
    let signature = event_api::sign(&secret(secret_text), id, ts, body).unwrap_or_default();
    Headers::from_pairs([
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", signature),
    ])
}

fn secrets(texts: &[&str]) -> Secrets {
    let owned: Vec<SecretString> = texts.iter().map(|t| secret(t)).collect();
    Secrets::new(&owned).unwrap_or_else(|_| Secrets::new([]).unwrap_or_else(|_| unreachable!()))
}

fn body(kind: &str, data: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"type": kind, "timestamp": "2026-05-28T20:26:00Z", "data": data}))
        .unwrap_or_default()
}

fn signup() -> Vec<u8> {
    body(
        "signup",
        json!({"user_id": "u_42", "email": "ada@example.com", "name": "Ada Lovelace", "plan": "pro"}),
    )
}

fn accept(body: &[u8]) -> Result<dealbridge_core::event::NewEvent, IngestError> {
    let headers = signed(SECRET, "msg_1", now().timestamp(), body);
    event_api::parse(&headers, body, &secrets(&[SECRET]), now())
}

#[test]
fn the_specs_test_vector_signs_as_published() {
    let signature = event_api::sign(
        &secret(SECRET),
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        1_649_367_553,
        br#"{"email":"test@example.com","username":"test_user"}"#,
    );
    assert_eq!(
        signature.as_deref(),
        Ok("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=")
    );
}

#[test]
fn a_signed_signup_becomes_an_event_keyed_by_its_webhook_id() {
    let event = accept(&signup()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(event.source, EventSource::EventApi);
    assert_eq!(event.kind, EventType::Signup);
    assert_eq!(event.dedupe_key, "msg_1");
    assert_eq!(event.entity_key.as_deref(), Some("user:u_42"));
    assert_eq!(event.occurred_at.to_rfc3339(), "2026-05-28T20:26:00+00:00");
    assert_eq!(event.payload["email"], "ada@example.com");
}

#[test]
fn a_redelivery_has_the_same_dedupe_key() {
    let body = signup();
    let first = event_api::parse(
        &signed(SECRET, "msg_9", now().timestamp(), &body),
        &body,
        &secrets(&[SECRET]),
        now(),
    );
    let retry_at = now() + Duration::seconds(60);
    let retry = event_api::parse(
        &signed(SECRET, "msg_9", retry_at.timestamp(), &body),
        &body,
        &secrets(&[SECRET]),
        retry_at,
    );
    assert_eq!(first.map(|e| e.dedupe_key), retry.map(|e| e.dedupe_key));
}

#[test]
fn bad_or_missing_signatures_are_refused() {
    let body = signup();
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let cases = [
        signed(other, "msg_1", now().timestamp(), &body),
        Headers::from_pairs([("webhook-id", "msg_1"), ("webhook-timestamp", "1780000000")]),
        Headers::from_pairs([
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1780000000"),
            ("webhook-signature", "v1,AAAA"),
        ]),
    ];
    for headers in cases {
        let refused = event_api::parse(&headers, &body, &secrets(&[SECRET]), now());
        assert_eq!(refused.map(|_| ()), Err(IngestError::BadSignature));
    }
    // A signature over a different body (one tampered byte) does not carry over.
    let mut tampered = body.clone();
    let headers = signed(SECRET, "msg_1", now().timestamp(), &body);
    tampered[10] ^= 1;
    let refused = event_api::parse(&headers, &tampered, &secrets(&[SECRET]), now());
    assert_eq!(refused.map(|_| ()), Err(IngestError::BadSignature));
    assert_eq!(IngestError::BadSignature.status(), 401);
}

#[test]
fn any_current_secret_verifies_during_a_rotation() {
    let body = signup();
    let new = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    for sender in [SECRET, new] {
        let headers = signed(sender, "msg_1", now().timestamp(), &body);
        assert!(event_api::parse(&headers, &body, &secrets(&[SECRET, new]), now()).is_ok());
    }
    // After the old one is revoked it stops working.
    let headers = signed(SECRET, "msg_1", now().timestamp(), &body);
    let refused = event_api::parse(&headers, &body, &secrets(&[new]), now());
    assert_eq!(refused.map(|_| ()), Err(IngestError::BadSignature));
    // Several signatures on one request: any v1 that matches is enough, unknown versions ignored.
    let both = format!(
        "v1a,ZZZZ v1,AAAA {}",
        event_api::sign(&secret(new), "msg_1", now().timestamp(), &body).unwrap_or_default()
    );
    let headers = Headers::from_pairs([
        ("webhook-id", "msg_1".to_owned()),
        ("webhook-timestamp", now().timestamp().to_string()),
        ("webhook-signature", both),
    ]);
    assert!(event_api::parse(&headers, &body, &secrets(&[new]), now()).is_ok());
}

#[test]
fn timestamps_outside_the_tolerance_are_replays() {
    let body = signup();
    for skew in [TOLERANCE_SECONDS + 1, -(TOLERANCE_SECONDS + 1), 86_400] {
        let headers = signed(SECRET, "msg_1", now().timestamp() - skew, &body);
        let refused = event_api::parse(&headers, &body, &secrets(&[SECRET]), now());
        assert_eq!(
            refused.as_ref().map(|_| ()),
            Err(&IngestError::Stale {
                skew_seconds: skew,
                tolerance_seconds: TOLERANCE_SECONDS
            })
        );
        assert_eq!(refused.err().map(|e| e.status()), Some(401));
    }
    for skew in [TOLERANCE_SECONDS, -TOLERANCE_SECONDS, 0] {
        let headers = signed(SECRET, "msg_1", now().timestamp() - skew, &body);
        assert!(
            event_api::parse(&headers, &body, &secrets(&[SECRET]), now()).is_ok(),
            "{skew}"
        );
    }
    // An unsigned stale request is told only that its signature is bad.
    let headers = signed("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", 0, &body);
    let refused = event_api::parse(&headers, &body, &secrets(&[SECRET]), now());
    assert_eq!(refused.map(|_| ()), Err(IngestError::BadSignature));
}

#[test]
fn oversized_bodies_are_refused_before_anything_else() {
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let refused = event_api::parse(&Headers::default(), &body, &secrets(&[SECRET]), now());
    let error = refused.err();
    assert_eq!(error.as_ref().map(IngestError::status), Some(413));
    assert_eq!(
        error,
        Some(IngestError::TooLarge {
            len: MAX_BODY_BYTES + 1,
            limit: MAX_BODY_BYTES
        })
    );
}

fn fields(result: Result<dealbridge_core::event::NewEvent, IngestError>) -> Vec<String> {
    let error = result.err().unwrap_or_else(|| IngestError::Invalid(vec![]));
    assert_eq!(error.status(), 400, "{error}");
    error
        .field_errors()
        .iter()
        .map(|e| e.field.clone())
        .collect()
}

#[test]
fn malformed_json_and_unknown_types_are_400() {
    assert_eq!(fields(accept(b"{not json")), ["body"]);
    assert_eq!(fields(accept(br#"{"type":"signup"}"#)), ["body"]);
    assert_eq!(fields(accept(&body("order.deleted", json!({})))), ["type"]);
    assert_eq!(
        fields(accept(&body("pipedrive.deal.change", json!({})))),
        ["type"]
    );
    let extra = br#"{"type":"signup","timestamp":"2026-05-28T20:26:00Z","data":{},"x":1}"#;
    assert_eq!(fields(accept(extra)), ["x"]);
}

#[test]
fn missing_and_invalid_fields_are_named() {
    assert_eq!(
        fields(accept(&body("signup", json!({"email": "ada@example.com"})))),
        ["data"]
    );
    assert_eq!(
        fields(accept(&body(
            "signup",
            json!({"user_id": " ", "email": "ada-at-example.com"})
        ))),
        ["data.user_id", "data.email"]
    );
    assert_eq!(
        fields(accept(&body(
            "order.created",
            json!({"id": "A1", "status": "paid", "currency": "usd", "total": "12,50",
            "customer": {"email": "nope"}, "line_items": [{"name": "Mug", "quantity": 1, "unit_price": "x"}]})
        ))),
        [
            "data.currency",
            "data.total",
            "data.customer.email",
            "data.line_items[0].unit_price"
        ]
    );
    assert_eq!(
        fields(accept(&body(
            "order.created",
            json!({"id": "A1", "status": "paid", "currency": "USD", "total": 12.5})
        ))),
        ["data.total"]
    );
    assert_eq!(
        fields(accept(&body(
            "customer.updated",
            json!({"first_name": "Ada"})
        ))),
        ["data.id"]
    );
    assert_eq!(
        fields(accept(&body(
            "usage.reported",
            json!({"account_id": "a", "metric": "seats", "quantity": -1,
            "period_start": "2026-05-02T00:00:00Z", "period_end": "2026-05-01T00:00:00Z"})
        ))),
        ["data.quantity", "data.period_end"]
    );
    assert_eq!(
        fields(accept(&body(
            "ticket.created",
            json!({"ticket_id": "T1", "email": "a@example.com", "subject": "Help", "priority": "whenever"})
        ))),
        ["data.priority"]
    );
    assert_eq!(
        fields(accept(&body(
            "deal.stage_changed",
            json!({"deal_id": 0, "stage_id": 3, "note": ""})
        ))),
        ["data.deal_id", "data.note"]
    );
}

#[test]
fn every_type_parses_into_its_event() {
    let cases = [
        (
            "order.created",
            json!({"id": "A1001", "number": "#1001", "status": "paid", "currency": "EUR", "total": "59.90",
            "customer": {"id": "c7", "email": "ada@example.com"},
            "line_items": [{"sku": "MUG", "name": "Mug", "quantity": 2, "unit_price": "29.95"}]}),
            Some("order:A1001"),
        ),
        (
            "order.updated",
            json!({"id": "A1001", "status": "refunded", "currency": "EUR", "total": "0"}),
            Some("order:A1001"),
        ),
        (
            "customer.updated",
            json!({"email": "ada@example.com", "company": "Analytical Engines"}),
            Some("customer:ada@example.com"),
        ),
        (
            "usage.reported",
            json!({"account_id": "acct_1", "metric": "api_calls", "quantity": 1200.5}),
            None,
        ),
        (
            "ticket.created",
            json!({"ticket_id": "T-9", "email": "ada@example.com", "subject": "Invoice", "priority": "high"}),
            Some("ticket:T-9"),
        ),
        (
            "deal.stage_changed",
            json!({"deal_id": 42, "stage_id": 3, "note": "Signed the trial agreement"}),
            Some("deal:42"),
        ),
    ];
    for (kind, data, entity) in cases {
        let event = accept(&body(kind, data.clone())).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(event.kind.name(), kind);
        assert_eq!(event.entity_key.as_deref(), entity, "{kind}");
        assert!(contains(&event.payload, &data), "{kind}: {}", event.payload);
    }
}

/// Whether every field `expected` sets is in `actual` with the same value (objects recursively).
fn contains(actual: &serde_json::Value, expected: &serde_json::Value) -> bool {
    match (actual, expected) {
        (serde_json::Value::Object(actual), serde_json::Value::Object(expected)) => expected
            .iter()
            .all(|(key, value)| actual.get(key).is_some_and(|found| contains(found, value))),
        (serde_json::Value::Array(actual), serde_json::Value::Array(expected)) => {
            actual.len() == expected.len()
                && actual.iter().zip(expected).all(|(a, e)| contains(a, e))
        }
        _ => actual == expected,
    }
}

#[test]
fn every_type_has_a_schema() {
    let components = serde_json::to_value(event_api::schemas()).unwrap_or_default();
    for kind in EventType::api_types() {
        let name = event_api::schema_name(&kind).unwrap_or_default();
        let schema = &components["schemas"][name];
        assert_eq!(schema["type"], "object", "{kind}");
        assert!(
            schema["properties"]
                .as_object()
                .is_some_and(|p| !p.is_empty()),
            "{kind}"
        );
    }
    assert_eq!(
        components["schemas"]["Signup"]["required"],
        json!(["user_id", "email"])
    );
}

#[test]
fn secrets_must_be_whsec_base64_and_generated_ones_work() {
    assert!(Secrets::new(&[secret("hunter2")]).is_err());
    assert!(Secrets::new(&[secret("whsec_not base64!")]).is_err());
    let fresh = event_api::generate_secret();
    let body = signup();
    use secrecy::ExposeSecret;
    let headers = signed(fresh.expose_secret(), "msg_1", now().timestamp(), &body);
    assert!(event_api::parse(
        &headers,
        &body,
        &Secrets::new([&fresh]).unwrap_or_else(|_| secrets(&[])),
        now()
    )
    .is_ok());
    assert!(!format!("{:?}", secrets(&[SECRET])).contains("C2FV"));
}

//! Retries, server wait hints, deferral and lanes, end to end against a mock Pipedrive.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{error_body, ok, Harness, COMPANY};
use dealbridge_pipedrive::models::{DealPatch, NewDeal};
use dealbridge_pipedrive::{BudgetLedger, Error, Lane, TransientKind, WaitReason};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn deal_json(id: u64) -> serde_json::Value {
    ok(json!({"id": id, "title": "Deal", "custom_fields": {}}))
}

async fn mount_once(h: &Harness, verb: &str, route: &str, response: ResponseTemplate) {
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(response)
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&h.server)
        .await;
}

fn new_deal() -> NewDeal {
    NewDeal {
        title: "Deal".into(),
        fields: DealPatch::default(),
    }
}

#[tokio::test]
async fn retry_after_is_honoured_before_the_retry() {
    let h = Harness::start().await;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "1")
        .set_body_json(error_body("Too many requests"));
    mount_once(&h, "GET", "/api/v2/deals/1", limited).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/deals/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(deal_json(1)))
        .expect(1)
        .mount(&h.server)
        .await;
    let started = Instant::now();
    let deal = h.company(Lane::Interactive).deals().get(1).await.unwrap();
    assert_eq!(deal.id, 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried too early"
    );
    let figures = h.pd.figures().snapshot(COMPANY);
    assert_eq!(figures.rate_limited, 1);
    assert_eq!(figures.calls, 2);
    assert_eq!(figures.tokens_spent, 1, "the refused call costs nothing");
    assert!(figures.waited >= Duration::from_secs(1));
}

#[tokio::test]
async fn ratelimit_reset_is_honoured_when_there_is_no_retry_after() {
    let h = Harness::start().await;
    let limited = ResponseTemplate::new(429)
        .insert_header("x-ratelimit-limit", "80")
        .insert_header("x-ratelimit-remaining", "0")
        .insert_header("x-ratelimit-reset", "1")
        .set_body_json(error_body("Too many requests"));
    mount_once(&h, "GET", "/api/v2/deals/1", limited).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/deals/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(deal_json(1)))
        .mount(&h.server)
        .await;
    let started = Instant::now();
    h.company(Lane::Interactive).deals().get(1).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried too early"
    );
}

#[tokio::test]
async fn a_wait_longer_than_the_inline_limit_is_handed_back() {
    let h = Harness::start().await;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "120")
        .set_body_json(error_body("Too many requests"));
    mount_once(&h, "GET", "/api/v2/deals/1", limited).await;
    let err = h
        .company(Lane::Interactive)
        .deals()
        .get(1)
        .await
        .unwrap_err();
    match err {
        Error::RateLimited { daily, retry_after } => {
            assert!(!daily);
            assert_eq!(retry_after, Some(Duration::from_secs(120)));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    // The token is now cooling down: the next call is deferred without reaching Pipedrive.
    let err = h
        .company(Lane::Interactive)
        .deals()
        .get(1)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Deferred {
            reason: WaitReason::BurstWindow,
            ..
        }
    ));
}

#[tokio::test]
async fn idempotent_calls_retry_server_errors() {
    let h = Harness::start().await;
    mount_once(&h, "PATCH", "/api/v2/deals/3", ResponseTemplate::new(503)).await;
    Mock::given(method("PATCH"))
        .and(path("/api/v2/deals/3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(deal_json(3)))
        .expect(1)
        .mount(&h.server)
        .await;
    let patch = DealPatch {
        value: Some(10.0),
        ..DealPatch::default()
    };
    let deal = h
        .company(Lane::Interactive)
        .deals()
        .update(3, &patch)
        .await
        .unwrap();
    assert_eq!(deal.id, 3);
}

#[tokio::test]
async fn a_post_is_not_repeated_after_a_server_error_but_is_after_a_429() {
    let h = Harness::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/deals"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h
        .company(Lane::Interactive)
        .deals()
        .create(&new_deal())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Transient {
            kind: TransientKind::Server { status: 500 },
            ..
        }
    ));

    let h = Harness::start().await;
    let limited = ResponseTemplate::new(429).insert_header("retry-after", "0");
    mount_once(&h, "POST", "/api/v2/deals", limited).await;
    Mock::given(method("POST"))
        .and(path("/api/v2/deals"))
        .respond_with(ResponseTemplate::new(200).set_body_json(deal_json(9)))
        .expect(1)
        .mount(&h.server)
        .await;
    let deal = h
        .company(Lane::Interactive)
        .deals()
        .create(&new_deal())
        .await
        .unwrap();
    assert_eq!(deal.id, 9);
}

#[tokio::test]
async fn timeouts_are_transient_and_only_idempotent_calls_retry_them() {
    let tokens = common::TestTokens::new("token-1", "token-2");
    let h = Harness::with(tokens, |c| c.timeouts.request = Duration::from_millis(200)).await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(deal_json(1))
        .set_delay(Duration::from_secs(2));
    Mock::given(method("GET"))
        .and(path("/api/v2/deals/1"))
        .respond_with(slow.clone())
        .expect(3)
        .mount(&h.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/deals"))
        .respond_with(slow)
        .expect(1)
        .mount(&h.server)
        .await;
    let company = h.company(Lane::Interactive);
    let err = company.deals().get(1).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transient {
                kind: TransientKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    let err = company.deals().create(&new_deal()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transient {
                kind: TransientKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    // Timed-out calls may have been processed, so their tokens stay charged.
    let status = h.ledger.status(COMPANY).await.unwrap();
    assert_eq!(status.spent, 3 + 5);
}

#[tokio::test]
async fn connection_errors_are_transient_retried_and_refunded() {
    let h = Harness::start().await;
    // Bind then drop a listener so the port is closed.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let company = h.company_at(&format!("http://127.0.0.1:{closed}"), Lane::Interactive);
    let err = company.deals().create(&new_deal()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transient {
                kind: TransientKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    let figures = h.pd.figures().snapshot(COMPANY);
    assert_eq!(
        (figures.calls, figures.retries),
        (0, 2),
        "a POST that never left is retried"
    );
    assert_eq!(
        h.ledger.status(COMPANY).await.unwrap().spent,
        0,
        "unsent calls are refunded"
    );
}

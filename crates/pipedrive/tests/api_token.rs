//! Personal API tokens (private mode): sent as `x-api-token`, never refreshed, and
//! `x-daily-requests-left` (API tokens only) holds writes back until midnight UTC once spent.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{ok, Harness, COMPANY, USER};
use dealbridge_pipedrive::models::{DealPatch, NewDeal};
use dealbridge_pipedrive::{ApiToken, BudgetLedger, CompanyCtx, Error, Lane, WaitReason};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, ResponseTemplate};

const TOKEN: &str = "9a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

fn client(h: &Harness) -> dealbridge_pipedrive::CompanyClient {
    h.pd.company(CompanyCtx {
        company_id: COMPANY,
        user_id: USER,
        api_domain: h.server.uri().parse().unwrap(),
        token_source: Arc::new(ApiToken::new(SecretString::from(TOKEN))),
        lane: Lane::Interactive,
    })
}

fn new_deal() -> NewDeal {
    NewDeal {
        title: "Order 1".into(),
        fields: DealPatch::default(),
    }
}

#[tokio::test]
async fn the_token_goes_in_its_header_and_the_headers_are_learned() {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/me"))
        .and(header("x-api-token", TOKEN))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-ratelimit-limit", "40")
                .insert_header("x-ratelimit-remaining", "39")
                .insert_header("x-ratelimit-reset", "2")
                .insert_header("x-daily-requests-left", "9999")
                .set_body_json(ok(json!({"id": 42, "company_id": 7001}))),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let me = client(&h).users().me().await.unwrap();
    assert_eq!(me.company_id, 7001);
    let requests = h.server.received_requests().await.unwrap();
    assert!(requests[0].headers.get("authorization").is_none());
    assert!(
        !requests[0].url.as_str().contains(TOKEN),
        "the token is in the URL"
    );
    let seen = h.pd.figures().snapshot(COMPANY);
    assert_eq!(seen.burst_limit, Some(40));
    assert_eq!(seen.daily_requests_left, Some(9999));
    assert_eq!(seen.writes_blocked_until, None);
}

#[tokio::test]
async fn a_refused_token_needs_the_operator_and_is_not_refreshed() {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/me"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"success": false})))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = client(&h).users().me().await.unwrap_err();
    assert!(matches!(err, Error::NeedsReauth { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(TOKEN), "the error shows the token: {text}");
}

#[tokio::test]
async fn spent_writes_wait_for_midnight_utc_and_reads_go_on() {
    let h = Harness::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/deals"))
        .and(header_exists("x-api-token"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-limit", "40")
                .insert_header("x-ratelimit-remaining", "30")
                .insert_header("x-daily-requests-left", "0")
                .set_body_json(json!({"success": false, "error": "Too many requests"})),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/me"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-daily-requests-left", "0")
                .set_body_json(ok(json!({"id": 42, "company_id": 7001}))),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let company = client(&h);
    let midnight = |until: chrono::DateTime<chrono::Utc>| {
        until.time() == chrono::NaiveTime::MIN && until > chrono::Utc::now()
    };
    match company.deals().create(&new_deal()).await {
        Err(Error::Deferred {
            until,
            reason: WaitReason::DailyWrites,
        }) => assert!(midnight(until), "{until}"),
        other => panic!("expected a deferral until midnight UTC, got {other:?}"),
    }
    // Not the company's token budget: no daily exhaustion recorded, reads still go out.
    let status = h.ledger.status(COMPANY).await.unwrap();
    assert_eq!(
        status.exhausted_until, None,
        "the daily budget was marked spent"
    );
    company.users().me().await.unwrap();
    // The next write is held back without reaching Pipedrive (the POST mock expects one call).
    match company.deals().create(&new_deal()).await {
        Err(Error::Deferred {
            reason: WaitReason::DailyWrites,
            ..
        }) => {}
        other => panic!("expected the write to be held back, got {other:?}"),
    }
}

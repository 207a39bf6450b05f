//! The client and the ledger together: daily deferral, lanes, burst headers, ledger failures.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{error_body, ok, Harness, COMPANY, USER};
use dealbridge_pipedrive::ledger::{InMemoryLedger, LedgerConfig};
use dealbridge_pipedrive::models::{DealPatch, NewDeal};
use dealbridge_pipedrive::{
    BudgetLedger, BudgetStatus, CallRequest, CompanyCtx, CompanyId, Error, Grant, Lane,
    LedgerError, Outcome, Pipedrive, RateHeaders, Reservation, UserId, WaitReason,
};
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
async fn a_daily_limit_defers_the_company_until_the_reset() {
    let h = Harness::start().await;
    let limited = ResponseTemplate::new(429)
        .insert_header("x-ratelimit-limit", "80")
        .insert_header("x-ratelimit-remaining", "79")
        .set_body_json(error_body("Daily token budget exceeded"));
    mount_once(&h, "GET", "/api/v2/deals/1", limited).await;
    let company = h.company(Lane::Interactive);
    let resets_at = h.ledger.status(COMPANY).await.unwrap().resets_at;
    for _ in 0..2 {
        match company.deals().get(1).await.unwrap_err() {
            Error::Deferred { until, reason } => {
                assert_eq!(reason, WaitReason::DailyBudget);
                assert_eq!(until, resets_at);
            }
            other => panic!("expected Deferred, got {other:?}"),
        }
    }
    let status = h.ledger.status(COMPANY).await.unwrap();
    assert_eq!(status.exhausted_until, Some(resets_at));
    assert_eq!(h.pd.figures().snapshot(COMPANY).deferred, 2);
}

#[tokio::test]
async fn bulk_work_cannot_spend_the_priority_reserve() {
    let h = Harness::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/deals"))
        .respond_with(ResponseTemplate::new(200).set_body_json(deal_json(1)))
        .expect(20)
        .mount(&h.server)
        .await;
    // 100 tokens a day, 20 % kept for interactive and webhook work; a create costs 5.
    h.ledger.set_daily_limit(COMPANY, Some(100)).await.unwrap();
    let bulk = h.company(Lane::Bulk);
    for _ in 0..16 {
        bulk.deals().create(&new_deal()).await.unwrap();
    }
    let err = bulk.deals().create(&new_deal()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Deferred {
                reason: WaitReason::LaneReserve,
                ..
            }
        ),
        "{err:?}"
    );

    let webhook = bulk.with_lane(Lane::Webhook);
    for _ in 0..4 {
        webhook.deals().create(&new_deal()).await.unwrap();
    }
    let err = webhook.deals().create(&new_deal()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Deferred {
                reason: WaitReason::DailyBudget,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(h.pd.figures().snapshot(COMPANY).tokens_spent, 100);
}

#[tokio::test]
async fn burst_headers_from_a_response_close_the_window() {
    let h = Harness::start().await;
    let response = ResponseTemplate::new(200)
        .insert_header("x-ratelimit-limit", "40")
        .insert_header("x-ratelimit-remaining", "0")
        .insert_header("x-ratelimit-reset", "2")
        .set_body_json(deal_json(1));
    Mock::given(method("GET"))
        .and(path("/api/v2/deals/1"))
        .respond_with(response)
        .mount(&h.server)
        .await;
    h.company(Lane::Interactive).deals().get(1).await.unwrap();
    let next = CallRequest {
        company: COMPANY,
        user: USER,
        lane: Lane::Interactive,
        cost: 1,
        search: false,
    };
    let grant = h.ledger.reserve(&next).await.unwrap();
    assert!(
        matches!(
            grant,
            Grant::WaitUntil {
                reason: WaitReason::BurstWindow,
                ..
            }
        ),
        "{grant:?}"
    );
}

/// A ledger whose store fails after the call was granted.
struct SettleFails(InMemoryLedger);

#[async_trait::async_trait]
impl BudgetLedger for SettleFails {
    async fn reserve(&self, request: &CallRequest) -> Result<Grant, LedgerError> {
        self.0.reserve(request).await
    }
    async fn settle(&self, _: Reservation, _: Outcome) -> Result<(), LedgerError> {
        Err(LedgerError::new("store down"))
    }
    async fn observe_headers(
        &self,
        _: CompanyId,
        _: UserId,
        _: &RateHeaders,
    ) -> Result<(), LedgerError> {
        Err(LedgerError::new("store down"))
    }
    async fn set_daily_limit(&self, c: CompanyId, t: Option<u64>) -> Result<(), LedgerError> {
        self.0.set_daily_limit(c, t).await
    }
    async fn status(&self, c: CompanyId) -> Result<BudgetStatus, LedgerError> {
        self.0.status(c).await
    }
}

#[tokio::test]
async fn a_ledger_failure_after_the_call_does_not_fail_the_call() {
    let server = wiremock::MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/deals"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-ratelimit-remaining", "10")
                .set_body_json(deal_json(5)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let ledger = Arc::new(SettleFails(InMemoryLedger::new(LedgerConfig::default())));
    let pd = Pipedrive::new(common::config(&server.uri()), ledger.clone()).unwrap();
    let company = pd.company(CompanyCtx {
        company_id: COMPANY,
        user_id: USER,
        api_domain: server.uri().parse().unwrap(),
        token_source: common::TestTokens::new("t", "u"),
        lane: Lane::Interactive,
    });
    assert_eq!(company.deals().create(&new_deal()).await.unwrap().id, 5);
    // The unsettled reservation stays charged, as the ledger contract says.
    assert_eq!(ledger.status(COMPANY).await.unwrap().spent, 5);
}

#[tokio::test]
async fn short_budget_waits_are_slept_through_and_counted() {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/deals/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(deal_json(1)))
        .expect(3)
        .mount(&h.server)
        .await;
    // This token may send 2 requests per 2-second window.
    let two = RateHeaders {
        limit: Some(2),
        ..RateHeaders::default()
    };
    h.ledger.observe_headers(COMPANY, USER, &two).await.unwrap();
    let company = h.company(Lane::Interactive);
    let started = std::time::Instant::now();
    for _ in 0..3 {
        company.deals().get(1).await.unwrap();
    }
    let waited = h.pd.figures().snapshot(COMPANY).waited;
    assert!(started.elapsed() >= std::time::Duration::from_millis(1_900));
    assert!(
        waited >= std::time::Duration::from_millis(1_900),
        "{waited:?}"
    );
}

#[tokio::test]
async fn figures_are_kept_per_company() {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/deals/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(deal_json(1)))
        .mount(&h.server)
        .await;
    h.company(Lane::Interactive).deals().get(1).await.unwrap();
    let other = h.pd.company(CompanyCtx {
        company_id: CompanyId(9),
        ..h.company(Lane::Bulk).ctx().clone()
    });
    other.deals().get(1).await.unwrap();
    other.deals().get(1).await.unwrap();
    let all = h.pd.figures().snapshot_all();
    assert_eq!(all.len(), 2);
    assert_eq!(all[&COMPANY].calls, 1);
    assert_eq!(all[&CompanyId(9)].calls, 2);
    assert_eq!(all[&CompanyId(9)].tokens_spent, 2);
    assert_eq!(h.pd.figures().snapshot(CompanyId(404)), Default::default());
}

//! Calls Pipedrive refused (429, 401) are handed to the ledger one by one, named by method and
//! the operation's path: never the query string (a search term), an id or a token.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{error_body, ok, TestTokens, COMPANY, USER};
use dealbridge_pipedrive::ledger::{InMemoryLedger, LedgerConfig};
use dealbridge_pipedrive::{
    BudgetLedger, BudgetStatus, CallRequest, CompanyCtx, CompanyId, Grant, Lane, LedgerError,
    Outcome, Pipedrive, RateHeaders, RefusedCall, RefusedLimit, Reservation, UserId,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// An in-memory ledger that keeps the refused calls it is told of.
struct Recording {
    ledger: InMemoryLedger,
    refused: Mutex<Vec<RefusedCall>>,
}

#[async_trait::async_trait]
impl BudgetLedger for Recording {
    async fn reserve(&self, request: &CallRequest) -> Result<Grant, LedgerError> {
        self.ledger.reserve(request).await
    }
    async fn settle(&self, r: Reservation, o: Outcome) -> Result<(), LedgerError> {
        self.ledger.settle(r, o).await
    }
    async fn observe_headers(
        &self,
        c: CompanyId,
        u: UserId,
        h: &RateHeaders,
    ) -> Result<(), LedgerError> {
        self.ledger.observe_headers(c, u, h).await
    }
    async fn set_daily_limit(&self, c: CompanyId, t: Option<u64>) -> Result<(), LedgerError> {
        self.ledger.set_daily_limit(c, t).await
    }
    async fn status(&self, c: CompanyId) -> Result<BudgetStatus, LedgerError> {
        self.ledger.status(c).await
    }
    async fn record_refusal(&self, call: &RefusedCall) -> Result<(), LedgerError> {
        self.refused.lock().unwrap().push(call.clone());
        Ok(())
    }
}

#[tokio::test]
async fn refused_calls_are_recorded_without_query_ids_or_tokens() {
    let server = wiremock::MockServer::start().await;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "1")
        .set_body_json(error_body("Too many requests"));
    Mock::given(method("GET"))
        .and(path("/api/v2/persons/search"))
        .respond_with(limited)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/persons/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok(json!({"items": []}))))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/deals/4711"))
        .respond_with(ResponseTemplate::new(401).set_body_json(error_body("unauthorized")))
        .mount(&server)
        .await;
    let ledger = Arc::new(Recording {
        ledger: InMemoryLedger::new(LedgerConfig::default()),
        refused: Mutex::new(Vec::new()),
    });
    let pd = Pipedrive::new(common::config(&server.uri()), ledger.clone()).unwrap();
    let company = pd.company(CompanyCtx {
        company_id: COMPANY,
        user_id: USER,
        api_domain: server.uri().parse().unwrap(),
        token_source: TestTokens::new("tok_first_s3cret", "tok_fresh_s3cret"),
        lane: Lane::Interactive,
    });

    let found = company.persons().find_by_email("ada@example.com").await;
    assert!(found.unwrap().is_empty());
    assert!(company.deals().get(4711).await.is_err());

    let refused = ledger.refused.lock().unwrap().clone();
    let search = &refused[0];
    assert_eq!(
        (search.status, search.method, search.path.as_str()),
        (429, "GET", "/api/v2/persons/search")
    );
    assert_eq!(search.limit, Some(RefusedLimit::Search));
    assert_eq!(search.retry_after, Some(Duration::from_secs(1)));
    assert_eq!(search.company, COMPANY);
    let unauthorized: Vec<_> = refused.iter().filter(|r| r.status == 401).collect();
    assert!(!unauthorized.is_empty(), "{refused:?}");
    for call in &unauthorized {
        assert_eq!(call.path, "/api/v2/deals/{id}");
        assert_eq!(call.limit, None);
    }
    for call in &refused {
        for leak in ["?", "ada", "example.com", "4711", "s3cret", "term"] {
            assert!(!call.path.contains(leak), "{leak:?} in {:?}", call.path);
        }
    }
}

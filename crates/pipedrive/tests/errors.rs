//! Each HTTP outcome lands in its error class, with Pipedrive's message kept.

#![allow(clippy::unwrap_used)]

mod common;

use common::{error_body, ok, Harness, TestTokens};
use dealbridge_pipedrive::{Error, ErrorClass, ForbiddenKind, Lane, TransientKind};
use serde_json::json;
use wiremock::matchers::{bearer_token, method, path};
use wiremock::{Mock, ResponseTemplate};

async fn answer(status: u16, body: serde_json::Value) -> Error {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/deals/5"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&h.server)
        .await;
    h.company(Lane::Interactive)
        .deals()
        .get(5)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn payment_required_is_permanent_and_keeps_the_message() {
    let err = answer(402, error_body("Company account is not open")).await;
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(!err.is_retryable());
    match err {
        Error::PaymentRequired { message } => assert_eq!(message, "Company account is not open"),
        other => panic!("expected PaymentRequired, got {other:?}"),
    }
}

#[tokio::test]
async fn forbidden_by_plan_limit_is_told_apart_from_missing_scope() {
    let mut plan = error_body("You have reached the deals limit of your plan");
    plan["code"] = json!("feature_capping_deals_limit");
    match answer(403, plan).await {
        Error::Forbidden { kind, message } => {
            assert_eq!(
                kind,
                ForbiddenKind::PlanLimit {
                    code: Some("feature_capping_deals_limit".into())
                }
            );
            assert!(message.contains("deals limit"));
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    let scope = error_body("Scope and URL mismatch");
    match answer(403, scope).await {
        Error::Forbidden { kind, .. } => assert_eq!(kind, ForbiddenKind::MissingScope),
        other => panic!("expected Forbidden, got {other:?}"),
    }
    match answer(403, error_body("You are not allowed to do this")).await {
        Error::Forbidden { kind, .. } => assert_eq!(kind, ForbiddenKind::Other),
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn not_found() {
    let err = answer(404, error_body("Deal not found")).await;
    assert_eq!(err.class(), ErrorClass::NotFound);
    assert!(err.to_string().contains("Deal not found"));
}

#[tokio::test]
async fn bad_request_and_unprocessable_are_invalid_with_field_messages() {
    let body = json!({
        "status": "error",
        "success": false,
        "errors": {"subscription_url": ["invalid or non-reachable URL"], "name": "too long"}
    });
    match answer(400, body).await {
        Error::Invalid { status, fields, .. } => {
            assert_eq!(status, 400);
            assert_eq!(
                fields.get("subscription_url").unwrap(),
                &vec!["invalid or non-reachable URL".to_string()]
            );
            assert_eq!(fields.get("name").unwrap(), &vec!["too long".to_string()]);
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let err = answer(422, error_body("Webhooks limit reached")).await;
    assert!(
        matches!(err, Error::Invalid { status: 422, ref message, .. } if message == "Webhooks limit reached")
    );
    assert_eq!(err.class(), ErrorClass::Invalid);
}

#[tokio::test]
async fn other_final_statuses_are_permanent() {
    let err = answer(410, error_body("Gone")).await;
    assert!(matches!(err, Error::Permanent { status: 410, .. }));
}

#[tokio::test]
async fn server_errors_are_transient_after_retries() {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/deals/5"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
        .expect(3)
        .mount(&h.server)
        .await;
    let err = h
        .company(Lane::Interactive)
        .deals()
        .get(5)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Transient {
            kind: TransientKind::Server { status: 502 },
            ..
        }
    ));
    assert!(err.is_retryable());
    let figures = h.pd.figures().snapshot(common::COMPANY);
    assert_eq!((figures.calls, figures.retries, figures.errors), (3, 2, 1));
}

#[tokio::test]
async fn unauthorized_refreshes_once_then_succeeds_with_the_new_token() {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/me"))
        .and(bearer_token("token-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "success": false, "error": "unauthorized access", "errorCode": 401
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/me"))
        .and(bearer_token("token-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok(json!({
            "id": 42, "name": "Ann", "company_id": 7001, "company_domain": "acme"
        }))))
        .expect(1)
        .mount(&h.server)
        .await;
    let me = h.company(Lane::Interactive).users().me().await.unwrap();
    assert_eq!((me.id, me.company_id), (42, 7001));
    assert_eq!(me.company_domain.as_deref(), Some("acme"));
    assert_eq!(h.tokens.refresh_count(), 1);
}

#[tokio::test]
async fn a_second_unauthorized_needs_reauth() {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/me"))
        .respond_with(ResponseTemplate::new(401).set_body_json(error_body("unauthorized access")))
        .expect(2)
        .mount(&h.server)
        .await;
    let err = h.company(Lane::Interactive).users().me().await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::NeedsReauth);
    assert_eq!(h.tokens.refresh_count(), 1, "refreshed exactly once");
}

#[tokio::test]
async fn a_failed_refresh_needs_reauth_without_a_second_call() {
    let h = Harness::with(TestTokens::failing_refresh("token-1"), |_| {}).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/me"))
        .respond_with(ResponseTemplate::new(401).set_body_json(error_body("unauthorized access")))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h.company(Lane::Interactive).users().me().await.unwrap_err();
    assert!(matches!(err, Error::NeedsReauth { ref reason } if reason.contains("expired")));
}

#[tokio::test]
async fn a_success_body_that_does_not_match_the_model_is_a_decode_error() {
    let err = answer(200, json!({"success": true, "data": {"id": "ann@x.io"}})).await;
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(
        !err.to_string().contains("ann@x.io"),
        "values stay out of errors: {err}"
    );
}

/// A vault that cannot answer right now.
struct VaultDown;

#[async_trait::async_trait]
impl dealbridge_pipedrive::TokenSource for VaultDown {
    async fn access_token(
        &self,
    ) -> Result<secrecy::SecretString, dealbridge_pipedrive::TokenError> {
        Err(dealbridge_pipedrive::TokenError::unavailable(
            "vault timeout",
        ))
    }
    async fn refresh(
        &self,
        _: &secrecy::SecretString,
    ) -> Result<secrecy::SecretString, dealbridge_pipedrive::TokenError> {
        Err(dealbridge_pipedrive::TokenError::unavailable(
            "vault timeout",
        ))
    }
}

#[tokio::test]
async fn an_unavailable_token_source_is_transient_and_sends_nothing() {
    let h = Harness::start().await;
    let company = h.pd.company(dealbridge_pipedrive::CompanyCtx {
        token_source: std::sync::Arc::new(VaultDown),
        ..h.company(Lane::Interactive).ctx().clone()
    });
    let err = company.users().me().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transient {
                kind: TransientKind::TokenSource,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(h.server.received_requests().await.unwrap().is_empty());
}

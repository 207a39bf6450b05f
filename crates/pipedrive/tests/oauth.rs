//! Code exchange, refresh and revoke against a mock OAuth server.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::Harness;
use dealbridge_pipedrive::oauth::RevokeKind;
use dealbridge_pipedrive::{Error, ErrorClass};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use wiremock::matchers::{basic_auth, body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

fn token_response() -> serde_json::Value {
    json!({
        "access_token": "v1u:access-1",
        "token_type": "Bearer",
        "refresh_token": "1:1:refresh-1",
        "scope": "base,deals:full,contacts:read",
        "expires_in": 3599,
        "api_domain": "https://acme.pipedrive.com"
    })
}

#[tokio::test]
async fn code_exchange_uses_basic_auth_and_reads_api_domain() {
    let h = Harness::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(basic_auth("client-id", "client-secret"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=the-code"))
        .and(body_string_contains(
            "redirect_uri=https%3A%2F%2Fapp.example%2Foauth%2Fcallback",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_response()))
        .expect(1)
        .mount(&h.server)
        .await;
    let tokens =
        h.pd.oauth()
            .exchange_code(SecretString::from("the-code"))
            .await
            .unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "v1u:access-1");
    assert_eq!(
        tokens.refresh_token.as_ref().unwrap().expose_secret(),
        "1:1:refresh-1"
    );
    assert_eq!(tokens.expires_in, Some(Duration::from_secs(3599)));
    assert_eq!(tokens.scopes, vec!["base", "deals:full", "contacts:read"]);
    assert_eq!(tokens.api_domain.as_str(), "https://acme.pipedrive.com/");
    let debug = format!("{tokens:?}");
    assert!(
        !debug.contains("access-1") && !debug.contains("refresh-1"),
        "{debug}"
    );
}

#[tokio::test]
async fn refresh_sends_the_refresh_token() {
    let h = Harness::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(basic_auth("client-id", "client-secret"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=1%3A1%3Arefresh-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_response()))
        .expect(1)
        .mount(&h.server)
        .await;
    let tokens =
        h.pd.oauth()
            .refresh(&SecretString::from("1:1:refresh-1"))
            .await
            .unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "v1u:access-1");
}

#[tokio::test]
async fn an_invalid_grant_needs_reauth_in_either_body_shape() {
    for body in [
        json!({"error": "invalid_grant", "error_description": "refresh_token is invalid"}),
        json!({"success": false, "message": "Invalid grant: refresh_token is invalid"}),
        json!({"success": false, "error": "Invalid grant: refresh_token is invalid"}),
    ] {
        let h = Harness::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(ResponseTemplate::new(400).set_body_json(body))
            .mount(&h.server)
            .await;
        let err =
            h.pd.oauth()
                .refresh(&SecretString::from("stale"))
                .await
                .unwrap_err();
        assert_eq!(err.class(), ErrorClass::NeedsReauth, "{err:?}");
    }
}

#[tokio::test]
async fn an_invalid_client_is_an_oauth_error_not_a_reauth() {
    let h = Harness::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})))
        .mount(&h.server)
        .await;
    let err =
        h.pd.oauth()
            .exchange_code(SecretString::from("c"))
            .await
            .unwrap_err();
    assert!(
        matches!(err, Error::OAuth(ref m) if m.contains("invalid_client")),
        "{err:?}"
    );
}

#[tokio::test]
async fn revoke_posts_the_token_with_its_hint() {
    let h = Harness::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .and(basic_auth("client-id", "client-secret"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("token=1%3A1%3Arefresh-1"))
        .and(body_string_contains("token_type_hint=refresh_token"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&h.server)
        .await;
    h.pd.oauth()
        .revoke(
            &SecretString::from("1:1:refresh-1"),
            RevokeKind::RefreshToken,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn revoke_failures_are_classified() {
    let h = Harness::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&h.server)
        .await;
    let err =
        h.pd.oauth()
            .revoke(&SecretString::from("t"), RevokeKind::AccessToken)
            .await
            .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn authorize_url_carries_only_what_pipedrive_documents() {
    let h = Harness::start().await;
    let url = h.pd.oauth().authorize_url("state-123").unwrap();
    assert_eq!(url.path(), "/oauth/authorize");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        pairs,
        vec![
            ("client_id".into(), "client-id".into()),
            (
                "redirect_uri".into(),
                "https://app.example/oauth/callback".into()
            ),
            ("state".into(), "state-123".into()),
        ]
    );
}

#[test]
fn config_debug_does_not_show_the_client_secret() {
    let config = common::config("https://oauth.example");
    let debug = format!("{config:?}");
    assert!(!debug.contains("client-secret"), "{debug}");
}

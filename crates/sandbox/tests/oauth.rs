//! OAuth as FACTS §1: consent page, code exchange (single use, 5 minutes), token expiry, refresh
//! (60 days idle, optional rotation), revoke, and the uninstall DELETE.

// Test helpers outside #[test] functions unwrap too; clippy's test allowance misses them
// (rust-clippy#13981).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use common::{CLIENT_ID, CLIENT_SECRET};
use serde_json::Value;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query_param(url: &str, key: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn token_request(env: &common::Env, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = env
        .http
        .post(format!("{}/oauth/token", env.sandbox.base_url()))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn code(env: &common::Env) -> String {
    let url = env
        .sandbox
        .control()
        .approve_install(CLIENT_ID, env.company_id, env.user_id, Some("st"))
        .unwrap();
    query_param(&url, "code").unwrap()
}

async fn exchange(env: &common::Env, code: &str) -> (u16, Value) {
    let redirect = format!("{}/oauth/callback", env.receiver.url);
    token_request(
        env,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect),
        ],
    )
    .await
}

async fn me(env: &common::Env, token: &str) -> u16 {
    env.call_as(token, "GET", "/api/v1/users/me", None).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_page_allows_and_denies_through_the_browser_flow() {
    let env = common::env().await;
    let base = env.sandbox.base_url();
    let callback = format!("{}/oauth/callback", env.receiver.url);
    let page = env
        .http
        .get(format!("{base}/oauth/authorize"))
        .query(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", &callback),
            ("state", "abc"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let account = format!("{}:{}", env.company_id, env.user_id);
    assert!(html.contains(&account) && html.contains("Allow") && html.contains("Deny"));

    let client = no_redirects();
    let allow = client
        .post(format!("{base}/oauth/authorize"))
        .form(&[
            ("client_id", CLIENT_ID),
            ("state", "abc"),
            ("account", &account),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(allow.status(), 302);
    let location = allow.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&callback));
    assert_eq!(query_param(&location, "state").as_deref(), Some("abc"));
    let code = query_param(&location, "code").unwrap();
    assert_eq!(exchange(&env, &code).await.0, 200);

    let deny = client
        .post(format!("{base}/oauth/authorize"))
        .form(&[
            ("client_id", CLIENT_ID),
            ("state", "abc"),
            ("account", &account),
            ("decision", "deny"),
        ])
        .send()
        .await
        .unwrap();
    let location = deny.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("user_denied")
    );
    assert_eq!(query_param(&location, "code"), None);

    let wrong = env
        .http
        .get(format!("{base}/oauth/authorize"))
        .query(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", "https://evil.test/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_single_use_and_expire_after_five_minutes() {
    let env = common::env().await;
    let c = code(&env).await;
    let (status, grant) = exchange(&env, &c).await;
    assert_eq!(status, 200);
    assert_eq!(grant["token_type"], "Bearer");
    assert_eq!(grant["expires_in"], 60);
    assert!(grant["api_domain"].as_str().unwrap().ends_with("/c/acme"));
    assert!(grant["scope"].as_str().unwrap().contains("base"));
    assert_eq!(me(&env, grant["access_token"].as_str().unwrap()).await, 200);

    let (again, body) = exchange(&env, &c).await;
    assert_eq!(again, 400);
    assert_eq!(
        body["error"],
        "Invalid grant: authorization_code is invalid"
    );

    let late = code(&env).await;
    env.sandbox.control().advance(Duration::from_secs(299));
    let fresh = code(&env).await;
    env.sandbox.control().advance(Duration::from_secs(2));
    let (status, body) = exchange(&env, &late).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "Invalid grant: authorization_code has expired"
    );
    assert_eq!(exchange(&env, &fresh).await.0, 200);

    let resp = env
        .http
        .post(format!("{}/oauth/token", env.sandbox.base_url()))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (status, body) = token_request(&env, &[("code", "x")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("Missing parameter: grant_type"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_expire_and_refresh_tokens_live_sixty_idle_days() {
    let env = common::env().await;
    let (_, grant) = exchange(&env, &code(&env).await).await;
    let access = grant["access_token"].as_str().unwrap();
    let refresh = grant["refresh_token"].as_str().unwrap();
    env.sandbox.control().advance(Duration::from_secs(61));
    assert_eq!(me(&env, access).await, 401);

    let (status, renewed) = token_request(
        &env,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        renewed["refresh_token"], refresh,
        "Pipedrive returns the same refresh token"
    );
    assert_eq!(
        me(&env, renewed["access_token"].as_str().unwrap()).await,
        200
    );

    // Each use restarts the 60 days: 59 days idle works, then 60 days and a second do not.
    env.sandbox
        .control()
        .advance(Duration::from_secs(59 * 86_400));
    let (status, _) = token_request(
        &env,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 200);
    env.sandbox
        .control()
        .advance(Duration::from_secs(60 * 86_400 + 1));
    let (status, body) = token_request(
        &env,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "Invalid grant: refresh_token is invalid");

    let token_calls: Vec<u16> = env
        .sandbox
        .control()
        .calls(None)
        .iter()
        .filter(|c| c.path == "/oauth/token")
        .map(|c| c.status)
        .collect();
    assert_eq!(
        token_calls,
        [200, 200, 200, 400],
        "token calls are logged, at no cost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_mode_issues_a_new_refresh_token_each_time() {
    let env = common::env_with(|c| c.rotate_refresh_tokens = true).await;
    let (_, grant) = exchange(&env, &code(&env).await).await;
    let first = grant["refresh_token"].as_str().unwrap();
    let (status, next) = token_request(
        &env,
        &[("grant_type", "refresh_token"), ("refresh_token", first)],
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(next["refresh_token"], first);
    let (status, _) = token_request(
        &env,
        &[("grant_type", "refresh_token"), ("refresh_token", first)],
    )
    .await;
    assert_eq!(status, 400, "a rotated-out refresh token is spent");
}

fn assert_uninstall(seen: &common::Seen, env: &common::Env) {
    assert_eq!(seen.method, "DELETE");
    assert_eq!(seen.path, "/oauth/callback");
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    assert_eq!(
        seen.authorization.as_deref(),
        Some(format!("Basic {expected}").as_str())
    );
    assert_eq!(seen.body["client_id"], CLIENT_ID);
    assert_eq!(seen.body["company_id"], env.company_id);
    assert_eq!(seen.body["user_id"], env.user_id);
    assert!(seen.body["timestamp"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_access_token_then_refresh_token_uninstalls() {
    let env = common::env().await;
    let (_, grant) = exchange(&env, &code(&env).await).await;
    let access = grant["access_token"].as_str().unwrap();
    let refresh = grant["refresh_token"].as_str().unwrap();
    let revoke = |token: String, hint: &'static str| {
        env.http
            .post(format!("{}/oauth/revoke", env.sandbox.base_url()))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("token", token), ("token_type_hint", hint.to_owned())])
            .send()
    };
    assert_eq!(
        revoke(access.to_owned(), "access_token")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(me(&env, access).await, 401);
    assert!(
        env.receiver.seen().is_empty(),
        "revoking an access token is not an uninstall"
    );
    let (status, renewed) = token_request(
        &env,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 200);

    assert_eq!(
        revoke(refresh.to_owned(), "refresh_token")
            .await
            .unwrap()
            .status(),
        200
    );
    let seen = env.receiver.seen();
    assert_eq!(seen.len(), 1);
    assert_uninstall(&seen[0], &env);
    assert_eq!(
        me(&env, renewed["access_token"].as_str().unwrap()).await,
        401
    );
    let (status, _) = token_request(
        &env,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        revoke("unknown".into(), "refresh_token")
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_uninstall_sends_the_delete_to_the_callback() {
    let env = common::env().await;
    let (_, grant) = exchange(&env, &code(&env).await).await;
    env.sandbox
        .control()
        .uninstall(CLIENT_ID, env.company_id, env.user_id)
        .await
        .unwrap();
    let seen = env.receiver.seen();
    assert_eq!(seen.len(), 1);
    assert_uninstall(&seen[0], &env);
    assert_eq!(me(&env, grant["access_token"].as_str().unwrap()).await, 401);
    assert!(env
        .sandbox
        .control()
        .uninstall(CLIENT_ID, env.company_id, env.user_id)
        .await
        .is_err());
}

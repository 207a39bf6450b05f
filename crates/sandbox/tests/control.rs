//! The control API, in Rust and over HTTP: setup, tokens, call log, budgets, duplicates, the demo
//! page, and determinism from the seed.

// Test helpers outside #[test] functions unwrap too; clippy's test allowance misses them
// (rust-clippy#13981).
#![allow(clippy::unwrap_used)]

mod common;

use dealbridge_sandbox::{EntityKind, SandboxConfig};
use serde_json::{json, Value};

async fn person(env: &common::Env, name: &str, email: &str) -> u64 {
    let body =
        json!({ "name": name, "emails": [{ "value": email, "primary": true, "label": "work" }] });
    let (status, resp, _) = env.call("POST", "/api/v2/persons", Some(body)).await;
    assert_eq!(status, 200, "{resp}");
    resp["data"]["id"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_call_log_through_control() {
    let env = common::env().await;
    person(&env, "A", "same@x.test").await;
    person(&env, "B", "SAME@x.test").await;
    person(&env, "C", "other@x.test").await;
    let ctl = env.sandbox.control();
    let d = ctl
        .duplicates(env.company_id, EntityKind::Person, "email")
        .unwrap();
    assert_eq!((d.duplicate_values, d.extra_records), (1, 1));
    assert_eq!(
        ctl.duplicates(env.company_id, EntityKind::Person, "name")
            .unwrap()
            .duplicate_values,
        0
    );
    let calls = ctl.calls(Some(env.company_id));
    assert_eq!(calls.len(), 3);
    let c = &calls[0];
    assert_eq!(
        (c.method.as_str(), c.path.as_str(), c.cost, c.status),
        ("POST", "/c/acme/api/v2/persons", 5, 200)
    );
    assert!(c.token_id.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_and_tokens_are_deterministic_from_the_seed() {
    let mut grants = Vec::new();
    for seed in [11, 11, 12] {
        let cfg = SandboxConfig {
            seed,
            workers: 1,
            companies: vec![common::company("acme", dealbridge_sandbox::Plan::Lite)],
            ..SandboxConfig::default()
        };
        let sb = dealbridge_sandbox::spawn(cfg).await.unwrap();
        let company = sb.control().companies()[0].clone();
        let grant = sb.control().mint_token(company.id, None, vec![]).unwrap();
        let mut issued = sb.control().issued_tokens(company.id);
        issued.sort();
        let mut expected = vec![grant.access_token.clone(), grant.refresh_token.clone()];
        expected.sort();
        assert_eq!(issued, expected, "the control API lists the issued tokens");
        assert!(sb.control().issued_tokens(company.id + 1).is_empty());
        grants.push((
            company.id,
            company.user_ids.clone(),
            grant.access_token,
            grant.refresh_token,
        ));
        sb.stop().await;
    }
    assert_eq!(grants[0], grants[1]);
    assert_ne!(grants[0], grants[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_control_api_and_demo_page() {
    let sb = dealbridge_sandbox::spawn(SandboxConfig {
        workers: 1,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let base = sb.base_url();
    let company: Value = http.post(format!("{base}/_sandbox/companies"))
        .json(&json!({ "name": "Demo Co", "domain": "demo", "plan": "growth", "seats": 3, "users": [{ "name": "Dee", "email": "dee@demo.test" }] }))
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(company["api_domain"], format!("{base}/c/demo"));
    let grant: Value = http
        .post(format!("{base}/_sandbox/tokens"))
        .json(&json!({ "company_id": company["id"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = grant["access_token"].as_str().unwrap();
    let created = http
        .post(format!("{base}/c/demo/api/v2/organizations"))
        .bearer_auth(token)
        .json(&json!({ "name": "Visible <Org>" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let page = http
        .get(format!("{base}/_sandbox/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Demo Co") && page.contains("Visible &lt;Org&gt;"));
    assert!(page.contains("Installed apps: _sandbox (by Dee)"));
    let budget: Value = http
        .get(format!(
            "{base}/_sandbox/companies/{}/budget",
            company["id"]
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (budget["daily_budget"].as_u64(), budget["used"].as_u64()),
        (Some(180_000), Some(5))
    );
    let calls: Value = http
        .get(format!("{base}/_sandbox/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls.as_array().unwrap().len(), 1);
    let faults = http
        .put(format!("{base}/_sandbox/faults"))
        .json(&json!({ "company_id": company["id"], "account_closed": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(faults.status(), 204);
    let closed = http
        .get(format!("{base}/c/demo/api/v2/deals"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 402);
    let clock: Value = http
        .post(format!("{base}/_sandbox/clock/advance"))
        .json(&json!({ "seconds": 3600 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(clock["now"].as_str().unwrap().starts_with("2026-01-05T10:"));
    sb.stop().await;
}

/// The bench and most tests use plain `#[tokio::test]`; `spawn` must not need a multi-thread
/// runtime or actix's own.
#[tokio::test]
async fn spawn_works_on_a_current_thread_runtime() {
    let cfg = SandboxConfig {
        workers: 1,
        companies: vec![common::company("acme", dealbridge_sandbox::Plan::Lite)],
        ..SandboxConfig::default()
    };
    let sb = dealbridge_sandbox::spawn(cfg).await.unwrap();
    let company = sb.control().companies()[0].clone();
    let grant = sb.control().mint_token(company.id, None, vec![]).unwrap();
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/users/me", grant.api_domain))
        .bearer_auth(&grant.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    sb.stop().await;
}

#[tokio::test]
async fn ensure_app_and_company_are_idempotent() {
    let receiver = common::Receiver::start().await;
    let sb = dealbridge_sandbox::spawn(common::config(&receiver.url))
        .await
        .unwrap();
    let ctl = sb.control();
    let mut app = common::config(&receiver.url).apps.remove(0);
    assert!(
        ctl.create_app(app.clone()).is_err(),
        "already registered by config"
    );
    app.client_secret = "rotated".into();
    ctl.ensure_app(app).unwrap();
    let first = ctl
        .ensure_company(common::company("acme", dealbridge_sandbox::Plan::Lite))
        .unwrap();
    let again = ctl
        .ensure_company(common::company("acme", dealbridge_sandbox::Plan::Lite))
        .unwrap();
    assert_eq!(
        (first.id, first.user_ids.len()),
        (again.id, again.user_ids.len())
    );
    assert_eq!(ctl.companies().len(), 1);
    let resp = reqwest::Client::new()
        .post(format!("{}/oauth/token", sb.base_url()))
        .basic_auth(common::CLIENT_ID, Some("rotated"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        400,
        "new secret accepted; the refresh token is what fails"
    );
    sb.stop().await;
}

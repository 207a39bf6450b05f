//! Faults set through the control API: 5xx with a probability, latency, connection resets,
//! apply-then-drop, 401 for revoked tokens, 403 for a missing scope, 402 for a closed account.

// Test helpers outside #[test] functions unwrap too; clippy's test allowance misses them
// (rust-clippy#13981).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use dealbridge_sandbox::{EntityKind, FaultSpec, Latency};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rate_one_always_fails_with_the_chosen_status() {
    let env = common::env().await;
    let ctl = env.sandbox.control();
    ctl.set_faults(
        None,
        FaultSpec {
            error_rate: 1.0,
            error_statuses: vec![502],
            ..FaultSpec::default()
        },
    );
    let (status, body, _) = env.call("GET", "/api/v2/deals", None).await;
    assert_eq!(status, 502);
    assert_eq!(body["success"], false);
    ctl.clear_faults();
    assert_eq!(env.call("GET", "/api/v2/deals", None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rate_is_a_probability() {
    let env = common::env().await;
    env.sandbox.control().set_faults(
        None,
        FaultSpec {
            error_rate: 0.5,
            ..FaultSpec::default()
        },
    );
    let mut failures = 0;
    for _ in 0..60 {
        let (status, _, _) = env.call("GET", "/api/v1/users/me", None).await;
        assert!([200, 500, 502, 503].contains(&status));
        if status != 200 {
            failures += 1;
        }
        env.sandbox.control().advance(Duration::from_millis(100));
    }
    assert!(
        (10..=50).contains(&failures),
        "{failures} of 60 failed at rate 0.5"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_the_answer() {
    let env = common::env().await;
    let latency = Latency {
        fixed_ms: 150,
        ..Latency::default()
    };
    env.sandbox.control().set_faults(
        Some(env.company_id),
        FaultSpec {
            latency,
            ..FaultSpec::default()
        },
    );
    let start = Instant::now();
    assert_eq!(env.call("GET", "/api/v2/deals", None).await.0, 200);
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_drops_the_connection_without_applying_the_write() {
    let env = common::env().await;
    let ctl = env.sandbox.control();
    ctl.set_faults(
        None,
        FaultSpec {
            reset_rate: 1.0,
            ..FaultSpec::default()
        },
    );
    let result = env
        .http
        .post(env.url("/api/v2/persons"))
        .bearer_auth(&env.token.access_token)
        .json(&json!({ "name": "Ghost" }))
        .send()
        .await;
    let failed = match result {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the client must see a transport error");
    assert!(ctl
        .records(env.company_id, EntityKind::Person)
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_after_write_applies_the_write_but_never_answers() {
    let env = common::env().await;
    let ctl = env.sandbox.control();
    ctl.set_faults(
        None,
        FaultSpec {
            drop_after_write_rate: 1.0,
            ..FaultSpec::default()
        },
    );
    let result = env
        .http
        .post(env.url("/api/v2/persons"))
        .bearer_auth(&env.token.access_token)
        .json(&json!({ "name": "Written" }))
        .send()
        .await;
    let failed = match result {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the client must see a transport error");
    let people = ctl.records(env.company_id, EntityKind::Person).unwrap();
    assert_eq!(people.len(), 1, "the write happened");
    assert_eq!(
        env.call("GET", "/api/v2/persons", None).await.0,
        200,
        "reads are not dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_missing_scope_and_closed_account() {
    let env = common::env().await;
    let ctl = env.sandbox.control();
    ctl.set_faults(
        Some(env.company_id),
        FaultSpec {
            revoke_tokens: true,
            ..FaultSpec::default()
        },
    );
    let (status, body, _) = env.call("GET", "/api/v2/deals", None).await;
    assert_eq!((status, body["errorCode"].as_u64()), (401, Some(401)));

    ctl.set_faults(
        Some(env.company_id),
        FaultSpec {
            deny_scopes: vec!["deals:full".into(), "deals:read".into()],
            ..FaultSpec::default()
        },
    );
    assert_eq!(env.call("GET", "/api/v2/deals", None).await.0, 403);
    assert_eq!(env.call("GET", "/api/v2/persons", None).await.0, 200);

    let narrow = ctl
        .mint_token(
            env.company_id,
            None,
            vec!["base".into(), "contacts:read".into()],
        )
        .unwrap();
    ctl.clear_faults();
    assert_eq!(
        env.call_as(
            &narrow.access_token,
            "POST",
            "/api/v2/persons",
            Some(json!({ "name": "x" }))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        env.call_as(&narrow.access_token, "GET", "/api/v2/persons", None)
            .await
            .0,
        200
    );

    ctl.set_faults(
        Some(env.company_id),
        FaultSpec {
            account_closed: true,
            ..FaultSpec::default()
        },
    );
    assert_eq!(env.call("GET", "/api/v2/deals", None).await.0, 402);
    ctl.clear_faults();
    ctl.set_closed(env.company_id, true).unwrap();
    let (status, body, _) = env.call("GET", "/api/v2/deals", None).await;
    assert_eq!((status, body["success"].as_bool()), (402, Some(false)));
}

//! Outgoing webhooks of FACTS §4: v2 payloads, Basic auth, retries at +3/+30/+150 s (scaled by
//! `time_scale` 0.01 in tests), and the 30-minute ban after ten failed first attempts (exact to the
//! second on a frozen clock).

// Test helpers outside #[test] functions unwrap too; clippy's test allowance misses them
// (rust-clippy#13981).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use serde_json::json;

async fn subscribe(env: &common::Env, object: &str, auth: bool) -> u64 {
    let mut body = json!({
        "subscription_url": format!("{}/hooks", env.receiver.url),
        "event_action": "*", "event_object": object, "name": "test hook", "version": "2.0",
    });
    if auth {
        body["http_auth_user"] = json!("hook");
        body["http_auth_password"] = json!("pw");
    }
    let (status, resp, _) = env.call("POST", "/api/v1/webhooks", Some(body)).await;
    assert_eq!(status, 201, "{resp}");
    resp["data"]["id"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_change_delete_send_v2_payloads_with_basic_auth() {
    let env = common::env().await;
    let hook = subscribe(&env, "person", true).await;
    let (_, person, _) = env
        .call("POST", "/api/v2/persons", Some(json!({ "name": "Ann" })))
        .await;
    let id = person["data"]["id"].as_u64().unwrap();
    env.call(
        "PATCH",
        &format!("/api/v2/persons/{id}"),
        Some(json!({ "name": "Anne" })),
    )
    .await;
    env.call("DELETE", &format!("/api/v2/persons/{id}"), None)
        .await;
    env.call(
        "POST",
        "/api/v2/deals",
        Some(json!({ "title": "not subscribed" })),
    )
    .await;
    let seen = env.receiver.wait_for(3, 5).await;
    assert_eq!(seen.len(), 3);
    let expected = base64::engine::general_purpose::STANDARD.encode("hook:pw");
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert_eq!(
            s.authorization.as_deref(),
            Some(format!("Basic {expected}").as_str())
        );
        let meta = &s.body["meta"];
        assert_eq!(meta["entity"], "person");
        assert_eq!(meta["entity_id"], id.to_string());
        assert_eq!(meta["company_id"], env.company_id.to_string());
        assert_eq!(meta["user_id"], env.user_id.to_string());
        assert_eq!(meta["webhook_id"], hook.to_string());
        assert_eq!(meta["version"], "2.0");
        assert_eq!(meta["attempt"], 1);
        assert!(meta["id"].as_str().unwrap().len() == 36);
    }
    let by_action = |a: &str| {
        seen.iter()
            .find(|s| s.body["meta"]["action"] == a)
            .unwrap()
            .body
            .clone()
    };
    let create = by_action("create");
    assert_eq!(
        (
            create["data"]["name"].as_str(),
            create["previous"].is_null()
        ),
        (Some("Ann"), true)
    );
    let change = by_action("change");
    assert_eq!(change["data"]["name"], "Anne");
    assert_eq!(change["previous"]["name"], "Ann");
    assert!(
        change["previous"].get("owner_id").is_none(),
        "previous holds only changed fields"
    );
    let delete = by_action("delete");
    assert!(delete["data"].is_null());
    assert_eq!(delete["previous"]["name"], "Anne");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_retried_at_3_30_150_seconds_scaled() {
    let env = common::env().await;
    env.receiver
        .status
        .store(500, std::sync::atomic::Ordering::Relaxed);
    subscribe(&env, "deal", false).await;
    env.call(
        "POST",
        "/api/v2/deals",
        Some(json!({ "title": "retry me" })),
    )
    .await;
    let seen = env.receiver.wait_for(4, 10).await;
    assert_eq!(seen.len(), 4);
    let attempts: Vec<_> = seen
        .iter()
        .map(|s| s.body["meta"]["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
    // time_scale 0.01: waits of 30 ms, 300 ms and 1.5 s.
    for (i, expected_ms) in [30u64, 300, 1500].into_iter().enumerate() {
        let gap = seen[i + 1].at - seen[i].at;
        assert!(
            gap >= Duration::from_millis(expected_ms),
            "retry {} came after {gap:?}",
            i + 1
        );
        assert!(
            gap < Duration::from_millis(expected_ms * 2 + 250),
            "retry {} came after {gap:?}",
            i + 1
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.receiver.seen().len(), 4, "no fifth attempt");
    let (_, hooks) = env.sandbox.control().webhooks(env.company_id).unwrap();
    assert_eq!(
        hooks[0].first_failures, 1,
        "only first attempts count towards a ban"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_failed_first_attempts_ban_the_webhook_for_thirty_minutes() {
    let env = common::env_with(|c| c.time_scale = 0.0001).await;
    env.receiver
        .status
        .store(503, std::sync::atomic::Ordering::Relaxed);
    subscribe(&env, "organization", false).await;
    let ctl = env.sandbox.control();
    for i in 0..10 {
        env.call(
            "POST",
            "/api/v2/organizations",
            Some(json!({ "name": format!("Org {i}") })),
        )
        .await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ctl.webhooks(env.company_id).unwrap().1[0]
        .banned_until_ms
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "webhook never banned");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = env.receiver.seen().len();
    env.call(
        "POST",
        "/api/v2/organizations",
        Some(json!({ "name": "lost" })),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        env.receiver.seen().len(),
        before,
        "events during a ban are not sent"
    );
    assert_eq!(
        ctl.webhooks(env.company_id).unwrap().0,
        1,
        "and they are counted as dropped"
    );

    env.receiver
        .status
        .store(200, std::sync::atomic::Ordering::Relaxed);
    ctl.advance(Duration::from_secs(30 * 60 + 1));
    let token = ctl.mint_token(env.company_id, None, vec![]).unwrap();
    env.call_as(
        &token.access_token,
        "POST",
        "/api/v2/organizations",
        Some(json!({ "name": "after ban" })),
    )
    .await;
    // Late retries of the failed events may still land; look for the new event among them.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !env
        .receiver
        .seen()
        .iter()
        .any(|s| s.body["data"]["name"] == "after ban")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "event after the ban not delivered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        ctl.webhooks(env.company_id).unwrap().1[0].first_failures,
        0,
        "counter resets after the ban"
    );
}

/// Creates an organization with a newly minted token (test tokens live a minute, less than the
/// clock is advanced).
async fn create_with_fresh_token(env: &common::Env, name: &str) {
    let ctl = env.sandbox.control();
    let token = ctl.mint_token(env.company_id, None, vec![]).unwrap();
    let body = Some(json!({ "name": name }));
    let (status, resp, _) = env
        .call_as(&token.access_token, "POST", "/api/v2/organizations", body)
        .await;
    assert_eq!(status, 200, "{name}: {resp}");
}

/// On a frozen clock the ban's edges are exact: events are still dropped 29 min 59 s after the
/// tenth failure, and delivered again at 30 min.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_still_holds_at_29_minutes_59_seconds() {
    let env = common::env_with(|c| {
        c.time_scale = 0.0001;
        c.frozen_clock = true;
    })
    .await;
    env.receiver
        .status
        .store(503, std::sync::atomic::Ordering::Relaxed);
    subscribe(&env, "organization", false).await;
    let ctl = env.sandbox.control();
    let banned_at = ctl.now_ms();
    for i in 0..10 {
        env.call(
            "POST",
            "/api/v2/organizations",
            Some(json!({ "name": format!("Org {i}") })),
        )
        .await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ctl.webhooks(env.company_id).unwrap().1[0]
        .banned_until_ms
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "webhook never banned");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ctl.now_ms(), banned_at, "the frozen clock moved by itself");
    env.receiver
        .status
        .store(200, std::sync::atomic::Ordering::Relaxed);
    // Let late first attempts finish before counting what arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let delivered = |name: &str| {
        env.receiver
            .seen()
            .iter()
            .any(|s| s.body["data"]["name"] == name)
    };
    ctl.advance(Duration::from_secs(29 * 60 + 59));
    create_with_fresh_token(&env, "at 29:59").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!delivered("at 29:59"), "the ban ended before 30 minutes");
    assert_eq!(ctl.webhooks(env.company_id).unwrap().0, 1, "dropped events");

    ctl.advance(Duration::from_secs(1));
    create_with_fresh_token(&env, "at 30:00").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !delivered("at 30:00") {
        assert!(
            std::time::Instant::now() < deadline,
            "event after the ban not delivered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ctl.webhooks(env.company_id).unwrap().0, 1, "dropped events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_webhook_bodies_get_pipedrive_validation_errors() {
    let env = common::env().await;
    let body = json!({ "subscription_url": "not a url", "event_action": "*", "event_object": "deal", "name": "x" });
    let (status, resp, _) = env.call("POST", "/api/v1/webhooks", Some(body)).await;
    assert_eq!(status, 400);
    assert_eq!(resp["success"], false);
    assert_eq!(resp["status"], "error");
    assert!(resp["errors"]["subscription_url"].is_array());
    let errors = common::schema::check(false, "POST", "/webhooks", 400, &resp);
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_does_not_answer_in_time_is_a_failed_attempt() {
    // time_scale 0.01 scales the 10 s timeout to 100 ms, floored at 1 s.
    let env = common::env().await;
    env.receiver
        .delay_ms
        .store(1500, std::sync::atomic::Ordering::Relaxed);
    subscribe(&env, "deal", false).await;
    env.call("POST", "/api/v2/deals", Some(json!({ "title": "slow" })))
        .await;
    let ctl = env.sandbox.control();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ctl.webhooks(env.company_id).unwrap().1[0].first_failures == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "timeout not counted as a failure"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hooks = ctl.webhooks(env.company_id).unwrap().1;
    assert_eq!(hooks[0].last_http_status, None, "no answer was received");
}

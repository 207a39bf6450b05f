//! Rate limits of FACTS §5: per-token burst over a rolling 2-second window (search: 10), the
//! company's daily token budget with its reset, and the `x-ratelimit-*` headers.

// Test helpers outside #[test] functions unwrap too; clippy's test allowance misses them
// (rust-clippy#13981).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use dealbridge_sandbox::{FaultSpec, Plan, RateLimit};

fn header(h: &reqwest::header::HeaderMap, name: &str) -> u64 {
    h[name].to_str().unwrap().parse().unwrap()
}

/// A frozen clock keeps all 81 requests inside one window however slow the machine is.
/// Which limit the call log says refused the latest call.
fn last_limit(env: &common::Env) -> Option<RateLimit> {
    let calls = env.sandbox.control().calls(Some(env.company_id));
    calls.last().expect("a logged call").limited_by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lite_oauth_tokens_get_80_requests_per_two_seconds() {
    let env = common::env_with(|c| c.frozen_clock = true).await;
    let mut last = None;
    for i in 0..80u64 {
        let (status, _, h) = env.call("GET", "/api/v2/deals", None).await;
        assert_eq!(status, 200, "request {i}");
        assert_eq!(header(&h, "x-ratelimit-limit"), 80);
        assert_eq!(header(&h, "x-ratelimit-remaining"), 79 - i);
        last = Some(h);
    }
    assert_eq!(
        header(&last.unwrap(), "x-ratelimit-reset"),
        2,
        "the frozen clock has not moved"
    );
    let (status, body, h) = env.call("GET", "/api/v2/deals", None).await;
    assert_eq!(status, 429);
    assert_eq!(body["success"], false);
    assert!(body["error"].is_string());
    assert_eq!(header(&h, "x-ratelimit-remaining"), 0);
    assert_eq!(last_limit(&env), Some(RateLimit::Burst));

    // Another token of the same company has its own window.
    let other = env
        .sandbox
        .control()
        .mint_token(env.company_id, None, vec![])
        .unwrap();
    assert_eq!(
        env.call_as(&other.access_token, "GET", "/api/v2/deals", None)
            .await
            .0,
        200
    );

    env.sandbox.control().advance(Duration::from_millis(2001));
    assert_eq!(env.call("GET", "/api/v2/deals", None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_limit_follows_the_plan() {
    let env = common::env_with(|c| c.companies[0].plan = Plan::Growth).await;
    let (_, _, h) = env.call("GET", "/api/v2/persons", None).await;
    assert_eq!(header(&h, "x-ratelimit-limit"), 160);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_has_its_own_limit_of_ten() {
    let env = common::env().await;
    for _ in 0..10 {
        assert_eq!(
            env.call("GET", "/api/v2/persons/search?term=ab", None)
                .await
                .0,
            200
        );
    }
    let (status, _, h) = env
        .call("GET", "/api/v2/persons/search?term=ab", None)
        .await;
    assert_eq!(status, 429);
    assert_eq!(header(&h, "x-ratelimit-limit"), 10);
    assert_eq!(last_limit(&env), Some(RateLimit::Search));
    assert_eq!(
        env.call("GET", "/api/v2/persons", None).await.0,
        200,
        "other calls are not blocked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_budget_is_charged_by_cost_and_resets() {
    let env = common::env_with(|c| c.companies[0].daily_budget = Some(25)).await;
    let ctl = env.sandbox.control();
    assert_eq!(ctl.budget(env.company_id).unwrap().daily_budget, 25);
    assert_eq!(env.call("GET", "/api/v2/deals", None).await.0, 200); // 10
    assert_eq!(env.call("GET", "/api/v2/deals", None).await.0, 200); // 20
    assert_eq!(env.call("GET", "/api/v2/deals", None).await.0, 429); // would be 30
    assert_eq!(last_limit(&env), Some(RateLimit::Daily));
    assert_eq!(env.call("GET", "/api/v1/users/me", None).await.0, 200); // 22: cheaper calls still fit
    let budget = ctl.budget(env.company_id).unwrap();
    assert_eq!((budget.used, budget.remaining), (22, 3));
    ctl.advance(Duration::from_secs(86_400));
    let fresh = ctl
        .mint_token(env.company_id, None, vec![])
        .unwrap()
        .access_token;
    assert_eq!(
        env.call_as(&fresh, "GET", "/api/v2/deals", None).await.0,
        200,
        "budget resets daily"
    );
    assert_eq!(ctl.budget(env.company_id).unwrap().used, 10);
    ctl.reset_budgets();
    assert_eq!(ctl.budget(env.company_id).unwrap().used, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_budget_is_30000_times_plan_times_seats() {
    let env = common::env_with(|c| {
        c.companies[0].plan = Plan::Growth;
        c.companies[0].seats = 5;
    })
    .await;
    assert_eq!(
        env.sandbox
            .control()
            .budget(env.company_id)
            .unwrap()
            .daily_budget,
        300_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_reset_time_is_controllable() {
    let env = common::env_with(|c| c.companies[0].daily_budget = Some(10)).await;
    let ctl = env.sandbox.control();
    assert_eq!(env.call("GET", "/api/v2/deals", None).await.0, 200);
    assert_eq!(env.call("GET", "/api/v2/deals", None).await.0, 429);
    // The sandbox starts at 09:00 UTC; a reset at 09:30 comes half an hour later.
    ctl.set_daily_reset(9 * 3600 + 1800);
    ctl.advance(Duration::from_secs(1801));
    let fresh = ctl
        .mint_token(env.company_id, None, vec![])
        .unwrap()
        .access_token;
    assert_eq!(
        env.call_as(&fresh, "GET", "/api/v2/deals", None).await.0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_429_fault_answers_in_the_error_envelope() {
    let env = common::env().await;
    env.sandbox.control().set_faults(
        Some(env.company_id),
        FaultSpec {
            force_429: true,
            ..FaultSpec::default()
        },
    );
    let (status, body, h) = env.call("GET", "/api/v2/deals", None).await;
    assert_eq!(status, 429);
    assert_eq!(body["success"], false);
    assert!(h.contains_key("x-ratelimit-limit"));
    assert_eq!(last_limit(&env), Some(RateLimit::Fault));
    assert_eq!(
        env.sandbox.control().budget(env.company_id).unwrap().used,
        0,
        "rejected calls cost nothing"
    );
}

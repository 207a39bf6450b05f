//! Personal API tokens (FACTS §5): `x-api-token` header or `api_token` query parameter, the API
//! token burst table, and `x-daily-requests-left` counting today's writes.

// Test helpers outside #[test] functions unwrap too; clippy's test allowance misses them
// (rust-clippy#13981).
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::json;

fn header(h: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    h.get(name).map(|v| v.to_str().unwrap().parse().unwrap())
}

/// `?api_token=` or `x-api-token`, at the company's API domain.
async fn call(
    env: &common::Env,
    method: reqwest::Method,
    path: &str,
    auth: (&str, &str),
    body: Option<serde_json::Value>,
) -> (u16, reqwest::header::HeaderMap) {
    let url = format!("{}{path}", env.token.api_domain);
    let mut request = env.http.request(method, url);
    request = match auth {
        ("header", token) => request.header("x-api-token", token),
        (_, token) => request.query(&[("api_token", token)]),
    };
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.headers().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_authenticate_by_header_or_query_and_count_writes() {
    let env = common::env_with(|c| c.frozen_clock = true).await;
    let control = env.sandbox.control();
    let token = control.api_token(env.company_id, None).unwrap();
    assert_eq!(
        control.api_token(env.company_id, None).unwrap(),
        token,
        "one token per user"
    );

    let (status, h) = call(
        &env,
        reqwest::Method::GET,
        "/api/v2/deals",
        ("header", &token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    // Lite plan: 20 requests per 2 s for API tokens, not OAuth's 80.
    assert_eq!(header(&h, "x-ratelimit-limit"), Some(20));
    assert_eq!(
        header(&h, "x-daily-requests-left"),
        Some(10_000),
        "a read spends no write"
    );

    let deal = Some(json!({ "title": "By API token" }));
    let (status, h) = call(
        &env,
        reqwest::Method::POST,
        "/api/v2/deals",
        ("query", &token),
        deal,
    )
    .await;
    assert_eq!(status, 200, "v2 answers a create with 200");
    assert_eq!(header(&h, "x-daily-requests-left"), Some(9_999));

    let (status, _) = call(
        &env,
        reqwest::Method::GET,
        "/api/v2/deals",
        ("header", "not-a-token"),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = call(
        &env,
        reqwest::Method::GET,
        "/api/v2/deals",
        ("query", &env.token.access_token),
        None,
    )
    .await;
    assert_eq!(status, 401, "an OAuth access token is not an API token");

    // OAuth answers never carry the API-token header.
    let (status, _, h) = env.call("GET", "/api/v2/deals", None).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "x-daily-requests-left"), None);
    assert!(
        control
            .calls(Some(env.company_id))
            .iter()
            .any(|c| c.method == "POST" && c.status == 200 && c.cost > 0),
        "the API-token write is in the call log, charged to the company"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_have_their_own_burst_window() {
    let env = common::env_with(|c| c.frozen_clock = true).await;
    let token = env
        .sandbox
        .control()
        .api_token(env.company_id, None)
        .unwrap();
    for i in 0..20 {
        let (status, _) = call(
            &env,
            reqwest::Method::GET,
            "/api/v2/deals",
            ("header", &token),
            None,
        )
        .await;
        assert_eq!(status, 200, "request {i}");
    }
    let (status, h) = call(
        &env,
        reqwest::Method::GET,
        "/api/v2/deals",
        ("header", &token),
        None,
    )
    .await;
    assert_eq!(status, 429, "the 21st request in one window");
    assert_eq!(header(&h, "x-ratelimit-remaining"), Some(0));
    let (status, _, _) = env.call("GET", "/api/v2/deals", None).await;
    assert_eq!(status, 200, "the OAuth token's window is separate");
}

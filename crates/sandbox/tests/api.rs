//! REST behaviour beyond the schemas: routing by company domain and token, Pipedrive's 404 and
//! 400s, cursor and offset pagination, filters, search options, and determinism from the seed.

// Test helpers outside #[test] functions unwrap too; clippy's test allowance misses them
// (rust-clippy#13981).
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_missing_tokens() {
    let env = common::env().await;
    let (status, body, headers) = env.call("GET", "/api/v2/nonsense", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        headers["x-ratelimit-limit"], "80",
        "rate limit headers on every answer"
    );
    assert_eq!(body["success"], false);
    assert_eq!(body["error_info"], "Please check developers.pipedrive.com");
    assert!(body["data"].is_null());
    let resp = env.http.get(env.url("/api/v2/deals")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errorCode"], 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_paths_take_the_company_from_the_token() {
    let env = common::env().await;
    let base = env.sandbox.base_url();
    for path in ["/api/v1/users/me", "/v1/users/me", "/api/v2/deals"] {
        let resp = env
            .http
            .get(format!("{base}{path}"))
            .bearer_auth(&env.token.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    let (_, me, _) = env.call("GET", "/api/v1/users/me", None).await;
    assert_eq!(me["data"]["company_id"], env.company_id);
    assert_eq!(me["data"]["company_domain"], "acme");
    let other = env
        .sandbox
        .control()
        .create_company(common::company("globex", dealbridge_sandbox::Plan::Premium))
        .unwrap();
    let resp = env
        .http
        .get(format!("{}/api/v2/deals", other.api_domain))
        .bearer_auth(&env.token.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "a token does not open another company's domain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_bodies_get_400s() {
    let env = common::env().await;
    let resp = env
        .http
        .post(env.url("/api/v2/deals"))
        .bearer_auth(&env.token.access_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    for body in [
        json!({}),
        json!({ "title": 5 }),
        json!({ "title": "t", "is_archived": 1 }),
        json!({ "title": "t", "value": "12" }),
        json!({ "title": "t", "custom_fields": { "0000000000000000000000000000000000000000": "x" } }),
        json!([1]),
    ] {
        let (status, resp, _) = env.call("POST", "/api/v2/deals", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(resp["success"], false);
        assert!(resp["error"].is_string());
    }
    assert_eq!(env.call("GET", "/api/v2/deals/abc", None).await.0, 400);
    assert_eq!(env.call("GET", "/api/v2/deals/999", None).await.0, 404);
    assert_eq!(
        env.call("GET", "/api/v2/deals?limit=501", None).await.0,
        400
    );
    assert_eq!(
        env.call("GET", "/api/v2/deals?sort_by=title", None).await.0,
        400
    );
}

async fn person(env: &common::Env, name: &str, email: &str) -> u64 {
    let body =
        json!({ "name": name, "emails": [{ "value": email, "primary": true, "label": "work" }] });
    let (status, resp, _) = env.call("POST", "/api/v2/persons", Some(body)).await;
    assert_eq!(status, 200, "{resp}");
    resp["data"]["id"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_pagination_ids_and_updated_since() {
    let env = common::env().await;
    for i in 0..5 {
        person(&env, &format!("P{i}"), &format!("p{i}@x.test")).await;
    }
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v2/persons?limit=2&cursor={c}"),
            None => "/api/v2/persons?limit=2".to_owned(),
        };
        let (_, page, _) = env.call("GET", &path, None).await;
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_u64().unwrap()),
        );
        match page["additional_data"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    let (_, picked, _) = env
        .call("GET", "/api/v2/persons?ids=2,4&sort_direction=desc", None)
        .await;
    let ids: Vec<_> = picked["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [4, 2]);

    env.sandbox
        .control()
        .advance(std::time::Duration::from_secs(10));
    let token = env
        .sandbox
        .control()
        .mint_token(env.company_id, None, vec![])
        .unwrap();
    let since = env.sandbox.control().now_ms();
    let since = chrono::DateTime::from_timestamp_millis(since)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    env.call_as(
        &token.access_token,
        "PATCH",
        "/api/v2/persons/3",
        Some(json!({ "name": "P3 renamed" })),
    )
    .await;
    let (_, changed, _) = env
        .call_as(
            &token.access_token,
            "GET",
            &format!("/api/v2/persons?updated_since={since}"),
            None,
        )
        .await;
    let ids: Vec<_> = changed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_term_fields_and_exact_match() {
    let env = common::env().await;
    person(&env, "Jane Roe", "jane@roe.test").await;
    person(&env, "Janet Doe", "janet@doe.test").await;
    let count = |v: &Value| v["data"]["items"].as_array().unwrap().len();
    let (_, r, _) = env
        .call("GET", "/api/v2/persons/search?term=jane", None)
        .await;
    assert_eq!(count(&r), 2);
    let (_, r, _) = env
        .call(
            "GET",
            "/api/v2/persons/search?term=jane%40roe.test&fields=email&exact_match=true",
            None,
        )
        .await;
    assert_eq!(count(&r), 1);
    assert_eq!(r["data"]["items"][0]["item"]["emails"][0], "jane@roe.test");
    let (_, r, _) = env
        .call(
            "GET",
            "/api/v2/persons/search?term=jane&fields=email&exact_match=true",
            None,
        )
        .await;
    assert_eq!(count(&r), 0);
    assert_eq!(
        env.call("GET", "/api/v2/persons/search?term=j", None)
            .await
            .0,
        400
    );
    assert_eq!(
        env.call("GET", "/api/v2/persons/search?term=jane&fields=title", None)
            .await
            .0,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_use_offset_pagination_and_accept_forms() {
    let env = common::env().await;
    for i in 0..3 {
        env.call(
            "POST",
            "/api/v1/notes",
            Some(json!({ "content": format!("n{i}"), "pinned_to_deal_flag": 1 })),
        )
        .await;
    }
    let (_, page, _) = env.call("GET", "/api/v1/notes?start=0&limit=2", None).await;
    let p = &page["additional_data"]["pagination"];
    assert_eq!(
        (
            p["more_items_in_collection"].as_bool(),
            p["next_start"].as_u64()
        ),
        (Some(true), Some(2))
    );
    assert_eq!(page["data"][0]["pinned_to_deal_flag"], true);
    let (_, last, _) = env.call("GET", "/api/v1/notes?start=2&limit=2", None).await;
    assert_eq!(
        last["additional_data"]["pagination"]["more_items_in_collection"],
        false
    );
    assert!(last["additional_data"]["pagination"]
        .get("next_start")
        .is_none());
    let resp = env
        .http
        .post(env.url("/v1/notes"))
        .bearer_auth(&env.token.access_token)
        .form(&[("content", "from a form"), ("deal_id", "7")])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["deal_id"], 7);
}

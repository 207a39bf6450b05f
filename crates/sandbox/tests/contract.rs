//! Every implemented operation, called once: its response must validate against the official
//! schema for its status, and both the company's budget counter and the call log must show it
//! charged exactly its `x-token-cost`.

// Test helpers outside #[test] functions unwrap too; clippy's test allowance misses them
// (rust-clippy#13981).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::schema;
use dealbridge_sandbox::spec::Api;
use serde_json::{json, Value};

struct Checker {
    env: common::Env,
    covered: BTreeSet<(bool, String, String)>,
}

impl Checker {
    async fn op(
        &mut self,
        v2: bool,
        method: &str,
        template: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let prefix = if v2 { "/api/v2" } else { "/api/v1" };
        let control = self.env.sandbox.control();
        let used_before = control.budget(self.env.company_id).unwrap().used;
        let (got, resp, headers) = self
            .env
            .call(method, &format!("{prefix}{path}"), body)
            .await;
        assert_eq!(got, status, "{method} {path}: {resp}");
        let errors = schema::check(v2, method, template, status, &resp);
        assert!(
            errors.is_empty(),
            "{method} {template} violates the official schema: {errors:#?}\n{resp:#}"
        );
        assert!(
            headers.contains_key("x-ratelimit-limit"),
            "{method} {path} lacks x-ratelimit-limit"
        );
        let calls = self.env.sandbox.control().calls(None);
        let last = calls.last().expect("call logged");
        let cost = schema::token_cost(v2, method, template);
        assert_eq!(
            u64::from(last.cost),
            cost,
            "{method} {template} charged a cost different from x-token-cost"
        );
        // The budget counter is what the daily limit enforces; the log only reports it.
        let used_after = control.budget(self.env.company_id).unwrap().used;
        assert_eq!(
            used_after - used_before,
            cost,
            "{method} {template} took a different amount from the daily budget than x-token-cost"
        );
        self.covered
            .insert((v2, method.to_owned(), template.to_owned()));
        resp
    }
}

fn id(v: &Value) -> u64 {
    v["data"]["id"].as_u64().expect("id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_matches_the_official_schema_and_cost() {
    let mut c = Checker {
        env: common::env().await,
        covered: BTreeSet::new(),
    };
    c.op(false, "GET", "/users/me", "/users/me", None, 200)
        .await;
    let users = c.op(false, "GET", "/users", "/users", None, 200).await;
    assert!(!users["data"].as_array().unwrap().is_empty(), "{users}");
    let first = users["data"][0]["id"].as_u64().unwrap();
    let one = c
        .op(
            false,
            "GET",
            "/users/{id}",
            &format!("/users/{first}"),
            None,
            200,
        )
        .await;
    assert_eq!(one["data"]["name"], users["data"][0]["name"], "{one}");
    // A user id no company of the caller has is as unknown as one never created.
    c.op(false, "GET", "/users/{id}", "/users/999999999", None, 404)
        .await;
    let types = c
        .op(false, "GET", "/activityTypes", "/activityTypes", None, 200)
        .await;
    assert!(
        types["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key_string"] == "call"),
        "{types}"
    );

    // Custom fields first, so records carry `custom_fields` values.
    let mut codes = Vec::new();
    for (fields, kind) in [
        ("dealFields", "deals"),
        ("personFields", "persons"),
        ("organizationFields", "organizations"),
    ] {
        let body = json!({ "field_name": "Tier", "field_type": "varchar" });
        let f = c
            .op(
                true,
                "POST",
                &format!("/{fields}"),
                &format!("/{fields}"),
                Some(body),
                200,
            )
            .await;
        let code = f["data"]["field_code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 40);
        assert!(code.chars().all(|ch| ch.is_ascii_hexdigit()));
        c.op(
            true,
            "GET",
            &format!("/{fields}"),
            &format!("/{fields}"),
            None,
            200,
        )
        .await;
        let item = format!("/{fields}/{{field_code}}");
        c.op(true, "GET", &item, &format!("/{fields}/{code}"), None, 200)
            .await;
        codes.push((kind, code));
    }

    let org = c
        .op(
            true,
            "POST",
            "/organizations",
            "/organizations",
            Some(json!({ "name": "Globex", "custom_fields": { codes[2].1.clone(): "gold" } })),
            200,
        )
        .await;
    let person_body = json!({
        "name": "Jane Roe", "org_id": id(&org),
        "emails": [{ "value": "jane@globex.test", "primary": true, "label": "work" }],
        "custom_fields": { codes[1].1.clone(): "silver" },
    });
    let person = c
        .op(true, "POST", "/persons", "/persons", Some(person_body), 200)
        .await;
    let deal = c.op(true, "POST", "/deals", "/deals", Some(json!({ "title": "Big deal", "person_id": id(&person), "value": 1200.5, "custom_fields": { codes[0].1.clone(): "bronze" } })), 200).await;
    assert_eq!(deal["data"]["custom_fields"][&codes[0].1], "bronze");
    let activity = c
        .op(
            true,
            "POST",
            "/activities",
            "/activities",
            Some(json!({ "subject": "Call Jane", "deal_id": id(&deal) })),
            200,
        )
        .await;
    let pipeline = c
        .op(
            true,
            "POST",
            "/pipelines",
            "/pipelines",
            Some(json!({ "name": "Renewals" })),
            200,
        )
        .await;
    let stage = c
        .op(
            true,
            "POST",
            "/stages",
            "/stages",
            Some(json!({ "name": "Won back", "pipeline_id": id(&pipeline) })),
            200,
        )
        .await;

    let records = [
        ("deals", id(&deal)),
        ("persons", id(&person)),
        ("organizations", id(&org)),
        ("activities", id(&activity)),
        ("pipelines", id(&pipeline)),
        ("stages", id(&stage)),
    ];
    for (kind, rid) in records {
        let base = format!("/{kind}");
        let item = format!("/{kind}/{{id}}");
        c.op(true, "GET", &base, &base, None, 200).await;
        c.op(true, "GET", &item, &format!("/{kind}/{rid}"), None, 200)
            .await;
        let patch = match kind {
            "deals" => json!({ "title": "Bigger deal" }),
            "activities" => json!({ "subject": "Call Jane again", "done": true }),
            _ => json!({ "name": "Renamed" }),
        };
        c.op(
            true,
            "PATCH",
            &item,
            &format!("/{kind}/{rid}"),
            Some(patch),
            200,
        )
        .await;
    }
    for (kind, term) in [
        ("deals", "bigger"),
        ("persons", "renamed"),
        ("organizations", "renamed"),
    ] {
        let t = format!("/{kind}/search");
        let r = c
            .op(true, "GET", &t, &format!("{t}?term={term}"), None, 200)
            .await;
        assert_eq!(
            r["data"]["items"].as_array().unwrap().len(),
            1,
            "{kind} search finds the record"
        );
    }

    let note = c
        .op(
            false,
            "POST",
            "/notes",
            "/notes",
            Some(json!({ "content": "Met at the fair", "deal_id": id(&deal) })),
            200,
        )
        .await;
    c.op(false, "GET", "/notes", "/notes", None, 200).await;
    c.op(
        false,
        "GET",
        "/notes/{id}",
        &format!("/notes/{}", id(&note)),
        None,
        200,
    )
    .await;
    c.op(
        false,
        "PUT",
        "/notes/{id}",
        &format!("/notes/{}", id(&note)),
        Some(json!({ "content": "Edited" })),
        200,
    )
    .await;
    c.op(
        false,
        "DELETE",
        "/notes/{id}",
        &format!("/notes/{}", id(&note)),
        None,
        200,
    )
    .await;

    let hook_body = json!({ "subscription_url": format!("{}/hooks", c.env.receiver.url), "event_action": "*", "event_object": "deal", "name": "sync" });
    let hook = c
        .op(
            false,
            "POST",
            "/webhooks",
            "/webhooks",
            Some(hook_body),
            201,
        )
        .await;
    c.op(false, "GET", "/webhooks", "/webhooks", None, 200)
        .await;
    c.op(
        false,
        "DELETE",
        "/webhooks/{id}",
        &format!("/webhooks/{}", id(&hook)),
        None,
        200,
    )
    .await;

    for (kind, rid) in records.iter().rev() {
        c.op(
            true,
            "DELETE",
            &format!("/{kind}/{{id}}"),
            &format!("/{kind}/{rid}"),
            None,
            200,
        )
        .await;
    }

    let implemented: BTreeSet<_> = dealbridge_sandbox::implemented_operations()
        .into_iter()
        .map(|(api, m, p)| (api == Api::V2, m, p))
        .collect();
    let missing: Vec<_> = implemented.difference(&c.covered).collect();
    assert!(
        missing.is_empty(),
        "operations without a contract check: {missing:?}"
    );
    c.env.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_token_response_matches_the_official_schema() {
    let env = common::env().await;
    let ctl = env.sandbox.control();
    let url = ctl
        .approve_install(common::CLIENT_ID, env.company_id, env.user_id, Some("xyz"))
        .unwrap();
    let code = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let resp = env
        .http
        .post(format!("{}/oauth/token", env.sandbox.base_url()))
        .basic_auth(common::CLIENT_ID, Some(common::CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            (
                "redirect_uri",
                &format!("{}/oauth/callback", env.receiver.url),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let errors = schema::check(false, "POST", "/oauth/token", 200, &body);
    assert!(errors.is_empty(), "{errors:?}");
    for field in [
        "access_token",
        "token_type",
        "refresh_token",
        "scope",
        "expires_in",
        "api_domain",
    ] {
        assert!(body.get(field).is_some(), "token response lacks {field}");
    }
    assert_eq!(schema::token_cost(false, "POST", "/oauth/token"), 0);
}

/// The checker itself must reject wrong shapes, or the contract test above proves nothing.
#[test]
fn schema_checker_rejects_wrong_types_and_nulls() {
    let wrong_type = json!({ "success": true, "data": { "id": "7", "title": "x" } });
    assert!(!schema::check(true, "GET", "/deals/{id}", 200, &wrong_type).is_empty());
    let bad_null = json!({ "success": true, "data": { "id": 7, "person_id": null } });
    assert!(!schema::check(true, "GET", "/deals/{id}", 200, &bad_null).is_empty());
    let ok_null = json!({ "success": true, "data": { "id": 7, "probability": null } });
    assert!(schema::check(true, "GET", "/deals/{id}", 200, &ok_null).is_empty());
    let missing_required = json!({ "success": true, "data": { "field_name": "x" } });
    assert!(!schema::check(true, "POST", "/dealFields", 200, &missing_required).is_empty());
}

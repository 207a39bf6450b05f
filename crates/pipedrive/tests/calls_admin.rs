//! Typed calls for webhooks, fields, pipelines and stages, and raw calls.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ok, Harness, COMPANY};
use dealbridge_pipedrive::models::*;
use dealbridge_pipedrive::Lane;
use serde_json::json;
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

async fn mount(h: &Harness, verb: &str, route: &str, status: u16, body: serde_json::Value) {
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(&h.server)
        .await;
}

#[tokio::test]
async fn webhooks_are_created_with_version_2() {
    let h = Harness::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks"))
        .and(body_json(json!({
            "subscription_url": "https://app.example/hooks/7001", "event_action": "*",
            "event_object": "deal", "name": "Dealbridge deals", "http_auth_user": "hook",
            "http_auth_password": "pw", "version": "2.0"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "status": "ok", "success": true,
            "data": {"id": 99, "event_action": "*", "event_object": "deal", "version": "2.0", "is_active": 1}
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    mount(
        &h,
        "GET",
        "/api/v1/webhooks",
        200,
        json!({"status": "ok", "success": true, "data": [{"id": 99}]}),
    )
    .await;
    mount(
        &h,
        "DELETE",
        "/api/v1/webhooks/99",
        200,
        json!({"status": "ok", "success": true}),
    )
    .await;
    let webhooks = h.company(Lane::Interactive).webhooks();
    let new = NewWebhook {
        subscription_url: "https://app.example/hooks/7001".into(),
        event_action: "*".into(),
        event_object: "deal".into(),
        name: "Dealbridge deals".into(),
        user_id: None,
        http_auth_user: Some("hook".into()),
        http_auth_password: Some(secrecy::SecretString::from("pw")),
        version: "2.0".into(),
    };
    assert!(
        !format!("{new:?}").contains("pw"),
        "password hidden from Debug"
    );
    assert_eq!(webhooks.create(&new).await.unwrap().id, 99);
    assert_eq!(webhooks.list().await.unwrap().len(), 1);
    webhooks.delete(99).await.unwrap();
}

#[tokio::test]
async fn fields_pipelines_and_stages() {
    let h = Harness::start().await;
    let code = "dcf558aac1ae4e8c4f849ba5e668430d8df9be12";
    mount(
        &h,
        "GET",
        &format!("/api/v2/dealFields/{code}"),
        200,
        ok(json!({
            "field_code": code, "field_name": "Tier", "field_type": "enum", "is_custom_field": true,
            "options": [{"id": 1, "label": "gold"}]
        })),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/personFields"))
        .and(body_json(json!({"field_name": "Shop id", "field_type": "varchar"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok(json!({
            "field_code": "abc", "field_name": "Shop id", "field_type": "varchar", "is_custom_field": true
        }))))
        .expect(1)
        .mount(&h.server)
        .await;
    mount(&h, "GET", "/api/v2/pipelines", 200, json!({"success": true, "data": [{"id": 1, "name": "Sales"}], "additional_data": {"next_cursor": null}})).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/stages"))
        .and(query_param("pipeline_id", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true, "data": [{"id": 5, "name": "Won", "pipeline_id": 1, "order_nr": 3}]
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    let company = h.company(Lane::Interactive);
    let field = company.fields(FieldEntity::Deal).get(code).await.unwrap();
    assert_eq!(field.options.unwrap()[0].label, "gold");
    let new = NewField {
        field_name: "Shop id".into(),
        field_type: "varchar".into(),
        options: Vec::new(),
        description: None,
    };
    assert_eq!(
        company
            .fields(FieldEntity::Person)
            .create(&new)
            .await
            .unwrap()
            .field_code,
        "abc"
    );
    assert_eq!(
        company
            .pipelines()
            .list(ListQuery::new())
            .await
            .unwrap()
            .items[0]
            .name,
        "Sales"
    );
    let stages = company
        .stages()
        .list(ListQuery::new().filter("pipeline_id", 1))
        .await
        .unwrap();
    assert_eq!(stages.items[0].pipeline_id, Some(1));
}

#[tokio::test]
async fn creating_activity_fields_is_refused_before_any_request() {
    let h = Harness::start().await;
    let new = NewField {
        field_name: "x".into(),
        field_type: "varchar".into(),
        options: Vec::new(),
        description: None,
    };
    let err = h
        .company(Lane::Interactive)
        .fields(FieldEntity::Activity)
        .create(&new)
        .await
        .unwrap_err();
    assert!(
        matches!(err, dealbridge_pipedrive::Error::UnknownOperation { .. }),
        "{err:?}"
    );
    assert!(h.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn raw_calls_are_priced_from_the_table() {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/leads/abc-1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(ok(json!({"id": "abc-1", "title": "Lead"}))),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let op = dealbridge_pipedrive::costs::Operation::new("GET", "/api/v1/leads/{id}");
    let lead = h
        .company(Lane::Interactive)
        .raw(op, Some("abc-1"), Vec::new(), None)
        .await
        .unwrap();
    assert_eq!(lead["title"], "Lead");
    assert_eq!(
        h.pd.figures().snapshot(COMPANY).tokens_spent,
        u64::from(op.cost().unwrap())
    );
}

#[tokio::test]
async fn one_user_is_read_by_id_and_a_stranger_is_not_found() {
    let h = Harness::start().await;
    mount(
        &h,
        "GET",
        "/api/v1/users/16912356",
        200,
        ok(
            json!({"id": 16912356, "name": "Ada Admin", "email": "ada@example.com",
                  "active_flag": true, "is_deleted": false}),
        ),
    )
    .await;
    mount(
        &h,
        "GET",
        "/api/v1/users/7",
        404,
        json!({"success": false, "error": "User not found"}),
    )
    .await;
    let users = h.company(Lane::Interactive).users();
    let ada = users.get(16912356).await.unwrap();
    assert_eq!(ada.name.as_deref(), Some("Ada Admin"));
    let err = users.get(7).await.unwrap_err();
    assert!(
        matches!(err, dealbridge_pipedrive::Error::NotFound { .. }),
        "{err:?}"
    );
}

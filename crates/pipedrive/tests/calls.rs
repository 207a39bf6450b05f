//! Typed calls send what the OpenAPI files describe and read what Pipedrive answers.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ok, Harness, COMPANY};
use dealbridge_pipedrive::models::*;
use dealbridge_pipedrive::Lane;
use serde_json::json;
use wiremock::matchers::{body_json, method, path, query_param, query_param_is_missing};
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
async fn deals_create_sends_custom_fields_and_reads_them_back() {
    let h = Harness::start().await;
    let code = "dcf558aac1ae4e8c4f849ba5e668430d8df9be12";
    Mock::given(method("POST"))
        .and(path("/api/v2/deals"))
        .and(body_json(json!({
            "title": "Big deal", "value": 1200.5, "currency": "EUR",
            "custom_fields": {code: "gold"}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok(json!({
            "id": 11, "title": "Big deal", "value": 1200.5, "currency": "EUR",
            "custom_fields": {code: "gold"}, "add_time": "2026-11-29T12:00:00Z"
        }))))
        .expect(1)
        .mount(&h.server)
        .await;
    let new = NewDeal {
        title: "Big deal".into(),
        fields: DealPatch {
            value: Some(1200.5),
            currency: Some("EUR".into()),
            custom_fields: [(code.to_string(), json!("gold"))].into(),
            ..DealPatch::default()
        },
    };
    let deal = h
        .company(Lane::Interactive)
        .deals()
        .create(&new)
        .await
        .unwrap();
    assert_eq!(deal.id, 11);
    assert_eq!(deal.custom_fields.get(code), Some(&json!("gold")));
    assert_eq!(
        deal.extra.get("add_time"),
        Some(&json!("2026-11-29T12:00:00Z"))
    );
    assert_eq!(h.pd.figures().snapshot(COMPANY).tokens_spent, 5);
}

#[tokio::test]
async fn lists_follow_the_cursor() {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/persons"))
        .and(query_param("limit", "2"))
        .and(query_param("updated_since", "2026-11-01T00:00:00Z"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": [{"id": 1, "name": "Ann", "emails": [{"value": "ann@x.io", "primary": true}]}, {"id": 2}],
            "additional_data": {"next_cursor": "eyJpZCI6Mn0"}
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/persons"))
        .and(query_param("cursor", "eyJpZCI6Mn0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true, "data": [{"id": 3}], "additional_data": {"next_cursor": null}
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    let persons = h.company(Lane::Bulk).persons();
    let query = ListQuery::new()
        .limit(2)
        .filter("updated_since", "2026-11-01T00:00:00Z");
    let first = persons.list(query.clone()).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.items[0].emails[0].value, "ann@x.io");
    let cursor = first.next_cursor.unwrap();
    let second = persons.list(query.cursor(cursor)).await.unwrap();
    assert_eq!(second.items[0].id, 3);
    assert_eq!(second.next_cursor, None);
}

#[tokio::test]
async fn person_search_by_email_is_exact() {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/persons/search"))
        .and(query_param("term", "ann+1@x.io"))
        .and(query_param("fields", "email"))
        .and(query_param("exact_match", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": {"items": [{"result_score": 0.51, "item": {
                "id": 5, "type": "person", "name": "Ann", "emails": ["ann+1@x.io"],
                "phones": [], "organization": {"id": 3, "name": "Acme"}
            }}]},
            "additional_data": {"next_cursor": null}
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    let hits = h
        .company(Lane::Webhook)
        .persons()
        .find_by_email("ann+1@x.io")
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].item.id, 5);
    assert_eq!(hits[0].item.emails, vec!["ann+1@x.io"]);
    assert_eq!(h.pd.figures().snapshot(COMPANY).tokens_spent, 20);
}

#[tokio::test]
async fn update_and_delete_on_v2() {
    let h = Harness::start().await;
    Mock::given(method("PATCH"))
        .and(path("/api/v2/organizations/8"))
        .and(body_json(json!({"name": "Acme Ltd"})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(ok(json!({"id": 8, "name": "Acme Ltd"}))),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    mount(
        &h,
        "DELETE",
        "/api/v2/activities/4",
        200,
        ok(json!({"id": 4})),
    )
    .await;
    let company = h.company(Lane::Interactive);
    let patch = OrganizationInput {
        name: Some("Acme Ltd".into()),
        ..OrganizationInput::default()
    };
    let org = company.organizations().update(8, &patch).await.unwrap();
    assert_eq!(org.name.as_deref(), Some("Acme Ltd"));
    assert_eq!(company.activities().delete(4).await.unwrap(), 4);
}

#[tokio::test]
async fn activities_use_type_on_the_wire() {
    let h = Harness::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/activities"))
        .and(body_json(
            json!({"subject": "Call", "type": "call", "deal_id": 11, "due_date": "2026-12-01"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok(json!({
            "id": 30, "subject": "Call", "type": "call", "deal_id": 11
        }))))
        .expect(1)
        .mount(&h.server)
        .await;
    let input = ActivityInput {
        subject: Some("Call".into()),
        activity_type: Some("call".into()),
        deal_id: Some(11),
        due_date: Some("2026-12-01".into()),
        ..ActivityInput::default()
    };
    let activity = h
        .company(Lane::Webhook)
        .activities()
        .create(&input)
        .await
        .unwrap();
    assert_eq!(activity.activity_type.as_deref(), Some("call"));
}

#[tokio::test]
async fn notes_use_v1_offset_pagination_and_put() {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/notes"))
        .and(query_param("deal_id", "11"))
        .and(query_param("start", "0"))
        .and(query_param("limit", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": [{"id": 70, "content": "hello", "deal_id": 11}],
            "additional_data": {"pagination": {"start": 0, "limit": 1, "more_items_in_collection": true, "next_start": 1}}
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/notes/70"))
        .and(body_json(json!({"content": "edited"})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(ok(json!({"id": 70, "content": "edited"}))),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    mount(
        &h,
        "DELETE",
        "/api/v1/notes/70",
        200,
        json!({"success": true, "data": {"id": 70}}),
    )
    .await;
    let notes = h.company(Lane::Interactive).notes();
    let query = NoteQuery {
        deal_id: Some(11),
        start: Some(0),
        limit: Some(1),
        ..NoteQuery::default()
    };
    let page = notes.list(query).await.unwrap();
    assert_eq!((page.items[0].id, page.next_start), (70, Some(1)));
    let edit = NoteInput {
        content: Some("edited".into()),
        ..NoteInput::default()
    };
    assert_eq!(
        notes.update(70, &edit).await.unwrap().content.as_deref(),
        Some("edited")
    );
    notes.delete(70).await.unwrap();
    // 20 (list) + 10 (put) + 6 (delete)
    assert_eq!(h.pd.figures().snapshot(COMPANY).tokens_spent, 36);
}

#[tokio::test]
async fn an_empty_v1_list_is_data_null() {
    let h = Harness::start().await;
    mount(&h, "GET", "/api/v1/notes", 200, json!({"success": true, "data": null, "additional_data": {"pagination": {"more_items_in_collection": false}}})).await;
    let page = h
        .company(Lane::Interactive)
        .notes()
        .list(NoteQuery::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.next_start, None);
}

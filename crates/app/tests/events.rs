//! Pipedrive's webhooks through the whole app: the post-install job registers them in the embedded
//! sandbox, a deal created there is delivered to `/hooks/pipedrive/{path}`, its event job applies
//! it, and the dashboard lists it, tenant-scoped, with the webhooks' health.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

use std::time::Duration;

use chrono::Utc;
use dealbridge_app::pipedrive_setup::SANDBOX_CLIENT_ID;
use dealbridge_core::event::{ChangeAction, EventSource, EventType, NewEvent, PipedriveEntity};
use dealbridge_core::tenant::NewTenant;
use dealbridge_core::CompanyId;
use dealbridge_storage::{InboxEntry, NewJob};
use helpers::{spawn_app_with_workers, TestApp};

/// Installs into the sandbox's demo company through the browser; returns the company id.
async fn install(app: &TestApp) -> u64 {
    let start = app.get("/install").await;
    let location = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let sandbox = app.sandbox.as_ref().unwrap();
    let company = sandbox
        .control
        .companies()
        .into_iter()
        .find(|c| c.domain == "demo")
        .unwrap();
    let callback = sandbox
        .control
        .approve_install(
            SANDBOX_CLIENT_ID,
            company.id,
            company.user_ids[0],
            Some(&state),
        )
        .unwrap();
    let back = app.client.get(&callback).send().await.unwrap();
    assert_eq!(back.status(), 303);
    company.id
}

/// Polls the dashboard until `done` holds for its HTML, or fails after 15 s.
async fn dashboard_until(app: &TestApp, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let html = app.get("/dashboard").await.text().await.unwrap();
        if done(&html) {
            return html;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dashboard never got there:\n{html}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_deal_made_in_pipedrive_shows_as_a_processed_event_on_the_dashboard() {
    let app = spawn_app_with_workers().await;
    let company = install(&app).await;
    // The post-install job registers the webhooks.
    dashboard_until(&app, |html| html.contains("9 registered")).await;

    let sandbox = app.sandbox.as_ref().unwrap();
    let grant = sandbox.control.mint_token(company, None, vec![]).unwrap();
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v2/deals", grant.api_domain))
        .bearer_auth(&grant.access_token)
        .json(&serde_json::json!({ "title": "Order 1001" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entity = format!("deal:{}", created["data"]["id"]);

    // Another company's event must never show here.
    let other = app
        .store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(990_001),
            company_name: "Other".into(),
            company_domain: "other".into(),
        })
        .await
        .unwrap();
    let id = uuid::Uuid::now_v7();
    app.store
        .record_event(&InboxEntry {
            id,
            tenant_id: other.id,
            event: NewEvent {
                source: EventSource::Pipedrive,
                kind: EventType::pipedrive(PipedriveEntity::Deal, ChangeAction::Create),
                dedupe_key: "someone-elses-delivery".into(),
                entity_key: Some("deal:424242".into()),
                occurred_at: Utc::now(),
                payload: serde_json::json!({}),
            },
            job: NewJob::new("test.none", serde_json::json!({})),
        })
        .await
        .unwrap();

    let row_done = |html: &str| {
        html.lines()
            .any(|line| line.contains(&entity) && line.contains("processed"))
    };
    let html = dashboard_until(&app, row_done).await;
    assert!(html.contains("Recent events"));
    assert!(html.contains("From pipedrive"));
    assert!(html.contains("pipedrive.deal.create"));
    assert!(html.contains("just now"), "received time in words");
    assert!(html.contains(">active<"), "webhook health");
    assert!(
        !html.contains("deal:424242"),
        "another tenant's event is shown"
    );
}

fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn disconnect_deletes_the_webhooks_and_their_registration() {
    let app = spawn_app_with_workers().await;
    let company = install(&app).await;
    let page = dashboard_until(&app, |html| html.contains("9 registered")).await;
    let tenant = app
        .store
        .tenant_by_company(CompanyId::new(company as i64))
        .await
        .unwrap()
        .unwrap();
    let path = app
        .store
        .webhook_registration(tenant.id)
        .await
        .unwrap()
        .unwrap()
        .path_token;
    let sandbox = app.sandbox.as_ref().unwrap();
    sandbox.control.clear_calls();

    let done = app
        .client
        .post(format!("{}/dashboard/disconnect", app.address))
        .form(&[("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let deleted = sandbox
        .control
        .calls(Some(company))
        .iter()
        .filter(|c| c.method == "DELETE" && c.path.contains("/webhooks/") && c.status < 300)
        .count();
    assert_eq!(deleted, 9, "each webhook deleted while the token worked");
    assert!(app
        .store
        .webhook_registration(tenant.id)
        .await
        .unwrap()
        .is_none());
    let late = reqwest::Client::new()
        .post(format!("{}/hooks/pipedrive/{path}", app.address))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 404, "the old path still takes deliveries");
}

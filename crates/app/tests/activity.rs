//! The dashboard's activity page: every event of the tenant, filtered by source, type, state and
//! days, paged, and a failed event run again once (never another tenant's).

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

use chrono::Utc;
use dealbridge_core::event::{EventSource, EventType};
use dealbridge_core::tenant::NewTenant;
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_storage::InboxState;
use helpers::install_flow::install_demo_company;
use helpers::records::{fail_event, inbox_event};
use helpers::{csrf_in, spawn_app, TestApp};
use uuid::Uuid;

async fn event(app: &TestApp, tenant: TenantId, source: EventSource, kind: EventType) -> Uuid {
    inbox_event(app, tenant, source, kind).await.unwrap()
}

async fn fail(app: &TestApp, tenant: TenantId, id: Uuid, reason: &str) {
    fail_event(app, tenant, id, reason).await.unwrap();
}

const ORDER_ROW: &str = "<td data-label=\"Event\">order.created</td>";
const SIGNUP_ROW: &str = "<td data-label=\"Event\">signup</td>";

async fn page(app: &TestApp, query: &str) -> (u16, String) {
    let answer = app.get(&format!("/dashboard/activity{query}")).await;
    (answer.status().as_u16(), answer.text().await.unwrap())
}

async fn installed_tenant(app: &TestApp) -> TenantId {
    let installed = install_demo_company(app).await;
    let company = CompanyId::new(i64::try_from(installed.company_id).unwrap());
    let tenant = app.store.tenant_by_company(company).await.unwrap();
    tenant.unwrap().id
}

#[tokio::test]
async fn events_are_listed_and_filtered_by_source_type_and_state() {
    let app = spawn_app().await;
    let tenant = installed_tenant(&app).await;
    let order = event(&app, tenant, EventSource::Shopify, EventType::OrderCreated).await;
    let signup = event(&app, tenant, EventSource::EventApi, EventType::Signup).await;
    fail(&app, tenant, signup, "the stage no longer exists").await;

    let (status, all) = page(&app, "").await;
    assert_eq!(status, 200, "{all}");
    assert!(all.contains(ORDER_ROW) && all.contains(SIGNUP_ROW), "{all}");

    let (_, shopify) = page(&app, "?source=shopify").await;
    assert!(shopify.contains(ORDER_ROW), "{shopify}");
    assert!(!shopify.contains(SIGNUP_ROW), "{shopify}");

    let (_, failed) = page(&app, "?state=failed&type=signup").await;
    assert!(failed.contains("the stage no longer exists"), "{failed}");
    assert!(failed.contains(&format!("/dashboard/activity/{signup}/retry")));
    assert!(!failed.contains(ORDER_ROW), "{failed}");
    assert!(!failed.contains(&format!("/dashboard/activity/{order}/retry")));

    let today = Utc::now().format("%Y-%m-%d");
    let (_, dated) = page(&app, &format!("?from={today}&to={today}")).await;
    assert!(dated.contains(ORDER_ROW), "{dated}");
    let (_, before) = page(&app, "?to=2020-01-01").await;
    assert!(before.contains("No events match"), "{before}");

    for bad in [
        "?source=fax",
        "?state=lost",
        "?type=order.eaten",
        "?from=yesterday",
    ] {
        let (status, body) = page(&app, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn pages_follow_on_without_a_gap_or_a_repeat() {
    let app = spawn_app().await;
    let tenant = installed_tenant(&app).await;
    for _ in 0..53 {
        event(
            &app,
            tenant,
            EventSource::EventApi,
            EventType::UsageReported,
        )
        .await;
    }
    event(&app, tenant, EventSource::Shopify, EventType::OrderCreated).await;
    let (_, first) = page(&app, "?source=event_api").await;
    let rows = |html: &str| html.matches("<td data-label=\"Event\">").count();
    assert_eq!(rows(&first), 50, "a page of 50");
    let next = first
        .split("href=\"/dashboard/activity?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to older events")
        .replace("&amp;", "&");
    assert!(next.contains("source=event_api"), "filters kept: {next}");
    let (status, second) = page(&app, &format!("?{next}")).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(rows(&second), 3, "the rest");
    assert!(!second.contains("Older events"));
}

#[tokio::test]
async fn a_failed_event_runs_again_once_and_never_another_tenants() {
    let app = spawn_app().await;
    let tenant = installed_tenant(&app).await;
    let id = event(&app, tenant, EventSource::Shopify, EventType::OrderCreated).await;
    fail(&app, tenant, id, "Pipedrive refused it").await;
    let other = app
        .store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(990_002),
            company_name: "Other".into(),
            company_domain: "other".into(),
        })
        .await
        .unwrap();
    let theirs = event(
        &app,
        other.id,
        EventSource::Shopify,
        EventType::OrderCreated,
    )
    .await;
    fail(&app, other.id, theirs, "theirs").await;

    let (_, html) = page(&app, "?state=failed").await;
    assert!(!html.contains("theirs"), "another tenant's event is listed");
    let csrf = csrf_in(&html);
    let retry = |event: Uuid, csrf: String| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/dashboard/activity/{event}/retry", app.address))
                .form(&[("csrf", csrf)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let queued = || async { app.store.job_counts(Some(tenant)).await.unwrap().queued };
    let before = queued().await;
    assert_eq!(
        retry(theirs, csrf.clone()).await,
        404,
        "another tenant's event"
    );
    assert_eq!(
        retry(id, "forged".into()).await,
        403,
        "without the form's token"
    );
    assert_eq!(retry(id, csrf.clone()).await, 303);
    assert_eq!(retry(id, csrf.clone()).await, 404, "no longer failed");
    assert_eq!(queued().await, before + 1, "one job queued");

    let event = app.store.inbox_event(tenant, id).await.unwrap().unwrap();
    assert_eq!(event.state, InboxState::Pending);
    let theirs = app
        .store
        .inbox_event(other.id, theirs)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs.state, InboxState::Failed, "theirs untouched");
    let audit = app.store.audit_log(Some(tenant), 5).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "event.retry"), "{audit:?}");
}

#[tokio::test]
async fn the_dashboard_charts_the_weeks_events_and_failures() {
    let app = spawn_app().await;
    let tenant = installed_tenant(&app).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(event(&app, tenant, EventSource::Shopify, EventType::OrderCreated).await);
    }
    fail(&app, tenant, ids[0], "refused").await;
    let answer = app.get("/dashboard").await;
    assert_eq!(answer.status(), 200);
    let html = answer.text().await.unwrap();
    assert!(
        html.contains("Events received and failed per day"),
        "{html}"
    );
    let today = Utc::now().format("%Y-%m-%d");
    // The install's own provisioning records nothing in the inbox: the three are all.
    assert!(html.contains(&format!("{today}: 3 received")), "{html}");
    assert!(html.contains(&format!("{today}: 1 failed")), "{html}");
    assert!(html.contains("3 in all, 1 failed runs"), "{html}");
}

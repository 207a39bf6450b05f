//! The console's actions on a tenant: pause and resume (its jobs wait, its dashboard says so),
//! webhook check and reconcile requests; each audited with who and the required reason, each
//! scoped to the tenant in the path.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

use std::time::Duration;

use chrono::Utc;
use dealbridge_core::tenant::{Tenant, TenantStatus};
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_storage::{Claim, Job, Lane, LeaseId, NewJob, QueueTake, ReadyQueue, StaffRole};
use helpers::install_flow::install_demo_company;
use helpers::{browser, spawn_app, TestApp};
use secrecy::SecretString;

const OPERATOR: &str = "otto@dealbridge.test";
const PASSWORD: &str = "a long enough password";

fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has a CSRF token")
        .to_string()
}

/// A browser signed in to the console as an operator, and its form token.
async fn operator(app: &TestApp) -> (reqwest::Client, String) {
    let password = SecretString::from(PASSWORD);
    dealbridge_web::add_staff_account(
        app.store.as_ref(),
        OPERATOR,
        password,
        StaffRole::Operator,
        "cli:test",
    )
    .await
    .unwrap();
    let client = browser();
    let login = page(app, &client, "/console/login").await;
    let answer = client
        .post(format!("{}/console/login", app.address))
        .form(&[
            ("csrf", csrf_in(&login).as_str()),
            ("email", OPERATOR),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let csrf = csrf_in(&page(app, &client, "/console").await);
    (client, csrf)
}

async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    let answer = client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{path}");
    answer.text().await.unwrap()
}

async fn act(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(format!("{}{path}", app.address))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn demo_tenant(app: &TestApp) -> Tenant {
    let installed = install_demo_company(app).await;
    app.store
        .tenant_by_company(CompanyId::new(installed.company_id as i64))
        .await
        .unwrap()
        .unwrap()
}

/// Claims what the store gives for the tenant's default lane right now.
async fn claim(app: &TestApp, tenant: TenantId) -> Vec<Job> {
    let takes = [QueueTake {
        queue: ReadyQueue {
            tenant_id: Some(tenant),
            lane: Lane::Default,
        },
        limit: 10,
    }];
    app.store
        .claim_jobs(&Claim {
            worker: "test",
            lease_id: LeaseId::new(),
            now: Utc::now(),
            lease: Duration::from_secs(60),
            takes: &takes,
        })
        .await
        .unwrap()
}

async fn status(app: &TestApp, tenant: TenantId) -> TenantStatus {
    app.store.tenant(tenant).await.unwrap().unwrap().status
}

#[tokio::test]
async fn pausing_makes_the_tenants_jobs_wait_and_resuming_runs_them() {
    let app = spawn_app().await;
    let tenant = demo_tenant(&app).await;
    let (client, csrf) = operator(&app).await;
    let base = format!("/console/tenants/{}", tenant.id);
    // What the install queued is not this test's business: only its own job is compared.
    let job = app
        .store
        .enqueue(&NewJob::new("test.wait", serde_json::json!({})).tenant(tenant.id))
        .await
        .unwrap()
        .id();

    let tenant_page = page(&app, &client, &base).await;
    assert!(tenant_page.contains("Pause its jobs"), "{tenant_page}");

    let no_reason = act(&app, &client, &format!("{base}/pause"), &[("csrf", &csrf)]).await;
    assert_eq!(no_reason.status(), 400, "a reason is required");
    let blank = [("csrf", csrf.as_str()), ("reason", "   ")];
    assert_eq!(
        act(&app, &client, &format!("{base}/pause"), &blank)
            .await
            .status(),
        400
    );
    let forged = [("csrf", "guess"), ("reason", "no token")];
    assert_eq!(
        act(&app, &client, &format!("{base}/pause"), &forged)
            .await
            .status(),
        403
    );
    assert_eq!(status(&app, tenant.id).await, TenantStatus::Active);
    let why = [
        ("csrf", csrf.as_str()),
        ("reason", " Runaway import, ticket 42 "),
    ];
    let paused = act(&app, &client, &format!("{base}/pause"), &why).await;
    assert_eq!(paused.status(), 303);
    assert_eq!(paused.headers()["location"], base.as_str());
    assert_eq!(status(&app, tenant.id).await, TenantStatus::Paused);

    let waiting = claim(&app, tenant.id).await;
    assert!(
        waiting.is_empty(),
        "a paused tenant's jobs are not claimed: {waiting:?}"
    );
    let again = act(&app, &client, &format!("{base}/pause"), &why).await;
    assert_eq!(again.status(), 409, "already paused");

    let tenant_page = page(&app, &client, &base).await;
    assert!(tenant_page.contains("Resume its jobs"), "{tenant_page}");
    assert!(
        tenant_page.contains("Runaway import, ticket 42"),
        "the audit log shows why"
    );
    // The tenant's own dashboard (app.client signed in at install) says so.
    let dashboard = app.get("/dashboard").await.text().await.unwrap();
    assert!(
        dashboard.contains("support has paused this company"),
        "{dashboard}"
    );

    let resume = [("csrf", csrf.as_str()), ("reason", "import fixed")];
    let resumed = act(&app, &client, &format!("{base}/resume"), &resume).await;
    assert_eq!(resumed.status(), 303);
    assert_eq!(status(&app, tenant.id).await, TenantStatus::Active);
    let ran = claim(&app, tenant.id).await;
    assert!(
        ran.iter().any(|j| j.id == job),
        "the waiting job is claimed: {ran:?}"
    );
    let dashboard = app.get("/dashboard").await.text().await.unwrap();
    assert!(!dashboard.contains("support has paused this company"));
    assert_eq!(
        act(&app, &client, &format!("{base}/resume"), &resume)
            .await
            .status(),
        409,
        "not paused"
    );

    let log = app.store.audit_log(Some(tenant.id), 10).await.unwrap();
    let ours: Vec<_> = log
        .iter()
        .filter(|e| e.action.starts_with("tenant."))
        .map(|e| {
            (
                e.action.as_str(),
                e.actor.as_str(),
                e.detail["reason"].clone(),
            )
        })
        .collect();
    let actor = format!("staff:{OPERATOR}");
    assert_eq!(
        ours,
        vec![
            ("tenant.resumed", actor.as_str(), "import fixed".into()),
            (
                "tenant.paused",
                actor.as_str(),
                "Runaway import, ticket 42".into()
            ),
        ],
        "who, why, newest first; refused attempts wrote nothing"
    );
}

#[tokio::test]
async fn webhook_checks_and_reconciles_are_queued_for_the_tenant_with_a_reason() {
    let app = spawn_app().await;
    let tenant = demo_tenant(&app).await;
    let (client, csrf) = operator(&app).await;
    let base = format!("/console/tenants/{}", tenant.id);
    let jobs_of = |kind: &'static str| {
        let app = &app;
        async move {
            let unique = format!("{kind}:{}", tenant.id);
            // A unique job already open makes a second enqueue a duplicate: that is the probe.
            let probe = NewJob::new(kind, serde_json::json!({}))
                .tenant(tenant.id)
                .unique_key(unique);
            matches!(
                app.store.enqueue(&probe).await.unwrap(),
                dealbridge_storage::Enqueued::Duplicate(_)
            )
        }
    };

    let why = [
        ("csrf", csrf.as_str()),
        ("reason", "webhooks missing after an outage"),
    ];
    let checked = act(&app, &client, &format!("{base}/webhooks/check"), &why).await;
    assert_eq!(checked.status(), 303);
    let why = [
        ("csrf", csrf.as_str()),
        ("reason", "deals missing since Monday"),
    ];
    let reconciled = act(&app, &client, &format!("{base}/reconcile"), &why).await;
    assert_eq!(reconciled.status(), 303);
    assert!(jobs_of("webhooks.check").await, "a webhook check is queued");
    assert!(
        jobs_of("pipedrive.reconcile").await,
        "a reconcile is queued"
    );

    let log = app.store.audit_log(Some(tenant.id), 10).await.unwrap();
    let reason_of = |action: &str| {
        log.iter()
            .find(|e| e.action == action)
            .map(|e| e.detail["reason"].clone())
    };
    assert_eq!(
        reason_of("webhooks.check_requested"),
        Some("webhooks missing after an outage".into())
    );
    assert_eq!(
        reason_of("reconcile.requested"),
        Some("deals missing since Monday".into())
    );
}

#[tokio::test]
async fn actions_answer_404_for_unknown_tenants_and_change_nothing() {
    let app = spawn_app().await;
    let tenant = demo_tenant(&app).await;
    let (client, csrf) = operator(&app).await;
    let why = [("csrf", csrf.as_str()), ("reason", "wrong tenant")];
    for action in [
        "pause",
        "resume",
        "webhooks/check",
        "reconcile",
        "tokens/refresh",
    ] {
        for id in [TenantId::new().to_string(), "not-a-tenant".to_string()] {
            let path = format!("/console/tenants/{id}/{action}");
            assert_eq!(
                act(&app, &client, &path, &why).await.status(),
                404,
                "{path}"
            );
        }
    }
    assert_eq!(status(&app, tenant.id).await, TenantStatus::Active);
    let log = app.store.audit_log(Some(tenant.id), 20).await.unwrap();
    assert!(
        log.iter().all(|e| e.detail["reason"] != "wrong tenant"),
        "{log:?}"
    );
}

/// A signed event for the event API, as a customer's system sends it; returns the answer's status
/// and body.
async fn send_event(app: &TestApp, tenant: TenantId, secret: &SecretString) -> (u16, String) {
    let body = br#"{"type":"signup","timestamp":"2026-05-28T20:26:00Z","data":{"user_id":"u_42","email":"ada@example.com"}}"#;
    let now = Utc::now().timestamp();
    let signature = dealbridge_events::event_api::sign(secret, "msg_paused", now, body).unwrap();
    let answer = app
        .client
        .post(format!("{}/api/v1/events", app.address))
        .header("content-type", "application/json")
        .header("dealbridge-tenant", tenant.to_string())
        .header("webhook-id", "msg_paused")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[tokio::test]
async fn a_paused_tenants_events_are_still_recorded() {
    let app = spawn_app().await;
    let tenant = demo_tenant(&app).await;
    let dashboard = app.get("/dashboard").await.text().await.unwrap();
    let created = app
        .client
        .post(format!("{}/dashboard/event-api/secrets", app.address))
        .form(&[("csrf", csrf_in(&dashboard))])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The secret as the page shows it (Tera writes `/` in base64 as an entity).
    let start = created.find("whsec_").unwrap();
    let end = created[start..].find('<').unwrap();
    let secret = SecretString::from(created[start..start + end].replace("&#x2F;", "/"));

    let (client, csrf) = operator(&app).await;
    let why = [("csrf", csrf.as_str()), ("reason", "checking events")];
    let path = format!("/console/tenants/{}/pause", tenant.id);
    assert_eq!(act(&app, &client, &path, &why).await.status(), 303);

    let (status, body) = send_event(&app, tenant.id, &secret).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"recorded\""), "{body}");
}

#[tokio::test]
async fn a_forced_token_refresh_refreshes_the_tenants_installation_and_is_audited() {
    let app = spawn_app().await;
    let tenant = demo_tenant(&app).await;
    let (client, csrf) = operator(&app).await;
    let path = format!("/console/tenants/{}/tokens/refresh", tenant.id);
    let tenant_page = page(&app, &client, &format!("/console/tenants/{}", tenant.id)).await;
    assert!(
        tenant_page.contains("Force a token refresh"),
        "{tenant_page}"
    );

    let no_reason = act(&app, &client, &path, &[("csrf", &csrf)]).await;
    assert_eq!(no_reason.status(), 400, "a reason is required");
    let why = [("csrf", csrf.as_str()), ("reason", "customer sees 401s")];
    let refreshed = act(&app, &client, &path, &why).await;
    assert_eq!(refreshed.status(), 303);
    let log = app.store.audit_log(Some(tenant.id), 10).await.unwrap();
    let entry = log
        .iter()
        .find(|e| e.action == "tokens.refresh_forced")
        .expect("the refresh is audited");
    assert_eq!(entry.actor, format!("staff:{OPERATOR}"));
    assert_eq!(entry.detail["reason"], "customer sees 401s");
    assert_eq!(entry.detail["refreshed"], 1, "{entry:?}");
    assert_eq!(entry.detail["failed"], 0, "{entry:?}");
    let detail = entry.detail.to_string();
    assert!(
        !detail.contains("token\":\""),
        "no token in the log: {detail}"
    );
}

#[tokio::test]
async fn a_token_refresh_without_an_oauth_installation_is_a_clear_conflict() {
    let app = spawn_app().await;
    let bare = app
        .store
        .upsert_tenant(&dealbridge_core::tenant::NewTenant {
            company_id: CompanyId::new(990_077),
            company_name: "No Install Co".into(),
            company_domain: "noinstall".into(),
        })
        .await
        .unwrap();
    let (client, csrf) = operator(&app).await;
    let why = [("csrf", csrf.as_str()), ("reason", "try it")];
    let path = format!("/console/tenants/{}/tokens/refresh", bare.id);
    let answer = act(&app, &client, &path, &why).await;
    assert_eq!(answer.status(), 409);
    let body = answer.text().await.unwrap();
    assert!(body.contains("no active OAuth installation"), "{body}");
    assert!(app
        .store
        .audit_log(Some(bare.id), 5)
        .await
        .unwrap()
        .is_empty());
}

//! Console roles: viewers read and are refused every action; operators act; adding, re-roling and
//! removing accounts is audited.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

use std::path::Path;

use dealbridge_core::tenant::NewTenant;
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_storage::{JobId, JobState, Lane, StaffRole};
use dealbridge_web::StaffAccountError;
use helpers::{browser, records, spawn_app, TestApp};
use secrecy::SecretString;

const PASSWORD: &str = "a long enough password";

/// Every console POST route that acts, with `{id}` and `{job_id}` placeholders.
/// `every_console_post_route_is_listed` keeps this list complete.
const ACTIONS: &[&str] = &[
    "/tenants/{id}/jobs/{job_id}/retry",
    "/jobs/{job_id}/retry",
    "/tenants/{id}/pause",
    "/tenants/{id}/resume",
    "/tenants/{id}/webhooks/check",
    "/tenants/{id}/reconcile",
    "/tenants/{id}/tokens/refresh",
];
/// Console POST routes any signed-in engineer may use, whatever the role.
const OPEN_TO_ALL: &[&str] = &["/login", "/logout"];

fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has a CSRF token")
        .to_string()
}

async fn add(app: &TestApp, email: &str, role: StaffRole) {
    let password = SecretString::from(PASSWORD);
    dealbridge_web::add_staff_account(app.store.as_ref(), email, password, role, "cli:test")
        .await
        .unwrap();
}

/// A browser signed in to the console as `email`, and its form token.
async fn signed_in(app: &TestApp, email: &str) -> (reqwest::Client, String) {
    let client = browser();
    let login = client
        .get(format!("{}/console/login", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer = client
        .post(format!("{}/console/login", app.address))
        .form(&[
            ("csrf", csrf_in(&login).as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{email} signs in");
    let page = get(app, &client, "/console").await;
    assert_eq!(page.status(), 200);
    let csrf = csrf_in(&page.text().await.unwrap());
    (client, csrf)
}

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> reqwest::Response {
    client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap()
}

async fn post(app: &TestApp, client: &reqwest::Client, path: &str, csrf: &str) -> u16 {
    client
        .post(format!("{}{path}", app.address))
        .form(&[("csrf", csrf), ("reason", "testing roles")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A job of `tenant` (or a system job) that failed for good.
async fn dead_job(app: &TestApp, tenant: Option<TenantId>) -> JobId {
    records::dead_job_in(app, tenant, Lane::Default, "deal.sync", "boom")
        .await
        .unwrap()
}

async fn state_of(app: &TestApp, tenant: Option<TenantId>, id: JobId) -> JobState {
    app.store.job(tenant, id).await.unwrap().unwrap().state
}

/// The console's POST routes as the route files declare them (`.route("PATH", web::post()...`).
fn declared_console_posts() -> Vec<String> {
    let routes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/src/routes");
    let mut posts = Vec::new();
    for entry in std::fs::read_dir(routes).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("console") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        // `cargo fmt` may put the path on the next line: whitespace after `(` is skipped.
        for piece in source.split(".route(").skip(1) {
            let Some(quoted) = piece.trim_start().strip_prefix('"') else {
                continue;
            };
            let (route, rest) = quoted.split_once('"').unwrap();
            if rest
                .trim_start_matches(',')
                .trim_start()
                .starts_with("web::post()")
            {
                posts.push(route.to_string());
            }
        }
    }
    posts.sort();
    posts
}

#[test]
fn every_console_post_route_is_listed() {
    let declared = declared_console_posts();
    assert!(declared.len() >= 3, "the scan finds routes: {declared:?}");
    let mut listed: Vec<String> = ACTIONS
        .iter()
        .chain(OPEN_TO_ALL)
        .map(|s| s.to_string())
        .collect();
    listed.sort();
    assert_eq!(
        declared, listed,
        "a console POST route was added: list it under ACTIONS (and test it) or OPEN_TO_ALL"
    );
}

#[tokio::test]
async fn a_viewer_reads_the_console_but_every_action_is_refused() {
    let app = spawn_app().await;
    let tenant = app
        .store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(990_002),
            company_name: "Viewed Co".into(),
            company_domain: "viewed".into(),
        })
        .await
        .unwrap();
    let tenant_job = dead_job(&app, Some(tenant.id)).await;
    let system_job = dead_job(&app, None).await;
    add(&app, "vera@dealbridge.test", StaffRole::Viewer).await;
    let (viewer, csrf) = signed_in(&app, "vera@dealbridge.test").await;

    let page = get(&app, &viewer, &format!("/console/tenants/{}", tenant.id)).await;
    assert_eq!(page.status(), 200, "viewers read tenants");
    let html = page.text().await.unwrap();
    assert!(html.contains("(viewer)"), "the role is shown: {html}");
    assert!(html.contains(&tenant_job.to_string()), "{html}");
    assert!(
        !html.contains("/retry"),
        "no button the server would refuse"
    );
    assert_eq!(
        html.matches("method=\"post\"").count(),
        1,
        "no form but signing out: {html}"
    );
    assert_eq!(get(&app, &viewer, "/console/jobs/dead").await.status(), 200);
    assert_eq!(get(&app, &viewer, "/console/audit").await.status(), 200);

    let fill = |route: &str| {
        format!(
            "/console{}",
            route
                .replace("{id}", &tenant.id.to_string())
                .replace("{job_id}", &tenant_job.to_string())
        )
    };
    for route in ACTIONS {
        // With a valid form token: the role is what refuses.
        assert_eq!(
            post(&app, &viewer, &fill(route), &csrf).await,
            403,
            "{route}"
        );
    }
    let system_retry = format!("/console/jobs/{system_job}/retry");
    assert_eq!(post(&app, &viewer, &system_retry, &csrf).await, 403);
    assert_eq!(
        state_of(&app, Some(tenant.id), tenant_job).await,
        JobState::Dead
    );
    assert_eq!(state_of(&app, None, system_job).await, JobState::Dead);
    let status = app.store.tenant(tenant.id).await.unwrap().unwrap().status;
    assert_eq!(status.as_str(), "active", "not paused by a viewer");
    assert!(
        app.store
            .audit_log(Some(tenant.id), 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing was done, so nothing is audited"
    );

    // Promoted, the same session acts from its next request on.
    let before = dealbridge_web::change_staff_role(
        app.store.as_ref(),
        "vera@dealbridge.test",
        StaffRole::Operator,
        "cli:test",
    )
    .await
    .unwrap();
    assert_eq!(before, StaffRole::Viewer);
    assert_eq!(post(&app, &viewer, &fill(ACTIONS[0]), &csrf).await, 303);
    assert_eq!(
        state_of(&app, Some(tenant.id), tenant_job).await,
        JobState::Queued
    );
    assert_eq!(post(&app, &viewer, &system_retry, &csrf).await, 303);
    assert_eq!(state_of(&app, None, system_job).await, JobState::Queued);

    // Demoted again, and signing out stays open to a viewer.
    dealbridge_web::change_staff_role(
        app.store.as_ref(),
        "vera@dealbridge.test",
        StaffRole::Viewer,
        "cli:test",
    )
    .await
    .unwrap();
    assert_eq!(post(&app, &viewer, &fill(ACTIONS[0]), &csrf).await, 403);
    assert_eq!(post(&app, &viewer, "/console/logout", &csrf).await, 303);
    assert_eq!(
        get(&app, &viewer, "/console").await.status(),
        303,
        "signed out"
    );
}

#[tokio::test]
async fn adding_re_roling_and_removing_accounts_is_audited() {
    let app = spawn_app().await;
    add(&app, "Ada@Dealbridge.Test", StaffRole::Viewer).await;
    let account = app
        .store
        .staff_account_by_email("ada@dealbridge.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.role, StaffRole::Viewer);

    let same = dealbridge_web::change_staff_role(
        app.store.as_ref(),
        "ada@dealbridge.test",
        StaffRole::Viewer,
        "cli:ops",
    )
    .await
    .unwrap();
    assert_eq!(same, StaffRole::Viewer, "no change");
    dealbridge_web::change_staff_role(
        app.store.as_ref(),
        " ADA@dealbridge.test",
        StaffRole::Operator,
        "cli:ops",
    )
    .await
    .unwrap();
    dealbridge_web::remove_staff_account(app.store.as_ref(), "ada@dealbridge.test", "cli:ops")
        .await
        .unwrap();

    // Newest first; staff accounts belong to no tenant. The offline first run's account may be
    // there too, so only Ada's entries are compared.
    let log = app.store.audit_log(None, 20).await.unwrap();
    let ada: Vec<_> = log
        .iter()
        .filter(|e| e.detail["email"] == "ada@dealbridge.test")
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.detail.clone()))
        .collect();
    assert_eq!(
        ada,
        vec![
            (
                "staff.removed",
                "cli:ops",
                serde_json::json!({ "email": "ada@dealbridge.test" })
            ),
            (
                "staff.role_changed",
                "cli:ops",
                serde_json::json!({
                    "email": "ada@dealbridge.test", "from": "viewer", "to": "operator"
                })
            ),
            (
                "staff.added",
                "cli:test",
                serde_json::json!({ "email": "ada@dealbridge.test", "role": "viewer" })
            ),
        ]
    );

    let gone =
        dealbridge_web::remove_staff_account(app.store.as_ref(), "ada@dealbridge.test", "x").await;
    assert!(
        matches!(gone, Err(StaffAccountError::Unknown(_))),
        "{gone:?}"
    );
    let unknown = dealbridge_web::change_staff_role(
        app.store.as_ref(),
        "nobody@dealbridge.test",
        StaffRole::Viewer,
        "x",
    )
    .await;
    assert!(
        matches!(unknown, Err(StaffAccountError::Unknown(_))),
        "{unknown:?}"
    );
    let bad =
        dealbridge_web::change_staff_role(app.store.as_ref(), "nope", StaffRole::Viewer, "x").await;
    assert!(
        matches!(bad, Err(StaffAccountError::BadEmail(_))),
        "{bad:?}"
    );
    assert_eq!(
        app.store.audit_log(None, 20).await.unwrap().len(),
        log.len(),
        "refused changes write nothing"
    );
}

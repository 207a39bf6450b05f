//! The support console end to end (sign-in, throttling, tenants, dead-job retries) and the
//! dashboard's failed jobs, against the embedded sandbox.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

use chrono::Utc;
use dealbridge_app::console_bootstrap::{FIRST_ACCOUNT, PASSWORD_FILE};
use dealbridge_app::pipedrive_setup::SANDBOX_CLIENT_ID;
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_storage::{JobId, JobState, Lane, NewJob};
use helpers::{browser, records, spawn_app, TestApp};
use secrecy::SecretString;

fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has a CSRF token")
        .to_string()
}

fn offline_password(app: &TestApp) -> String {
    std::fs::read_to_string(app.data_path().join(PASSWORD_FILE))
        .expect("the first run wrote the console password")
        .trim()
        .to_string()
}

async fn post(
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

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> reqwest::Response {
    client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap()
}

/// Signs `client` in to the console; returns the sign-in's answer.
async fn sign_in(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let page = get(app, client, "/console/login")
        .await
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&page);
    post(
        app,
        client,
        "/console/login",
        &[("csrf", &csrf), ("email", email), ("password", password)],
    )
    .await
}

/// A browser signed in to the console as the offline first account, and its form token.
async fn staff_browser(app: &TestApp) -> (reqwest::Client, String) {
    let client = browser();
    let answer = sign_in(app, &client, FIRST_ACCOUNT, &offline_password(app)).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/console");
    let page = get(app, &client, "/console").await.text().await.unwrap();
    (client, csrf_in(&page))
}

/// Installs the sandbox's demo company through the app's own browser (which is then signed in to
/// its dashboard).
async fn install_demo(app: &TestApp) -> Tenant {
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
    app.store
        .tenant_by_company(CompanyId::new(company.id as i64))
        .await
        .unwrap()
        .unwrap()
}

/// A job of `tenant` that failed its only attempt.
async fn dead_job(app: &TestApp, tenant: TenantId, error: &str) -> JobId {
    let id = records::dead_job_in(app, Some(tenant), Lane::Default, "deal.sync", error)
        .await
        .unwrap();
    assert_eq!(state_of(app, tenant, id).await, JobState::Dead);
    id
}

async fn state_of(app: &TestApp, tenant: TenantId, id: JobId) -> JobState {
    app.store
        .job(Some(tenant), id)
        .await
        .unwrap()
        .unwrap()
        .state
}

async fn other_tenant(app: &TestApp) -> Tenant {
    app.store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(990_001),
            company_name: "Other Co".into(),
            company_domain: "other".into(),
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn the_console_sends_strangers_to_its_sign_in_page() {
    let app = spawn_app().await;
    let tenant = TenantId::new();
    let job = uuid::Uuid::now_v7();
    for path in [
        "/console",
        &format!("/console/tenants/{tenant}"),
        "/console/jobs/dead",
        "/console/audit",
    ] {
        let answer = get(&app, &browser(), path).await;
        assert_eq!(answer.status(), 303, "{path}");
        assert_eq!(answer.headers()["location"], "/console/login", "{path}");
    }
    let retry = post(
        &app,
        &browser(),
        &format!("/console/tenants/{tenant}/jobs/{job}/retry"),
        &[("csrf", "x")],
    )
    .await;
    assert_eq!(retry.status(), 303);
    assert_eq!(retry.headers()["location"], "/console/login");
    let login = get(&app, &browser(), "/console/login").await;
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    assert!(
        html.contains(PASSWORD_FILE),
        "offline runs say where the password is"
    );
    assert!(
        !html.contains(&offline_password(&app)),
        "the password itself is never shown"
    );
}

#[tokio::test]
async fn the_offline_first_run_creates_an_account_with_a_private_password_file() {
    let app = spawn_app().await;
    let path = app.data_path().join(PASSWORD_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by the owner only");
    }
    assert!(offline_password(&app).len() >= 12);
    let account = app
        .store
        .staff_account_by_email(FIRST_ACCOUNT)
        .await
        .unwrap()
        .expect("the first account exists");
    assert!(account.password_hash.starts_with("$argon2id$"));
    assert!(!account.password_hash.contains(&offline_password(&app)));
}

#[tokio::test]
async fn wrong_passwords_are_refused_audited_and_throttled() {
    let app = spawn_app().await;
    let client = browser();
    let wrong = sign_in(&app, &client, FIRST_ACCOUNT, "not-the-password-123").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("Wrong email, password or two-step code."));
    assert_eq!(
        get(&app, &client, "/console").await.status(),
        303,
        "not signed in"
    );

    let unknown = sign_in(&app, &client, "nobody@dealbridge.test", "whatever-password").await;
    assert_eq!(unknown.status(), 401, "an unknown email reads the same");
    assert!(unknown
        .text()
        .await
        .unwrap()
        .contains("Wrong email, password or two-step code."));

    let log = app.store.audit_log(None, 20).await.unwrap();
    let failures: Vec<_> = log
        .iter()
        .filter(|e| e.action == "console.login_failed")
        .collect();
    assert_eq!(failures.len(), 2, "{log:?}");
    assert_eq!(failures[1].detail["email"], FIRST_ACCOUNT);
    assert!(
        !log.iter()
            .any(|e| e.detail.to_string().contains("not-the-password-123")),
        "a tried password reached the audit log"
    );

    for _ in 0..4 {
        sign_in(&app, &client, FIRST_ACCOUNT, "still-not-the-password").await;
    }
    let throttled = sign_in(&app, &client, FIRST_ACCOUNT, &offline_password(&app)).await;
    assert_eq!(
        throttled.status(),
        429,
        "five failures lock the account for a while"
    );
    assert!(throttled
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));
    assert_eq!(get(&app, &client, "/console").await.status(), 303);
}

#[tokio::test]
async fn a_staff_account_added_like_the_cli_signs_in_and_out() {
    let app = spawn_app().await;
    let short = dealbridge_app_staff_add(&app, "Ada@Dealbridge.Test", "too-short").await;
    assert!(short.is_err(), "short passwords are refused");
    dealbridge_app_staff_add(&app, "Ada@Dealbridge.Test", "a long enough password")
        .await
        .unwrap();
    let again =
        dealbridge_app_staff_add(&app, "ada@dealbridge.test", "another long password").await;
    assert!(again.is_err(), "one account per email");

    let client = browser();
    let answer = sign_in(
        &app,
        &client,
        " ADA@dealbridge.test",
        "a long enough password",
    )
    .await;
    assert_eq!(answer.status(), 303);
    let page = get(&app, &client, "/console").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("ada@dealbridge.test"));
    let account = app
        .store
        .staff_account_by_email("ada@dealbridge.test")
        .await
        .unwrap()
        .unwrap();
    assert!(account.last_login_at.is_some(), "the sign-in time is kept");

    let forged = post(&app, &client, "/console/logout", &[("csrf", "guess")]).await;
    assert_eq!(forged.status(), 403);
    let out = post(
        &app,
        &client,
        "/console/logout",
        &[("csrf", &csrf_in(&html))],
    )
    .await;
    assert_eq!(out.status(), 303);
    assert_eq!(
        get(&app, &client, "/console").await.status(),
        303,
        "signed out"
    );
}

async fn dealbridge_app_staff_add(
    app: &TestApp,
    email: &str,
    password: &str,
) -> Result<(), dealbridge_web::StaffAccountError> {
    dealbridge_web::add_staff_account(
        app.store.as_ref(),
        email,
        SecretString::from(password),
        dealbridge_storage::StaffRole::Operator,
        "test",
    )
    .await
    .map(|_| ())
}

#[tokio::test]
async fn the_console_lists_installed_tenants_and_shows_one() {
    let app = spawn_app().await;
    let tenant = install_demo(&app).await;
    other_tenant(&app).await;
    dead_job(&app, tenant.id, "Pipedrive said 400: bad field").await;
    let (client, _) = staff_browser(&app).await;

    let list = get(&app, &client, "/console").await.text().await.unwrap();
    assert!(list.contains("Demo Company"), "{list}");
    assert!(list.contains("Other Co"), "{list}");
    assert!(
        list.contains(&format!("/console/tenants/{}", tenant.id)),
        "{list}"
    );
    assert!(list.contains("1 dead"), "{list}");
    assert!(
        list.contains(
            r#"<td>default</td><td>0</td><td>0</td><td><a href="/console/jobs/dead">1</a></td>"#
        ),
        "queue overview: {list}"
    );
    let searched = get(&app, &client, "/console?q=other")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        searched.contains("Other Co") && !searched.contains("Demo Company"),
        "{searched}"
    );

    app.store
        .record_field(
            tenant.id,
            dealbridge_core::fields::FieldPurpose::DealOrderStatus,
            dealbridge_core::fields::FieldEntity::Deal,
            "f00dcafe",
        )
        .await
        .unwrap();
    let page = get(&app, &client, &format!("/console/tenants/{}", tenant.id)).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    for expected in [
        "Demo Company",
        "Pipedrive said 400: bad field",
        "API budget today",
        "install",
        "Order status",
        "f00dcafe",
    ] {
        assert!(html.contains(expected), "missing {expected:?}: {html}");
    }
    let unknown = get(
        &app,
        &client,
        &format!("/console/tenants/{}", TenantId::new()),
    )
    .await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn the_console_retries_a_dead_job_of_the_tenant_in_its_path_only() {
    let app = spawn_app().await;
    let tenant = install_demo(&app).await;
    let other = other_tenant(&app).await;
    let job = dead_job(&app, tenant.id, "boom").await;
    let foreign = dead_job(&app, other.id, "elsewhere").await;
    let (client, csrf) = staff_browser(&app).await;

    let missing = post(
        &app,
        &client,
        &format!("/console/tenants/{}/jobs/{job}/retry", tenant.id),
        &[],
    )
    .await;
    assert_eq!(missing.status(), 403, "no CSRF token");
    let dashboard_token = csrf_in(&app.get("/dashboard").await.text().await.unwrap());
    let borrowed = post(
        &app,
        &client,
        &format!("/console/tenants/{}/jobs/{job}/retry", tenant.id),
        &[("csrf", &dashboard_token)],
    )
    .await;
    assert_eq!(
        borrowed.status(),
        403,
        "the dashboard's token is not the console's"
    );
    assert_eq!(state_of(&app, tenant.id, job).await, JobState::Dead);

    let cross = post(
        &app,
        &client,
        &format!("/console/tenants/{}/jobs/{foreign}/retry", tenant.id),
        &[("csrf", &csrf), ("reason", "wrong tenant")],
    )
    .await;
    assert_eq!(
        cross.status(),
        404,
        "another tenant's job through this tenant's path"
    );
    assert_eq!(state_of(&app, other.id, foreign).await, JobState::Dead);

    let no_reason = post(
        &app,
        &client,
        &format!("/console/tenants/{}/jobs/{job}/retry", tenant.id),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(no_reason.status(), 400, "the console says why it retries");
    assert_eq!(state_of(&app, tenant.id, job).await, JobState::Dead);
    let done = post(
        &app,
        &client,
        &format!("/console/tenants/{}/jobs/{job}/retry", tenant.id),
        &[("csrf", &csrf), ("reason", "Pipedrive fixed the field")],
    )
    .await;
    assert_eq!(done.status(), 303);
    assert_eq!(state_of(&app, tenant.id, job).await, JobState::Queued);
    let log = app.store.audit_log(Some(tenant.id), 10).await.unwrap();
    assert_eq!(log[0].action, "job.retry");
    assert_eq!(log[0].actor, format!("staff:{FIRST_ACCOUNT}"));
    assert_eq!(log[0].detail["job_id"], job.to_string());
    assert_eq!(log[0].detail["reason"], "Pipedrive fixed the field");

    let twice = post(
        &app,
        &client,
        &format!("/console/tenants/{}/jobs/{job}/retry", tenant.id),
        &[("csrf", &csrf), ("reason", "again")],
    )
    .await;
    assert_eq!(twice.status(), 404, "only dead jobs can be retried");
}

#[tokio::test]
async fn the_console_retries_dead_system_jobs() {
    let app = spawn_app().await;
    let id = records::dead_job_in(&app, None, Lane::Default, "tokens.sweep", "sweep failed")
        .await
        .unwrap();
    let (client, csrf) = staff_browser(&app).await;
    let page = get(&app, &client, "/console/jobs/dead")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("sweep failed"), "{page}");
    let done = post(
        &app,
        &client,
        &format!("/console/jobs/{id}/retry"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(done.status(), 400, "a reason is required");
    let done = post(
        &app,
        &client,
        &format!("/console/jobs/{id}/retry"),
        &[("csrf", &csrf), ("reason", "sweep bug fixed")],
    )
    .await;
    assert_eq!(done.status(), 303);
    let log = app.store.audit_log(None, 5).await.unwrap();
    assert_eq!(log[0].action, "job.retry");
    assert_eq!(log[0].detail["reason"], "sweep bug fixed");
    let job = app.store.job(None, id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Queued);
}

#[tokio::test]
async fn the_dashboard_shows_and_retries_its_own_dead_jobs_only() {
    let app = spawn_app().await;
    let tenant = install_demo(&app).await;
    let other = other_tenant(&app).await;
    let job = dead_job(&app, tenant.id, "Pipedrive said 400: bad field").await;
    let foreign = dead_job(&app, other.id, "elsewhere").await;

    let html = app.get("/dashboard").await.text().await.unwrap();
    assert!(html.contains("Pipedrive said 400: bad field"), "{html}");
    assert!(html.contains("API budget today"), "{html}");
    assert!(!html.contains("elsewhere"), "another tenant's job shows");
    let csrf = csrf_in(&html);

    let missing = post(
        &app,
        &app.client,
        &format!("/dashboard/jobs/{job}/retry"),
        &[],
    )
    .await;
    assert_eq!(missing.status(), 403, "no CSRF token");
    let cross = post(
        &app,
        &app.client,
        &format!("/dashboard/jobs/{foreign}/retry"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(cross.status(), 404);
    assert_eq!(state_of(&app, other.id, foreign).await, JobState::Dead);
    let stranger = post(
        &app,
        &browser(),
        &format!("/dashboard/jobs/{job}/retry"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(stranger.status(), 401);

    let done = post(
        &app,
        &app.client,
        &format!("/dashboard/jobs/{job}/retry"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "/dashboard");
    assert_eq!(state_of(&app, tenant.id, job).await, JobState::Queued);
    let log = app.store.audit_log(Some(tenant.id), 5).await.unwrap();
    assert_eq!(log[0].action, "job.retry");
    assert!(
        log[0].actor.starts_with("pipedrive_user:"),
        "{}",
        log[0].actor
    );
}

#[tokio::test]
async fn the_dashboard_counts_jobs_waiting_for_a_reconnect() {
    let app = spawn_app().await;
    let tenant = install_demo(&app).await;
    for n in 0..2 {
        app.store
            .enqueue(&NewJob::new("deal.sync", serde_json::json!({ "n": n })).tenant(tenant.id))
            .await
            .unwrap();
    }
    let installation = app.store.installations(tenant.id).await.unwrap().remove(0);
    app.store
        .set_installation_status(
            tenant.id,
            installation.user_id,
            dealbridge_core::installation::InstallationStatus::NeedsReauth,
        )
        .await
        .unwrap();
    let queued = app.store.job_counts(Some(tenant.id)).await.unwrap().queued;
    assert_eq!(queued, 3, "the two above and the post-install job");
    let html = app.get("/dashboard").await.text().await.unwrap();
    assert!(
        html.contains("3 jobs are waiting until you reconnect"),
        "{html}"
    );
}

#[tokio::test]
async fn the_tenants_list_filters_by_state_and_shows_errors_and_budget() {
    let app = spawn_app().await;
    let demo = install_demo(&app).await;
    let other = other_tenant(&app).await;
    app.store
        .set_tenant_status(other.id, dealbridge_core::tenant::TenantStatus::Paused)
        .await
        .unwrap();
    dead_job(&app, demo.id, "boom").await;
    let (client, _) = staff_browser(&app).await;

    let all = get(&app, &client, "/console").await.text().await.unwrap();
    for expected in [
        "Demo Company",
        "Other Co",
        "1 failed",
        "Errors (24 h)",
        "API budget today",
    ] {
        assert!(all.contains(expected), "missing {expected:?}: {all}");
    }
    let paused = get(&app, &client, "/console?state=paused")
        .await
        .text()
        .await
        .unwrap();
    assert!(paused.contains("Other Co"), "{paused}");
    assert!(!paused.contains("Demo Company"), "{paused}");
    assert!(paused.contains("aria-current=\"page\">Paused"), "{paused}");
    let active = get(&app, &client, "/console?state=active")
        .await
        .text()
        .await
        .unwrap();
    assert!(active.contains("Demo Company"), "{active}");
    assert!(!active.contains("Other Co"), "{active}");
    let none = get(&app, &client, "/console?state=uninstalled")
        .await
        .text()
        .await
        .unwrap();
    assert!(none.contains("No tenants in this state"), "{none}");
    let searched = get(&app, &client, "/console?state=paused&q=other%20co")
        .await
        .text()
        .await
        .unwrap();
    assert!(searched.contains("Other Co"), "{searched}");
    assert!(
        searched.contains("/console?state=active&amp;q=other+co"),
        "the filter links keep the search: {searched}"
    );
    let bad = get(&app, &client, "/console?state=sleeping").await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("needs-reauth"));
    for secret in ["access_token", "refresh_token", "whsec_"] {
        assert!(!all.contains(secret), "{secret} on the list");
    }
}

#[tokio::test]
async fn the_audit_page_filters_and_pages_by_id() {
    let app = spawn_app().await;
    let demo = install_demo(&app).await;
    let other = other_tenant(&app).await;
    let write = |tenant: Option<TenantId>, actor: &str, action: String| {
        let store = app.store.clone();
        let actor = actor.to_string();
        async move {
            store
                .append_audit(&dealbridge_core::audit::NewAuditEntry {
                    tenant_id: tenant,
                    actor,
                    action,
                    detail: serde_json::json!({ "reason": "audit page test" }),
                })
                .await
                .unwrap();
        }
    };
    for n in 0..55 {
        write(
            Some(demo.id),
            "staff:pat@dealbridge.test",
            format!("probe.{n:02}"),
        )
        .await;
    }
    write(
        Some(other.id),
        "staff:quinn@dealbridge.test",
        "tenant.paused".into(),
    )
    .await;
    let (client, _) = staff_browser(&app).await;

    let first = get(&app, &client, "/console/audit").await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    assert!(first.contains("tenant.paused"), "newest first: {first}");
    let probes = |html: &str| -> Vec<u32> {
        html.split("<td>probe.")
            .skip(1)
            .map(|rest| rest[..2].parse().unwrap())
            .collect()
    };
    let on_first = probes(&first);
    assert!(
        on_first.len() < 55 && on_first.contains(&54),
        "one page of 50: {on_first:?}"
    );
    let older = first
        .split("before=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to older entries");
    let second = get(&app, &client, &format!("/console/audit?before={older}"))
        .await
        .text()
        .await
        .unwrap();
    let on_second = probes(&second);
    let mut both: Vec<u32> = on_first.iter().chain(&on_second).copied().collect();
    both.sort_unstable();
    assert_eq!(
        both,
        (0..55).collect::<Vec<_>>(),
        "every entry once, newest first"
    );
    assert!(on_second.contains(&0), "{second}");
    let by_actor = get(
        &app,
        &client,
        "/console/audit?actor=staff%3Aquinn%40dealbridge.test",
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(by_actor.contains("tenant.paused"), "{by_actor}");
    assert!(!by_actor.contains("probe."), "{by_actor}");
    let by_tenant = get(
        &app,
        &client,
        &format!("/console/audit?tenant={}&action=probe.1", demo.id),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        by_tenant.contains("probe.10") && by_tenant.contains("probe.19"),
        "{by_tenant}"
    );
    assert!(
        !by_tenant.contains("probe.20") && !by_tenant.contains("tenant.paused"),
        "{by_tenant}"
    );
    let today = Utc::now().date_naive();
    let dated = get(
        &app,
        &client,
        &format!("/console/audit?from={today}&to={today}&action=tenant."),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(dated.contains("tenant.paused"), "{dated}");
    let yesterday = today.pred_opt().unwrap();
    let past = get(&app, &client, &format!("/console/audit?to={yesterday}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(past.contains("No entries"), "{past}");
    assert_eq!(
        get(&app, &client, "/console/audit?from=yesterday")
            .await
            .status(),
        400
    );
    assert_eq!(
        get(&app, &client, "/console/audit?tenant=nope")
            .await
            .status(),
        400
    );
}

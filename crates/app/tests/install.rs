//! Install, sign-in, uninstall and disconnect end to end, against the embedded sandbox.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

use dealbridge_app::pipedrive_setup::SANDBOX_CLIENT_ID;
use dealbridge_core::fields::{FieldEntity, FieldPurpose};
use dealbridge_core::installation::InstallationStatus;
use dealbridge_core::tenant::TenantStatus;
use dealbridge_core::{CompanyId, UserId};
use helpers::{browser, spawn_app, TestApp};
use secrecy::ExposeSecret;

struct Installed {
    company_id: u64,
    user_id: u64,
    callback: String,
}

fn demo_company(app: &TestApp) -> (u64, u64) {
    let sandbox = app.sandbox.as_ref().expect("sandbox mode");
    let company = sandbox
        .control
        .companies()
        .into_iter()
        .find(|c| c.domain == "demo")
        .expect("demo company registered at start-up");
    (company.id, company.user_ids[0])
}

/// Starts an install in `client`, approves it in the sandbox, and returns the callback URL the
/// browser is sent to (not yet visited).
async fn approve(app: &TestApp, client: &reqwest::Client) -> Installed {
    let start = client
        .get(format!("{}/install", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let location = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let sandbox = app.sandbox.as_ref().unwrap();
    assert!(location
        .as_str()
        .starts_with(&format!("{}/oauth/authorize", sandbox.base_url)));
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("authorize URL carries state");
    let (company_id, user_id) = demo_company(app);
    let callback = sandbox
        .control
        .approve_install(SANDBOX_CLIENT_ID, company_id, user_id, Some(&state))
        .unwrap();
    Installed {
        company_id,
        user_id,
        callback,
    }
}

async fn install(app: &TestApp) -> Installed {
    let installed = approve(app, &app.client).await;
    let back = app.client.get(&installed.callback).send().await.unwrap();
    assert_eq!(
        back.status(),
        303,
        "{}",
        back.text().await.unwrap_or_default()
    );
    assert_eq!(back.headers()["location"], "/dashboard");
    installed
}

#[tokio::test]
async fn install_signs_in_and_stores_only_ciphertext() {
    let app = spawn_app().await;
    let installed = install(&app).await;

    let dashboard = app.get("/dashboard").await;
    assert_eq!(dashboard.status(), 200);
    assert!(dashboard.text().await.unwrap().contains("Demo Company"));
    let stranger = browser()
        .get(format!("{}/dashboard", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 401, "the dashboard needs a session");

    let company = CompanyId::new(installed.company_id as i64);
    let tenant = app
        .store
        .tenant_by_company(company)
        .await
        .unwrap()
        .expect("tenant");
    assert_eq!(tenant.status, TenantStatus::Active);
    let user = UserId::new(installed.user_id as i64);
    let installation = app
        .store
        .installation(tenant.id, user)
        .await
        .unwrap()
        .expect("installation");
    assert_eq!(installation.status, InstallationStatus::Active);
    let sealed = installation.tokens.expect("tokens stored");
    let open = dealbridge_tokens::open(&app.keys, company, user, &sealed).expect("tokens open");
    for token in [
        open.access_token.expose_secret(),
        open.refresh_token.expose_secret(),
    ] {
        assert!(token.len() > 8, "the sandbox issued a real token");
        for column in [&sealed.access_token, &sealed.refresh_token] {
            assert!(
                !column.windows(token.len()).any(|w| w == token.as_bytes()),
                "a token is stored in clear"
            );
        }
    }
    // Offline, the demo store's connection follows the install in the log.
    let log = app.store.audit_log(Some(tenant.id), 10).await.unwrap();
    assert!(log.iter().any(|entry| entry.action == "install"), "{log:?}");
    let jobs = app.store.job_counts(Some(tenant.id)).await.unwrap();
    assert_eq!(
        jobs.queued, 1,
        "post-install work enqueued with the install"
    );

    // Every byte the app has on disk (the database, its write-ahead log and shared memory, and
    // anything else in its data folder), read while the app runs, so nothing is checkpointed away.
    let files = data_files(&app);
    let issued = app
        .sandbox
        .as_ref()
        .unwrap()
        .control
        .issued_tokens(installed.company_id);
    assert!(
        issued.len() >= 2,
        "the sandbox issued an access and a refresh token"
    );
    for token in [
        open.access_token.expose_secret(),
        open.refresh_token.expose_secret(),
    ] {
        assert!(
            issued.iter().any(|t| t == token),
            "the stored tokens are the issued ones"
        );
    }
    for (path, bytes) in &files {
        for token in &issued {
            assert!(
                !contains(bytes, token.as_bytes()),
                "a token issued by Pipedrive is in clear in {}",
                path.display()
            );
        }
    }
    // The scan sees what the install wrote: the company's name is stored in clear.
    assert!(
        files
            .iter()
            .any(|(_, bytes)| contains(bytes, b"Demo Company")),
        "the install's writes are not in the scanned files: {:?}",
        files.iter().map(|(p, b)| (p, b.len())).collect::<Vec<_>>()
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under the app's data folder, with its bytes.
fn data_files(app: &TestApp) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut folders = vec![app.data_path().to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path, bytes));
            }
        }
    }
    let names: Vec<_> = files
        .iter()
        .filter_map(|(p, _)| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    assert!(
        names.iter().any(|n| n == "dealbridge.db")
            && names.iter().any(|n| n == "dealbridge.db-wal"),
        "expected the SQLite file and its write-ahead log: {names:?}"
    );
    files
}

#[tokio::test]
async fn serve_provisions_the_custom_fields_after_install() {
    let app = helpers::spawn_app_with_workers().await;
    let installed = install(&app).await;
    let company = CompanyId::new(installed.company_id as i64);
    let tenant = app
        .store
        .tenant_by_company(company)
        .await
        .unwrap()
        .expect("tenant");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    // The job's last step is its audit entry, after the fields and the webhooks.
    let provisioned = |log: &[dealbridge_core::audit::AuditEntry]| {
        log.iter().any(|e| e.action == "install.provisioned")
    };
    loop {
        let fields = app.store.provisioned_fields(tenant.id).await.unwrap();
        let log = app.store.audit_log(Some(tenant.id), 10).await.unwrap();
        if fields.len() == dealbridge_core::fields::FieldPurpose::ALL.len() && provisioned(&log) {
            break;
        }
        let dead = app.store.dead_jobs(Some(tenant.id), 5).await.unwrap();
        assert!(
            dead.is_empty(),
            "provisioning failed: {:?}",
            dead[0].last_error
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "fields not provisioned: {fields:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let metrics = reqwest::get(format!("{}/metrics", app.metrics_address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let calls = metric(
        &metrics,
        "dealbridge_pipedrive_calls_total",
        installed.company_id,
    );
    let tokens = metric(
        &metrics,
        "dealbridge_pipedrive_tokens_spent_total",
        installed.company_id,
    );
    // Listing the deal fields and creating three of them, then listing and creating webhooks.
    assert!(calls >= 4.0, "calls {calls}: {metrics}");
    assert!(tokens > 0.0, "tokens {tokens}: {metrics}");
    assert!(
        metrics.contains(r#"dealbridge_jobs{lane="realtime",state="dead"} 0"#),
        "queue gauges missing: {metrics}"
    );
    assert_eq!(
        app.get("/metrics").await.status(),
        404,
        "metrics are not on the public address"
    );

    // Pipedrive's side: one creation per field, and each recorded code is a field there with the
    // name and type the app asked for.
    let control = &app.sandbox.as_ref().unwrap().control;
    let calls = control.calls(Some(installed.company_id));
    let created = calls
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/dealFields") && c.status < 300)
        .count();
    assert_eq!(
        created,
        FieldPurpose::ALL.len(),
        "field creations: {calls:?}"
    );
    for field in app.store.provisioned_fields(tenant.id).await.unwrap() {
        let spec = field.purpose.spec();
        let path = match spec.entity {
            FieldEntity::Deal => "dealFields",
        };
        let in_pipedrive = sandbox_fields(&app, installed.company_id, path).await;
        let found = in_pipedrive
            .iter()
            .find(|f| f["field_code"] == field.field_code.as_str())
            .unwrap_or_else(|| panic!("{} is not a field in Pipedrive", field.field_code));
        assert_eq!(found["field_name"], spec.name);
        assert_eq!(found["field_type"], spec.field_type);
    }

    let dashboard = app.get("/dashboard").await.text().await.unwrap();
    for field in app.store.provisioned_fields(tenant.id).await.unwrap() {
        assert!(
            dashboard.contains(&field.field_code) && dashboard.contains(field.purpose.spec().name),
            "{} not shown: {dashboard}",
            field.field_code
        );
    }
}

#[tokio::test]
async fn replayed_forged_and_foreign_states_are_refused() {
    let app = spawn_app().await;
    let installed = install(&app).await;
    let replay = app.client.get(&installed.callback).send().await.unwrap();
    assert_eq!(
        replay.status(),
        400,
        "a used callback link must not work twice"
    );

    // Started in one browser, finished in another: the state is bound to the first.
    let other = approve(&app, &browser()).await;
    let foreign = app.client.get(&other.callback).send().await.unwrap();
    assert_eq!(foreign.status(), 400);
    assert!(foreign.text().await.unwrap().contains("another browser"));

    let forged = app
        .client
        .get(format!(
            "{}/oauth/callback?code=abc&state=eyJhbGciOiJub25lIn0.e30.",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
}

#[tokio::test]
async fn a_marketplace_install_without_state_installs_but_does_not_sign_in() {
    let app = spawn_app().await;
    let (company_id, user_id) = demo_company(&app);
    let sandbox = app.sandbox.as_ref().unwrap();
    let callback = sandbox
        .control
        .approve_install(SANDBOX_CLIENT_ID, company_id, user_id, None)
        .unwrap();
    let client = browser();
    let page = client.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Open it from Pipedrive"));
    let dashboard = client
        .get(format!("{}/dashboard", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 401);
    let tenant = app
        .store
        .tenant_by_company(CompanyId::new(company_id as i64))
        .await
        .unwrap();
    assert!(tenant.is_some(), "the install itself completed");
}

#[tokio::test]
async fn denied_consent_and_bad_codes_end_on_a_retry_page_and_store_nothing() {
    let app = spawn_app().await;
    let denied = app.get("/oauth/callback?error=user_denied").await;
    assert_eq!(denied.status(), 400);
    assert!(denied.text().await.unwrap().contains("Install again"));

    let installed = approve(&app, &app.client).await;
    let mut url = url::Url::parse(&installed.callback).unwrap();
    let state: String = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    url.query_pairs_mut()
        .clear()
        .append_pair("code", "not-a-code")
        .append_pair("state", &state);
    let refused = app.client.get(url.as_str()).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("Install again"));
    let company = CompanyId::new(installed.company_id as i64);
    assert!(
        app.store
            .tenant_by_company(company)
            .await
            .unwrap()
            .is_none(),
        "half an install"
    );
}

/// The value of one company's sample of a counter in a Prometheus text page.
/// The company's custom fields as Pipedrive lists them, read with a token of the sandbox's own.
async fn sandbox_fields(app: &TestApp, company_id: u64, path: &str) -> Vec<serde_json::Value> {
    let control = &app.sandbox.as_ref().unwrap().control;
    let grant = control.mint_token(company_id, None, vec![]).unwrap();
    let page: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v2/{path}?limit=500", grant.api_domain))
        .bearer_auth(&grant.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no field list: {page}"))
        .iter()
        .filter(|f| f["is_custom_field"] == true)
        .cloned()
        .collect()
}

fn metric(page: &str, name: &str, company: u64) -> f64 {
    let prefix = format!("{name}{{company=\"{company}\"}} ");
    page.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?} in {page}"))
}

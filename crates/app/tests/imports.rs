//! CSV imports through the dashboard, end to end against the embedded sandbox: upload, mapping,
//! dry run, estimate, run by the app's workers, the failed rows' file; and the routes' tenant
//! scoping, CSRF and malformed files.

#![allow(clippy::unwrap_used)] // a failed unwrap in a helper is a failed test (rust-clippy#13981)

mod helpers;

use std::time::Duration;

use dealbridge_app::pipedrive_setup::SANDBOX_CLIENT_ID;
use dealbridge_core::event::PipedriveEntity;
use dealbridge_core::tenant::NewTenant;
use dealbridge_core::{CompanyId, TenantId, UserId};
use dealbridge_storage::{ImportKind, NewImport};
use helpers::{csrf_in, spawn_app_with_workers, TestApp};

/// Installs the demo company's admin through the sandbox's consent, signed in to the dashboard.
async fn install(app: &TestApp) -> (TenantId, u64) {
    let sandbox = app.sandbox.as_ref().unwrap();
    let start = app.get("/install").await;
    let location = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
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
    let tenant = app
        .store
        .tenant_by_company(CompanyId::new(i64::try_from(company.id).unwrap()))
        .await
        .unwrap()
        .unwrap();
    (tenant.id, company.id)
}

const BOUNDARY: &str = "dealbridge-test-boundary";

/// A multipart form as a browser sends it: the text fields in order, then the file.
fn multipart(fields: &[(&str, &str)], file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\nContent-Type: text/csv\r\n\r\n")
            .as_bytes(),
    );
    body.extend(file);
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(app: &TestApp, fields: &[(&str, &str)], file: &[u8]) -> reqwest::Response {
    app.client
        .post(format!("{}/dashboard/imports", app.address))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("accept", "text/html")
        .body(multipart(fields, file))
        .send()
        .await
        .unwrap()
}

async fn post_form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .form(fields)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_upload_is_mapped_checked_run_and_its_failures_downloaded() {
    let app = spawn_app_with_workers().await;
    let (tenant, company) = install(&app).await;
    let csrf = csrf_in(&app.get("/dashboard/imports").await.text().await.unwrap());
    let csv = b"\xEF\xBB\xBFFull name;E-mail\nAda Import;ada@import.test\n=HYPERLINK(\"x\");not-an-email\nBob Import;bob@import.test\n";
    let uploaded = upload(&app, &[("csrf", &csrf), ("kind", "persons")], csv).await;
    assert_eq!(uploaded.status(), 303, "{}", uploaded.text().await.unwrap());
    let page_path = uploaded.headers()["location"].to_str().unwrap().to_owned();
    let page = app.get(&page_path).await.text().await.unwrap();
    assert!(
        page.contains(r#"<option value="name" selected>"#),
        "name suggested: {page}"
    );
    assert!(
        page.contains(r#"<option value="email" selected>"#),
        "email suggested"
    );
    assert!(
        page.contains("is not an email address"),
        "the preview shows the row's problem"
    );

    let checked = post_form(
        &app,
        &format!("{page_path}/mapping"),
        &[
            ("csrf", &csrf),
            ("col_0", "name"),
            ("col_1", "email"),
            ("policy", "skip"),
        ],
    )
    .await;
    let checked = checked.text().await.unwrap();
    assert!(
        checked.contains("3 rows: 2 valid, 1 with problems"),
        "{checked}"
    );
    assert!(checked.contains("Nothing was written to Pipedrive"));
    assert!(
        checked.contains("up to <strong>75 tokens</strong>"),
        "the estimate: {checked}"
    );

    let progress = run_to_done(&app, &page_path, &csrf).await;
    assert_eq!(progress["state"], "done", "{progress}");
    assert_eq!(
        (progress["done"].as_u64(), progress["failed"].as_u64()),
        (Some(2), Some(1))
    );
    // Two creates at least; each row's search too unless the install's first sweep had made the
    // mirror complete by then (the next test waits for that).
    assert!(
        progress["tokens_spent"].as_u64().unwrap() >= 10,
        "{progress}"
    );

    let failed = app.get(&format!("{page_path}/failed.csv")).await;
    assert_eq!(failed.headers()["content-type"], "text/csv; charset=utf-8");
    let failed = failed.text().await.unwrap();
    let lines: Vec<&str> = failed.lines().collect();
    assert_eq!(lines[0], "row,Full name,E-mail,reason");
    assert!(
        lines[1].starts_with("2,\"'=HYPERLINK(\"\"x\"\")\",not-an-email,"),
        "escaped: {failed}"
    );
    assert!(lines[1].contains("is not an email address"), "{failed}");

    let sandbox = app.sandbox.as_ref().unwrap();
    let persons = sandbox
        .control
        .records(company, dealbridge_sandbox::EntityKind::Person)
        .unwrap();
    let imported = persons
        .iter()
        .filter(|p| p["name"].as_str().is_some_and(|n| n.ends_with("Import")))
        .count();
    assert_eq!(imported, 2);
    let log = app.store.audit_log(Some(tenant), 20).await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "import.finished" && e.detail["done"] == 2),
        "{log:?}"
    );
}

/// Starts the import on `page_path` and waits until it is done; its progress.
async fn run_to_done(app: &TestApp, page_path: &str, csrf: &str) -> serde_json::Value {
    let started = post_form(app, &format!("{page_path}/start"), &[("csrf", csrf)]).await;
    assert_eq!(started.status(), 303);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let progress: serde_json::Value = app
            .get(&format!("{page_path}/progress"))
            .await
            .json()
            .await
            .unwrap();
        if progress["state"] == "done" || tokio::time::Instant::now() > deadline {
            return progress;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Once the install's webhook check and first reconcile sweep have made the tenant's mirror known
/// complete, a `skip` import keyed by email is estimated both at most (a search a row) and likely
/// (none), and runs without a search: two creates' tokens.
#[tokio::test]
async fn with_the_mirror_complete_a_skip_import_is_estimated_and_run_without_searches() {
    let app = spawn_app_with_workers().await;
    let (tenant, company) = install(&app).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let coverage = app.store.mirror_coverage(tenant).await.unwrap();
        let now = chrono::Utc::now();
        if dealbridge_workflows::mirror_complete(coverage.as_ref(), PipedriveEntity::Person, now) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the install never made the mirror complete: {coverage:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let csrf = csrf_in(&app.get("/dashboard/imports").await.text().await.unwrap());
    let csv = b"Name,Email\nAda Mirror,ada@mirror.test\nBob Mirror,bob@mirror.test\n";
    let uploaded = upload(&app, &[("csrf", &csrf), ("kind", "persons")], csv).await;
    assert_eq!(uploaded.status(), 303, "{}", uploaded.text().await.unwrap());
    let page_path = uploaded.headers()["location"].to_str().unwrap().to_owned();
    let mapping = [
        ("csrf", csrf.as_str()),
        ("col_0", "name"),
        ("col_1", "email"),
        ("policy", "skip"),
    ];
    let checked = post_form(&app, &format!("{page_path}/mapping"), &mapping).await;
    let checked = checked.text().await.unwrap();
    assert!(
        checked.contains("up to <strong>50 tokens</strong>"),
        "{checked}"
    );
    assert!(
        checked.contains("no search is needed:")
            && checked.contains("likely <strong>10 tokens</strong>"),
        "the likely estimate: {checked}"
    );

    let sandbox = app.sandbox.as_ref().unwrap();
    sandbox.control.clear_calls();
    let progress = run_to_done(&app, &page_path, &csrf).await;
    assert_eq!(progress["state"], "done", "{progress}");
    assert_eq!(progress["done"].as_u64(), Some(2), "{progress}");
    assert_eq!(progress["tokens_spent"].as_u64(), Some(10), "{progress}");
    let searches: Vec<String> = sandbox
        .control
        .calls(Some(company))
        .into_iter()
        .filter(|c| c.path.ends_with("/search"))
        .map(|c| c.path)
        .collect();
    assert_eq!(searches, Vec::<String>::new());
}

#[tokio::test]
async fn import_routes_answer_only_for_their_tenant_and_refuse_bad_uploads() {
    let app = spawn_app_with_workers().await;
    let (tenant, _) = install(&app).await;
    let csrf = csrf_in(&app.get("/dashboard/imports").await.text().await.unwrap());

    // Another company's import, in the same store.
    let other = app
        .store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(990_001),
            company_name: "Other".into(),
            company_domain: "other".into(),
        })
        .await
        .unwrap();
    let theirs = app
        .store
        .create_import(&NewImport {
            tenant_id: other.id,
            id: uuid::Uuid::now_v7(),
            user_id: UserId::new(1),
            kind: ImportKind::Persons,
            file_name: "theirs.csv".into(),
            headers: vec!["Name".into()],
        })
        .await
        .unwrap();
    let base = format!("/dashboard/imports/{}", theirs.id);
    for path in [
        base.clone(),
        format!("{base}/progress"),
        format!("{base}/failed.csv"),
    ] {
        assert_eq!(app.get(&path).await.status(), 404, "{path}");
    }
    for action in ["start", "pause", "resume", "cancel"] {
        let answer = post_form(&app, &format!("{base}/{action}"), &[("csrf", &csrf)]).await;
        assert_eq!(answer.status(), 404, "{action}");
    }
    let mapping = post_form(
        &app,
        &format!("{base}/mapping"),
        &[("csrf", &csrf), ("col_0", "name"), ("policy", "skip")],
    )
    .await;
    assert_eq!(mapping.status(), 404);
    let list = app.get("/dashboard/imports").await.text().await.unwrap();
    assert!(
        !list.contains("theirs.csv"),
        "another tenant's import listed"
    );
    assert_eq!(
        app.store
            .import(other.id, theirs.id)
            .await
            .unwrap()
            .map(|i| i.state.as_str()),
        Some("uploaded"),
        "untouched"
    );

    // No token, a wrong token: refused before the file is read.
    let file = b"Name,Email\nAda,ada@example.com\n";
    assert_eq!(
        upload(&app, &[("kind", "persons")], file).await.status(),
        403
    );
    assert_eq!(
        upload(&app, &[("csrf", "forged"), ("kind", "persons")], file)
            .await
            .status(),
        403
    );

    // Malformed files end with their message and store nothing.
    let cases: [(&[u8], &str); 4] = [
        (b"", "The file is empty."),
        (
            b"Name,Email\n",
            "The file has a header row but no rows to import.",
        ),
        (
            b"Name,Email\nZo\xeb,zoe@example.com\n",
            "Line 2 is not UTF-8 text.",
        ),
        (
            b"Name,Email\nAda,\"ada@example.com\nBob,bob@example.com\n",
            "A quoted field is not closed",
        ),
    ];
    for (bytes, message) in cases {
        let answer = upload(&app, &[("csrf", &csrf), ("kind", "persons")], bytes).await;
        assert_eq!(answer.status(), 400, "{message}");
        let body = answer.text().await.unwrap();
        assert!(
            body.contains(&message.replace('"', "&quot;")),
            "{message}: {body}"
        );
    }
    // Over 50 MB: refused while streaming, for this route only.
    let mut big = b"Name,Email\n".to_vec();
    big.resize(50 * 1024 * 1024 + 1, b'x');
    let answer = upload(&app, &[("csrf", &csrf), ("kind", "persons")], &big).await;
    assert_eq!(answer.status(), 413);
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("The file is larger than 50 MB."));
    assert!(
        app.store.imports(tenant, 10).await.unwrap().is_empty(),
        "a refused file left an import"
    );
}

//! The web skeleton end to end: health, readiness, pages, static files, headers, errors.

mod helpers;

use helpers::spawn_app;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn readyz_reports_the_store_and_fails_when_migrations_are_pending() {
    let app = spawn_app().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["store"], "sqlite");

    // Simulate a binary newer than its database: forget that the migration ran.
    let sqlite = app_sqlite(&app).await;
    sqlx_delete_migrations(&sqlite).await;
    let not_ready = app.get("/readyz").await;
    assert_eq!(not_ready.status(), 503);
    let body: serde_json::Value = not_ready.json().await.unwrap();
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("migrations pending"),
        "{body}"
    );
}

async fn app_sqlite(app: &helpers::TestApp) -> dealbridge_storage_sql::SqliteStore {
    let path = app.data_path().join("dealbridge.db");
    dealbridge_storage_sql::SqliteStore::connect(&format!("sqlite://{}", path.display()), 1)
        .await
        .expect("the app's SQLite file opens")
}

async fn sqlx_delete_migrations(store: &dealbridge_storage_sql::SqliteStore) {
    sqlx::query("delete from _sqlx_migrations")
        .execute(store.pool())
        .await
        .expect("migration records deleted");
}

#[tokio::test]
async fn landing_page_renders_and_offers_install() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(html.contains("Dealbridge"));
    assert!(html.contains(r#"href="/install""#), "Install is offered");
    // The page promises only what works: features still to come are labelled as planned.
    let (works_now, planned) = html
        .split_once("Planned</h2>")
        .expect("the page has a Planned section");
    assert!(works_now.contains("What works now"));
    assert!(works_now.contains("Sign-ups and orders") && works_now.contains("CSV imports"));
    assert!(!works_now.contains("Prices to your stores"));
    assert!(planned.contains("Prices to your stores"));
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    for path in ["/", "/healthz", "/static/app.css", "/missing"] {
        let response = app.get(path).await;
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'self' https://*.pipedrive.com"),
            "{path}: {csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(headers.contains_key("referrer-policy"), "{path}");
        assert!(
            !headers.contains_key("x-frame-options"),
            "{path}: would block Pipedrive"
        );
        let id = headers["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 36, "{path}: request id {id:?}");
    }
}

#[tokio::test]
async fn static_files_are_served_with_validators() {
    let app = spawn_app().await;
    let response = app.get("/static/app.css").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/css");
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    assert!(response.text().await.unwrap().contains("--brand"));

    let revalidated = app
        .client
        .get(format!("{}/static/app.css", app.address))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    assert_eq!(app.get("/static/nope.css").await.status(), 404);
}

#[tokio::test]
async fn unknown_paths_get_a_page_for_browsers_and_json_otherwise() {
    let app = spawn_app().await;
    let json = app.get("/no/such/path").await;
    assert_eq!(json.status(), 404);
    let body: serde_json::Value = json.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"success": false, "error": "not found"})
    );

    let page = app
        .client
        .get(format!("{}/no/such/path", app.address))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("This page does not exist"));
}

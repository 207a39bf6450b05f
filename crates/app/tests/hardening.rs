//! The edge's hardening, each item on the running app: error pages for browsers and JSON for API
//! clients, HSTS over https only, `no-store` and framing rules per audience, private data files,
//! refusals audited in aggregate, and OAuth exchanges bounded per client.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

use dealbridge_app::pipedrive_setup::SANDBOX_CLIENT_ID;
use helpers::{browser, spawn_app, spawn_app_adjusted};

#[tokio::test]
async fn browsers_get_an_error_page_and_api_clients_json() {
    let app = spawn_app().await;
    let url = format!("{}/dashboard", app.address);
    let page = browser()
        .get(&url)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 401);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.headers().contains_key("x-request-id"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<html") && html.contains("sign in through Pipedrive"),
        "{html}"
    );

    let api = browser()
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"success": false, "error": "sign in through Pipedrive to open the dashboard"})
    );
}

#[tokio::test]
async fn hsts_is_sent_only_when_the_public_url_is_https() {
    let plain = spawn_app().await;
    let answer = plain.get("/").await;
    assert!(!answer.headers().contains_key("strict-transport-security"));

    let https = spawn_app_adjusted(|s| {
        s.public_url = "https://127.0.0.1:0".parse().unwrap();
    })
    .await;
    let answer = https.get("/").await;
    let hsts = answer.headers()["strict-transport-security"]
        .to_str()
        .unwrap();
    assert!(
        hsts.starts_with("max-age=") && hsts.contains("includeSubDomains"),
        "{hsts}"
    );
}

#[tokio::test]
async fn the_dashboard_is_never_stored_and_the_console_never_framed() {
    let app = spawn_app().await;
    let dashboard = app.get("/dashboard").await;
    assert_eq!(dashboard.status(), 401);
    assert_eq!(dashboard.headers()["cache-control"], "no-store");
    let csp = dashboard.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("frame-ancestors 'self' https://*.pipedrive.com"),
        "{csp}"
    );

    for path in ["/console/login", "/console"] {
        let answer = app.get(path).await;
        let csp = answer.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("pipedrive.com"), "{path}: {csp}");
        assert_eq!(answer.headers()["cache-control"], "no-store", "{path}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("data");
    let app = spawn_app_adjusted(|s| {
        s.data_dir = folder.clone();
        s.database_url = format!("sqlite://{}", folder.join("db/dealbridge.db").display()).into();
    })
    .await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&folder), 0o700, "data folder");
    assert_eq!(mode(&folder.join("db")), 0o700, "database folder");
    assert_eq!(
        mode(&folder.join("db/dealbridge.db")),
        0o600,
        "database file"
    );
    let wal = folder.join("db/dealbridge.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600, "write-ahead log");
    }

    // A database left world-readable by an older release is narrowed at the next start.
    let database = folder.join("db/dealbridge.db");
    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).unwrap();
    let url = format!("sqlite://{}", database.display());
    let again = helpers::spawn_app_with(Some(&url)).await;
    assert_eq!(again.get("/healthz").await.status(), 200);
    assert_eq!(mode(&database), 0o600, "narrowed");
}

#[tokio::test]
async fn repeated_refusals_are_audited_in_aggregate() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    for _ in 0..40 {
        let answer = client
            .delete(format!("{}/oauth/callback", app.address))
            .basic_auth(SANDBOX_CLIENT_ID, Some("wrong-secret"))
            .json(&serde_json::json!({"company_id": 1, "user_id": 2}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401);
    }
    let entries: Vec<_> = app
        .store
        .audit_log(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "uninstall.rejected")
        .collect();
    // The 1st, 2nd, 4th, 8th, 16th and 32nd refusals, newest first.
    let counts: Vec<_> = entries
        .iter()
        .map(|e| e.detail["refusals_in_window"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![32, 16, 8, 4, 2, 1]);
}

#[tokio::test]
async fn oauth_code_exchanges_are_bounded_per_client() {
    let app = spawn_app().await;
    let client = browser();
    let limit = dealbridge_web::CALLOUTS_PER_WINDOW;
    for n in 0..limit {
        let answer = client
            .get(format!("{}/oauth/callback?code=made-up-{n}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            400,
            "exchange {n} reaches Pipedrive and fails"
        );
    }
    let over = client
        .get(format!("{}/oauth/callback?code=made-up-over", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 429);
}

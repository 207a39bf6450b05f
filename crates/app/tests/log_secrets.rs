//! Everything the app logs while it installs, signs in through the settings iframe and the support
//! console, and refuses bad callbacks and notices, scanned for the secret values those flows used:
//! none may appear. The logs are captured in both production formats (text and JSON, spans
//! included) at `debug` level, `trace` for Dealbridge's own crates.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex};

use dealbridge_app::console_bootstrap::{FIRST_ACCOUNT, PASSWORD_FILE};
use dealbridge_app::pipedrive_setup::SANDBOX_CLIENT_ID;
use dealbridge_core::{CompanyId, UserId};
use helpers::{browser, csrf_in, spawn_app, TestApp, TEST_JWT_SECRET};
use secrecy::ExposeSecret;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Captured {
    let captured = Captured::default();
    let (text, json) = (captured.clone(), captured.clone());
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("debug,dealbridge=trace"))
        .with(
            tracing_subscriber::fmt::layer()
                .with_span_events(FmtSpan::CLOSE)
                .with_ansi(false)
                .with_writer(move || text.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(true)
                .with_span_events(FmtSpan::CLOSE)
                .with_writer(move || json.clone()),
        )
        .init();
    captured
}

/// Installs the demo company; returns the callback's `code` and `state`.
async fn install(app: &TestApp) -> (String, String) {
    let sandbox = app.sandbox.as_ref().unwrap();
    let company = &sandbox.control.companies()[0];
    let start = app.get("/install").await;
    let location = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let callback = sandbox
        .control
        .approve_install(
            SANDBOX_CLIENT_ID,
            company.id,
            company.user_ids[0],
            Some(&state),
        )
        .unwrap();
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        app.client.get(&callback).send().await.unwrap().status(),
        303
    );
    (code, state)
}

async fn console_sign_in(app: &TestApp, password: &str) -> u16 {
    let client = browser();
    let page = client
        .get(format!("{}/console/login", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    client
        .post(format!("{}/console/login", app.address))
        .form(&[
            ("csrf", csrf_in(&page).as_str()),
            ("email", FIRST_ACCOUNT),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn no_secret_value_reaches_the_logs() {
    let logs = capture_logs();
    let app = spawn_app().await;
    let mut secrets: Vec<(&str, String)> = Vec::new();

    let (code, state) = install(&app).await;
    secrets.push(("oauth code", code));
    secrets.push(("oauth state", state));
    let company = &app.sandbox.as_ref().unwrap().control.companies()[0];
    let tenant = app
        .store
        .tenant_by_company(CompanyId::new(company.id as i64))
        .await
        .unwrap()
        .unwrap();
    let user = UserId::new(company.user_ids[0] as i64);
    let installation = app
        .store
        .installation(tenant.id, user)
        .await
        .unwrap()
        .unwrap();
    let tokens = dealbridge_tokens::open(
        &app.keys,
        tenant.company_id,
        user,
        installation.tokens.as_ref().unwrap(),
    )
    .unwrap();
    secrets.push((
        "access token",
        tokens.access_token.expose_secret().to_string(),
    ));
    secrets.push((
        "refresh token",
        tokens.refresh_token.expose_secret().to_string(),
    ));

    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "companyId": company.id, "userId": company.user_ids[0], "exp": now + 300, "iat": now
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let settings_page = format!(
        "{}/pipedrive/settings?token={token}&companyId={}&userId={}",
        app.address, company.id, company.user_ids[0]
    );
    assert_eq!(
        browser().get(&settings_page).send().await.unwrap().status(),
        200
    );
    // The replay is refused, and must not be logged either.
    assert_eq!(
        browser().get(&settings_page).send().await.unwrap().status(),
        401
    );
    secrets.push(("iframe token", token));
    secrets.push(("iframe JWT secret", TEST_JWT_SECRET.to_string()));

    let wrong = "not-the-password-7f3a9c";
    assert_eq!(console_sign_in(&app, wrong).await, 401);
    let password = std::fs::read_to_string(app.data_path().join(PASSWORD_FILE)).unwrap();
    assert_eq!(console_sign_in(&app, password.trim()).await, 303);
    secrets.push(("wrong console password", wrong.to_string()));
    secrets.push(("console password", password.trim().to_string()));

    let bogus_code = "bogus-code-5d1e8b";
    let refused = browser()
        .get(format!("{}/oauth/callback?code={bogus_code}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    secrets.push(("refused oauth code", bogus_code.to_string()));
    let bad_secret = "forged-client-secret-91c2";
    let notice = reqwest::Client::new()
        .delete(format!("{}/oauth/callback", app.address))
        .basic_auth(SANDBOX_CLIENT_ID, Some(bad_secret))
        .json(&serde_json::json!({"company_id": company.id, "user_id": company.user_ids[0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(notice.status(), 401);
    secrets.push(("forged client secret", bad_secret.to_string()));

    for file in ["session-key", "encryption-keys"] {
        let key = std::fs::read_to_string(app.data_path().join(file)).unwrap();
        secrets.push((file, key.trim().to_string()));
    }

    // Spans close (and are logged) when their request ends: wait for the last ones.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        text.contains("/pipedrive/settings") && text.contains("/oauth/callback"),
        "the capture saw the requests"
    );
    for (what, value) in &secrets {
        assert!(value.len() >= 8, "{what} is too short to scan for");
        assert!(!text.contains(value.as_str()), "the {what} was logged");
    }
}

//! Private mode end to end against the sandbox: the app starts with a personal API token, learns
//! its company, provisions it with calls made with that token, and opens the dashboard to the
//! configured admin only. Shared by the SQLite test and the Postgres suite.

use std::time::Duration;

use anyhow::{ensure, Context};
use dealbridge_app::settings::PrivateMode;
use dealbridge_sandbox::{CompanySpec, Plan, SandboxConfig, SandboxHandle, UserSpec};
use secrecy::SecretString;

use super::{browser, csrf_in, spawn_app_configured, TestApp};

pub const ADMIN: &str = "owner@acme.test";
const PASSWORD: &str = "a long admin password";

/// A sandbox with one Growth company (API tokens: 40 requests per 2 s) and no app.
pub async fn sandbox() -> anyhow::Result<SandboxHandle> {
    Ok(dealbridge_sandbox::spawn(SandboxConfig {
        seed: 29,
        companies: vec![CompanySpec {
            name: "Acme Private".into(),
            domain: "acmeprivate".into(),
            plan: Plan::Growth,
            seats: 2,
            daily_budget: None,
            burst_limit: None,
            users: vec![UserSpec {
                name: "Olive Owner".into(),
                email: ADMIN.into(),
                is_admin: true,
            }],
        }],
        ..SandboxConfig::default()
    })
    .await?)
}

fn private(token: &str, api_url: &str) -> anyhow::Result<PrivateMode> {
    Ok(PrivateMode {
        api_token: SecretString::from(token.to_string()),
        api_url: api_url.parse()?,
        admin_email: ADMIN.into(),
    })
}

pub async fn scenario(database_url: Option<&str>) -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let control = sandbox.control().clone();
    let company = control.companies().into_iter().next().context("company")?;
    let token = control.api_token(company.id, None)?;

    // A token Pipedrive refuses stops start-up, with a message that names the setting only.
    let wrong = "0123456789abcdef0123456789abcdef01234567";
    let refused = spawn_app_configured(database_url, |s| {
        s.pipedrive.private = Some(private(wrong, &company.api_domain).expect("private mode"));
    })
    .await;
    let message = format!("{:#}", refused.err().context("a wrong token started")?);
    ensure!(
        message.contains("DEALBRIDGE_PIPEDRIVE_API_TOKEN"),
        "{message}"
    );
    ensure!(message.contains("401"), "{message}");
    ensure!(
        !message.contains(wrong),
        "the message shows the token: {message}"
    );

    let refused_calls = control.calls(Some(company.id)).len();
    let mode = private(&token, &company.api_domain)?;
    let app = spawn_app_configured(database_url, |s| s.pipedrive.private = Some(mode)).await?;
    dealbridge_web::add_staff_account(
        app.store.as_ref(),
        ADMIN,
        PASSWORD.to_string().into(),
        dealbridge_storage::StaffRole::Operator,
        "test",
    )
    .await?;

    let landing = app.get("/").await.text().await?;
    ensure!(landing.contains("private mode") && landing.contains("Acme Private"));
    ensure!(landing.contains("href=\"/login\"") && !landing.contains("href=\"/install\""));
    for path in [
        "/install",
        "/oauth/callback?code=x",
        "/pipedrive/settings?token=x&companyId=1&userId=1",
    ] {
        ensure!(app.get(path).await.status() == 404, "{path} is not 404");
    }
    let notice = app
        .client
        .delete(format!("{}/oauth/callback", app.address))
        .json(&serde_json::json!({ "company_id": company.id, "user_id": 1 }))
        .send()
        .await?;
    ensure!(
        notice.status() == 404,
        "uninstall notice: {}",
        notice.status()
    );
    let closed = app.get("/dashboard").await;
    ensure!(closed.status() == 401, "dashboard open");
    ensure!(closed.text().await?.contains("sign in at /login"));

    // A wrong password (and another staff account) is refused; the admin's opens the dashboard.
    let stranger = browser();
    ensure!(sign_in(&app, &stranger, ADMIN, "not the password").await? == 401);
    let other = PASSWORD.to_string().into();
    let operator = dealbridge_storage::StaffRole::Operator;
    dealbridge_web::add_staff_account(
        app.store.as_ref(),
        "support@acme.test",
        other,
        operator,
        "test",
    )
    .await?;
    ensure!(sign_in(&app, &stranger, "support@acme.test", PASSWORD).await? == 401);
    ensure!(sign_in(&app, &app.client, ADMIN, PASSWORD).await? == 303);

    let fields = wait_for_fields(&app).await?;
    ensure!(
        fields.contains("Acme Private"),
        "another company's dashboard"
    );
    ensure!(fields.contains("personal API token"), "{fields}");
    ensure!(
        fields.contains("40 requests per 2 s"),
        "burst limit not learned: {fields}"
    );
    ensure!(fields.contains("Writes left today"), "{fields}");
    ensure!(
        !fields.contains("/dashboard/disconnect"),
        "Disconnect offered"
    );
    // The settings page reads the company's pipelines and stages with the API token too (there
    // is no vault token in private mode).
    let settings = app.get("/dashboard/settings").await;
    ensure!(settings.status() == 200, "settings: {}", settings.status());
    let settings = settings.text().await?;
    ensure!(settings.contains("Qualified"), "no stages: {settings}");

    // The same job registers the webhooks after recording the fields.
    let registered = || {
        control
            .calls(Some(company.id))
            .iter()
            .filter(|c| c.method == "POST" && c.path.ends_with("/api/v1/webhooks"))
            .count()
    };
    for _ in 0..100 {
        if registered() >= 9 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every call the app made to the company used the API token: the sandbox logs one token id,
    // the API token's (it serves only the token's requests with that id's headers).
    let calls = control.calls(Some(company.id)).split_off(refused_calls);
    ensure!(!calls.is_empty(), "no calls");
    let api_token_id = direct_call_token_id(&sandbox, &company.api_domain, &token).await?;
    for call in &calls {
        ensure!(
            call.token_id == Some(api_token_id),
            "{} {} made with token {:?}",
            call.method,
            call.path,
            call.token_id
        );
    }
    let made = |method: &str, path: &str| {
        calls
            .iter()
            .any(|c| c.method == method && c.path.ends_with(path) && c.status < 300)
    };
    ensure!(made("GET", "/api/v1/users/me"), "users/me not called");
    ensure!(made("POST", "/api/v2/dealFields"), "no field created");
    ensure!(made("POST", "/api/v1/webhooks"), "no webhook registered");
    ensure!(registered() == 9, "webhooks registered: {}", registered());
    drop(app);
    sandbox.stop().await;
    Ok(())
}

/// Posts the sign-in form in `client`; returns the status.
async fn sign_in(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> anyhow::Result<u16> {
    let page = client
        .get(format!("{}/login", app.address))
        .send()
        .await?
        .text()
        .await?;
    let csrf = csrf_in(&page);
    let answer = client
        .post(format!("{}/login", app.address))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await?;
    Ok(answer.status().as_u16())
}

/// The dashboard once the post-install job recorded the three custom fields.
async fn wait_for_fields(app: &TestApp) -> anyhow::Result<String> {
    for _ in 0..100 {
        let page = app.get("/dashboard").await;
        ensure!(page.status() == 200, "dashboard: {}", page.status());
        let html = page.text().await?;
        if ["Order ID", "Order status", "Order source"]
            .iter()
            .all(|name| html.contains(name))
            && html.contains("Writes left today")
        {
            return Ok(html);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("the custom fields never appeared on the dashboard")
}

/// The sandbox's id of `token`, from the call log of one request the test makes with it.
async fn direct_call_token_id(
    sandbox: &SandboxHandle,
    api_domain: &str,
    token: &str,
) -> anyhow::Result<u64> {
    let control = sandbox.control();
    let before = control.calls(None).len();
    let answer = reqwest::Client::new()
        .get(format!("{api_domain}/api/v1/users/me"))
        .header("x-api-token", token)
        .send()
        .await?;
    ensure!(answer.status() == 200, "direct call: {}", answer.status());
    ensure!(
        answer.headers().contains_key("x-daily-requests-left"),
        "the sandbox sends no x-daily-requests-left for API tokens"
    );
    let calls = control.calls(None);
    calls
        .get(before..)
        .and_then(|new| new.iter().rev().find_map(|c| c.token_id))
        .context("the direct call is not logged with a token id")
}

//! Sessions that end: copied dashboard and console cookies are refused after logout, Disconnect,
//! uninstall, staff removal and their maximum age; the settings iframe's tokens are fresh, single
//! use and never switch a signed-in browser; and the sign-in race from one address.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

use std::time::Duration;

use dealbridge_app::console_bootstrap::{FIRST_ACCOUNT, PASSWORD_FILE};
use dealbridge_app::pipedrive_setup::SANDBOX_CLIENT_ID;
use helpers::{
    browser, cookies_for, copied_cookie_client, csrf_in, jar_browser, spawn_app,
    spawn_app_adjusted, TestApp, TEST_JWT_SECRET,
};
use secrecy::SecretString;

/// The sandbox's demo company: (company id, its first user).
fn demo(app: &TestApp) -> (u64, u64) {
    let company = app
        .sandbox
        .as_ref()
        .unwrap()
        .control
        .companies()
        .into_iter()
        .find(|c| c.domain == "demo")
        .unwrap();
    (company.id, company.user_ids[0])
}

/// Installs the demo company through `client`, which is then signed in to its dashboard.
async fn install_with(app: &TestApp, client: &reqwest::Client) {
    let (company, user) = demo(app);
    let start = client
        .get(format!("{}/install", app.address))
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let callback = app
        .sandbox
        .as_ref()
        .unwrap()
        .control
        .approve_install(SANDBOX_CLIENT_ID, company, user, Some(&state))
        .unwrap();
    let back = client.get(&callback).send().await.unwrap();
    assert_eq!(back.status(), 303, "the install signs the browser in");
}

/// A browser freshly installed and signed in, and a copy of its cookie.
async fn signed_in_dashboard(app: &TestApp) -> (reqwest::Client, reqwest::Client) {
    let (client, jar) = jar_browser();
    install_with(app, &client).await;
    let copy = copied_cookie_client(&cookies_for(&jar, &app.address));
    assert_eq!(dashboard_status(app, &copy).await, 200, "the copy works");
    (client, copy)
}

async fn dashboard_status(app: &TestApp, client: &reqwest::Client) -> u16 {
    client
        .get(format!("{}/dashboard", app.address))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn dashboard_post(app: &TestApp, client: &reqwest::Client, path: &str) -> u16 {
    let page = client
        .get(format!("{}/dashboard", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    client
        .post(format!("{}{path}", app.address))
        .form(&[("csrf", csrf_in(&page))])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn iframe_token(company: u64, user: u64, claims: serde_json::Value) -> String {
    let mut all = serde_json::json!({
        "companyId": company, "userId": user, "exp": chrono::Utc::now().timestamp() + 300,
        "iat": chrono::Utc::now().timestamp()
    });
    for (key, value) in claims.as_object().unwrap() {
        all[key] = value.clone();
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &all,
        &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

async fn open_settings(
    app: &TestApp,
    client: &reqwest::Client,
    company: u64,
    user: u64,
    token: &str,
) -> u16 {
    client
        .get(format!(
            "{}/pipedrive/settings?token={token}&companyId={company}&userId={user}",
            app.address
        ))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_copied_dashboard_cookie_ends_with_logout_disconnect_and_uninstall() {
    let app = spawn_app().await;
    let (company, user) = demo(&app);

    let (browser_a, copy) = signed_in_dashboard(&app).await;
    assert_eq!(
        dashboard_post(&app, &browser_a, "/dashboard/logout").await,
        303
    );
    assert_eq!(dashboard_status(&app, &browser_a).await, 401, "signed out");
    assert_eq!(dashboard_status(&app, &copy).await, 401, "after logout");

    let (browser_b, copy) = signed_in_dashboard(&app).await;
    assert_eq!(
        dashboard_post(&app, &browser_b, "/dashboard/disconnect").await,
        303
    );
    assert_eq!(dashboard_status(&app, &copy).await, 401, "after Disconnect");

    let (_browser_c, copy) = signed_in_dashboard(&app).await;
    let sandbox = app.sandbox.as_ref().unwrap();
    sandbox
        .control
        .uninstall(SANDBOX_CLIENT_ID, company, user)
        .await
        .unwrap();
    assert_eq!(dashboard_status(&app, &copy).await, 401, "after uninstall");
    // Installing again opens new sessions; the old cookie stays dead.
    signed_in_dashboard(&app).await;
    assert_eq!(
        dashboard_status(&app, &copy).await,
        401,
        "after a reinstall"
    );
}

#[tokio::test]
async fn a_copied_dashboard_cookie_ends_at_its_maximum_age() {
    let app = spawn_app_adjusted(|s| s.session_max_age = Duration::from_secs(2)).await;
    let (_browser, copy) = signed_in_dashboard(&app).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        dashboard_status(&app, &copy).await,
        401,
        "past the maximum age"
    );
}

/// Signs a jar browser in to the console; returns it and a copy of its cookie.
async fn signed_in_console(
    app: &TestApp,
    email: &str,
    password: &str,
) -> (reqwest::Client, reqwest::Client) {
    let (client, jar) = jar_browser();
    let page = client
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
            ("csrf", csrf_in(&page).as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let copy = copied_cookie_client(&cookies_for(&jar, &app.address));
    assert_eq!(console_status(app, &copy).await, 200, "the copy works");
    (client, copy)
}

async fn console_status(app: &TestApp, client: &reqwest::Client) -> u16 {
    client
        .get(format!("{}/console", app.address))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_copied_staff_cookie_ends_with_logout_and_with_the_account() {
    let app = spawn_app().await;
    let password = std::fs::read_to_string(app.data_path().join(PASSWORD_FILE)).unwrap();
    let (client, copy) = signed_in_console(&app, FIRST_ACCOUNT, password.trim()).await;
    let page = client
        .get(format!("{}/console", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let out = client
        .post(format!("{}/console/logout", app.address))
        .form(&[("csrf", csrf_in(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(
        console_status(&app, &copy).await,
        303,
        "after logout: to sign-in"
    );
    // Signing in again works, under the new epoch.
    signed_in_console(&app, FIRST_ACCOUNT, password.trim()).await;

    let email = "ada@dealbridge.test";
    let secret = "a long enough password";
    dealbridge_web::add_staff_account(
        app.store.as_ref(),
        email,
        SecretString::from(secret),
        dealbridge_storage::StaffRole::Operator,
        "test",
    )
    .await
    .unwrap();
    let (_client, copy) = signed_in_console(&app, email, secret).await;
    assert!(app.store.delete_staff_account(email).await.unwrap());
    assert_eq!(console_status(&app, &copy).await, 303, "after removal");
    // Even an account of the same email added again is another sign-in.
    dealbridge_web::add_staff_account(
        app.store.as_ref(),
        email,
        SecretString::from(secret),
        dealbridge_storage::StaffRole::Operator,
        "test",
    )
    .await
    .unwrap();
    assert_eq!(console_status(&app, &copy).await, 303, "after re-adding");
}

#[tokio::test]
async fn iframe_tokens_are_fresh_single_use_and_never_switch_a_browser() {
    let app = spawn_app().await;
    let (company, user) = demo(&app);
    install_with(&app, &browser()).await;

    let token = iframe_token(company, user, serde_json::json!({}));
    let first = browser();
    assert_eq!(
        open_settings(&app, &first, company, user, &token).await,
        200,
        "the settings page, signed in"
    );
    assert_eq!(dashboard_status(&app, &first).await, 200);
    let replay = browser();
    assert_eq!(
        open_settings(&app, &replay, company, user, &token).await,
        401,
        "a replayed token"
    );
    assert_eq!(dashboard_status(&app, &replay).await, 401);

    let now = chrono::Utc::now().timestamp();
    let ten_years = iframe_token(
        company,
        user,
        serde_json::json!({"exp": now + 10 * 365 * 86_400}),
    );
    let stale = iframe_token(company, user, serde_json::json!({"iat": now - 3_600}));
    for (token, what) in [(ten_years, "a 10-year token"), (stale, "a stale iat")] {
        let client = browser();
        assert_eq!(
            open_settings(&app, &client, company, user, &token).await,
            401,
            "{what}"
        );
        assert_eq!(dashboard_status(&app, &client).await, 401, "{what}");
    }

    // Another company's token does not move a signed-in browser into that company.
    let sandbox = app.sandbox.as_ref().unwrap();
    let other = sandbox
        .control
        .create_company(dealbridge_sandbox::CompanySpec {
            name: "Attacker Co".into(),
            domain: "attacker".into(),
            plan: dealbridge_sandbox::Plan::Growth,
            seats: 1,
            daily_budget: None,
            burst_limit: None,
            users: vec![dealbridge_sandbox::UserSpec {
                name: "Mallory".into(),
                email: "mallory@attacker.test".into(),
                is_admin: true,
            }],
        })
        .unwrap();
    let (other_company, other_user) = (other.id, other.user_ids[0]);
    let start = browser();
    let location = start
        .get(format!("{}/install", app.address))
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(location.headers()["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let callback = sandbox
        .control
        .approve_install(SANDBOX_CLIENT_ID, other_company, other_user, Some(&state))
        .unwrap();
    assert_eq!(start.get(&callback).send().await.unwrap().status(), 303);
    let attackers = iframe_token(other_company, other_user, serde_json::json!({}));
    assert_eq!(
        open_settings(&app, &first, other_company, other_user, &attackers).await,
        409,
        "no silent switch"
    );
    let page = first
        .get(format!("{}/dashboard", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("{user}")),
        "still the first user's dashboard"
    );
}

#[tokio::test]
async fn sixty_parallel_sign_ins_verify_at_most_the_limit() {
    let app = spawn_app().await;
    helpers::race::parallel_sign_ins(&app, &[]).await.unwrap();
}

//! Uninstall notices from Pipedrive, Disconnect from the dashboard, and the settings iframe's JWT.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

use dealbridge_app::pipedrive_setup::SANDBOX_CLIENT_ID;
use dealbridge_core::installation::InstallationStatus;
use dealbridge_core::tenant::TenantStatus;
use dealbridge_core::{CompanyId, UserId};
use helpers::{browser, spawn_app, TestApp, TEST_JWT_SECRET};

async fn install(app: &TestApp) -> (u64, u64) {
    let sandbox = app.sandbox.as_ref().unwrap();
    let company = sandbox
        .control
        .companies()
        .into_iter()
        .find(|c| c.domain == "demo")
        .unwrap();
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
    assert_eq!(
        app.client.get(&callback).send().await.unwrap().status(),
        303
    );
    (company.id, company.user_ids[0])
}

async fn installation(
    app: &TestApp,
    company: u64,
    user: u64,
) -> dealbridge_core::installation::Installation {
    let tenant = app
        .store
        .tenant_by_company(CompanyId::new(company as i64))
        .await
        .unwrap()
        .unwrap();
    app.store
        .installation(tenant.id, UserId::new(user as i64))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn uninstall_notices_need_our_client_credentials() {
    let app = spawn_app().await;
    let (company, user) = install(&app).await;
    let body = serde_json::json!({
        "client_id": SANDBOX_CLIENT_ID, "company_id": company, "user_id": user,
        "timestamp": "2026-11-29T10:00:00Z"
    });
    let forged = reqwest::Client::new()
        .delete(format!("{}/oauth/callback", app.address))
        .basic_auth(SANDBOX_CLIENT_ID, Some("wrong-secret"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert!(
        installation(&app, company, user).await.tokens.is_some(),
        "forged notice deleted tokens"
    );
    let rejected = app.store.audit_log(None, 5).await.unwrap();
    assert_eq!(rejected[0].action, "uninstall.rejected");

    // The real notice, sent by the sandbox as Pipedrive does when a user removes the app.
    let sandbox = app.sandbox.as_ref().unwrap();
    sandbox
        .control
        .uninstall(SANDBOX_CLIENT_ID, company, user)
        .await
        .unwrap();
    let gone = installation(&app, company, user).await;
    assert!(gone.tokens.is_none(), "tokens survived the uninstall");
    assert_eq!(gone.status, InstallationStatus::Uninstalled);
    let tenant = app.store.tenant(gone.tenant_id).await.unwrap().unwrap();
    assert_eq!(tenant.status, TenantStatus::Uninstalled);

    // Reinstalling later works.
    install(&app).await;
    assert_eq!(
        installation(&app, company, user).await.status,
        InstallationStatus::Active
    );
}

#[tokio::test]
async fn disconnect_revokes_at_pipedrive_and_forgets_the_tokens() {
    let app = spawn_app().await;
    let (company, user) = install(&app).await;
    let page = app.get("/dashboard").await.text().await.unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the dashboard has a CSRF token")
        .to_string();

    let forged = app
        .client
        .post(format!("{}/dashboard/disconnect", app.address))
        .form(&[("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(installation(&app, company, user).await.tokens.is_some());

    let done = app
        .client
        .post(format!("{}/dashboard/disconnect", app.address))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert!(installation(&app, company, user).await.tokens.is_none());
    // Revoking the refresh token uninstalled the app at Pipedrive: nothing is left to remove.
    let sandbox = app.sandbox.as_ref().unwrap();
    let again = sandbox
        .control
        .uninstall(SANDBOX_CLIENT_ID, company, user)
        .await;
    assert!(again.is_err(), "the install is still live at Pipedrive");
    assert_eq!(
        app.get("/dashboard").await.status(),
        401,
        "the session ended"
    );
}

fn iframe_token(
    company: serde_json::Value,
    user: serde_json::Value,
    exp_in: i64,
    secret: &str,
) -> String {
    let claims = serde_json::json!({
        "companyId": company, "userId": user, "exp": chrono::Utc::now().timestamp() + exp_in
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn the_settings_iframe_signs_in_with_pipedrives_jwt() {
    let app = spawn_app().await;
    let (company, user) = install(&app).await;
    let open = |token: String, company_q: u64| {
        let client = browser();
        let url = format!(
            "{}/pipedrive/settings?token={token}&companyId={company_q}&userId={user}&id=abc",
            app.address
        );
        async move {
            let answer = client.get(url).send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.text().await.unwrap(), client)
        }
    };
    let (status, page, client) = open(
        iframe_token(company.into(), user.into(), 300, TEST_JWT_SECRET),
        company,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    // The settings form itself, initialising Pipedrive's SDK with the iframe's id.
    assert!(page.contains(r#"data-identifier="abc""#), "{page}");
    assert!(page.contains(r#"name="stage_id""#), "{page}");
    let dashboard = client
        .get(format!("{}/dashboard", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 200);

    let refusals = [
        (
            iframe_token(company.into(), user.into(), 300, "wrong secret"),
            company,
        ),
        (
            iframe_token(company.into(), user.into(), -10, TEST_JWT_SECRET),
            company,
        ),
        (
            iframe_token((company + 1).into(), user.into(), 300, TEST_JWT_SECRET),
            company,
        ),
        (
            iframe_token(company.into(), user.into(), 300, TEST_JWT_SECRET),
            company + 1,
        ),
    ];
    for (token, company_q) in refusals {
        let (status, _, _) = open(token, company_q).await;
        assert!(
            status == 401 || status == 403,
            "accepted a bad iframe token: {status}"
        );
    }
}

//! An install through the embedded sandbox, as a browser does it: `/install`, the sandbox's
//! consent, then the callback that signs the browser in.

use dealbridge_app::pipedrive_setup::SANDBOX_CLIENT_ID;
use dealbridge_sandbox::{CompanySpec, Plan, UserSpec};

use super::{browser, TestApp};

/// The demo company that was installed, and its installing user.
pub struct Installed {
    pub company_id: u64,
    pub user_id: u64,
}

/// Installs the sandbox's demo company in `app` and leaves `app.client` signed in.
pub async fn install_demo_company(app: &TestApp) -> Installed {
    let sandbox = app.sandbox.as_ref().expect("sandbox mode");
    let company = sandbox
        .control
        .companies()
        .into_iter()
        .find(|c| c.domain == "demo")
        .expect("demo company registered at start-up");
    install(app, &app.client, company.id, company.user_ids[0]).await
}

/// Creates another company in the sandbox and installs it with a browser of its own, which is
/// returned signed in to that company's dashboard.
pub async fn install_another_company(app: &TestApp, domain: &str) -> (reqwest::Client, Installed) {
    let sandbox = app.sandbox.as_ref().expect("sandbox mode");
    let company = sandbox
        .control
        .create_company(CompanySpec {
            name: format!("{domain} Co"),
            domain: domain.into(),
            plan: Plan::Growth,
            seats: 1,
            daily_budget: None,
            burst_limit: None,
            users: vec![UserSpec {
                name: "Other Admin".into(),
                email: format!("admin@{domain}.test"),
                is_admin: true,
            }],
        })
        .expect("the sandbox creates the company");
    let client = browser();
    let installed = install(app, &client, company.id, company.user_ids[0]).await;
    (client, installed)
}

async fn install(
    app: &TestApp,
    client: &reqwest::Client,
    company_id: u64,
    user_id: u64,
) -> Installed {
    let start = client
        .get(format!("{}/install", app.address))
        .send()
        .await
        .expect("the app answers /install");
    assert_eq!(start.status(), 302);
    let location = start.headers()["location"]
        .to_str()
        .expect("an ASCII location");
    let state = url::Url::parse(location)
        .expect("the authorize URL")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("authorize URL carries state");
    let sandbox = app.sandbox.as_ref().expect("sandbox mode");
    let callback = sandbox
        .control
        .approve_install(SANDBOX_CLIENT_ID, company_id, user_id, Some(&state))
        .expect("the sandbox approves");
    let back = client
        .get(&callback)
        .send()
        .await
        .expect("the app answers the callback");
    assert_eq!(back.status(), 303, "the callback signs in");
    Installed {
        company_id,
        user_id,
    }
}

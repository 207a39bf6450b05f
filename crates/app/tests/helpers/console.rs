//! Support console accounts and signed-in browsers for tests.

use anyhow::ensure;
use dealbridge_storage::StaffRole;
use secrecy::SecretString;

use super::{browser, csrf_in, TestApp};

pub const PASSWORD: &str = "a long enough password";

/// Adds `email` with `role` and returns a browser signed in to the console as it, with the
/// console's form token.
pub async fn staff_browser(
    app: &TestApp,
    email: &str,
    role: StaffRole,
) -> anyhow::Result<(reqwest::Client, String)> {
    let password = SecretString::from(PASSWORD);
    dealbridge_web::add_staff_account(app.store.as_ref(), email, password, role, "cli:test")
        .await?;
    let client = browser();
    let login = client
        .get(format!("{}/console/login", app.address))
        .send()
        .await?
        .text()
        .await?;
    let answer = client
        .post(format!("{}/console/login", app.address))
        .form(&[
            ("csrf", csrf_in(&login).as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await?;
    ensure!(
        answer.status() == 303,
        "{email} signs in: {}",
        answer.status()
    );
    let page = client
        .get(format!("{}/console", app.address))
        .send()
        .await?
        .text()
        .await?;
    Ok((client, csrf_in(&page)))
}

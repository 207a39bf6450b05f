//! Two-step sign-in for the support console: once an account has it on, its password alone no
//! longer signs in, a current code does, each code signs in once, a wrong code is answered as a
//! wrong password and counts against the sign-in throttle; off again, the password suffices.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

use dealbridge_storage::StaffRole;
use helpers::console::PASSWORD;
use helpers::{browser, csrf_in, spawn_app, TestApp};
use secrecy::{ExposeSecret, SecretString};
use totp_rs::{Algorithm, Builder, Secret};

const EMAIL: &str = "grace@dealbridge.test";

/// A fresh browser's sign-in with `code`; the answer's status and body.
async fn sign_in(app: &TestApp, code: &str) -> (u16, String) {
    let client = browser();
    let login = client
        .get(format!("{}/console/login", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("csrf", csrf_in(&login)),
        ("email", EMAIL.to_owned()),
        ("password", PASSWORD.to_owned()),
        ("code", code.to_owned()),
    ];
    let answer = client
        .post(format!("{}/console/login", app.address))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap())
}

/// The code the engineer's authenticator app shows now for `secret` (base32).
fn current_code(secret: &str) -> String {
    let bytes = Secret::try_from_base32(secret).unwrap().as_bytes().to_vec();
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(bytes)
        .build_noncompliant();
    totp.generate_current().to_string()
}

#[tokio::test]
async fn with_two_step_on_a_current_code_signs_in_once() {
    let app = spawn_app().await;
    let password = SecretString::from(PASSWORD);
    let store = app.store.as_ref();
    dealbridge_web::add_staff_account(store, EMAIL, password, StaffRole::Operator, "cli:test")
        .await
        .unwrap();
    let enrolment = dealbridge_web::enable_staff_two_step(store, &app.keys, EMAIL, "cli:test")
        .await
        .unwrap();
    assert!(enrolment.url.expose_secret().starts_with("otpauth://totp/"));
    let secret = enrolment.secret.expose_secret().to_owned();
    let stored = store.staff_account_by_email(EMAIL).await.unwrap().unwrap();
    let sealed = stored.totp_secret.unwrap();
    assert!(!sealed.contains(&secret), "the secret is stored sealed");

    let (status, body) = sign_in(&app, "").await;
    assert_eq!(status, 401, "the password alone: {body}");
    assert!(
        body.contains("Wrong email, password or two-step code."),
        "{body}"
    );
    let code = current_code(&secret);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, wrong_body) = sign_in(&app, wrong).await;
    assert_eq!(status, 401);
    assert!(
        wrong_body.contains("Wrong email, password or two-step code."),
        "a wrong code reads like a wrong password"
    );

    let (status, body) = sign_in(&app, &code).await;
    assert_eq!(status, 303, "a current code: {body}");
    let (status, _) = sign_in(&app, &code).await;
    assert_eq!(status, 401, "the same code a second time");

    let audit = store.audit_log(None, 20).await.unwrap();
    let refused = audit.iter().filter(|e| {
        e.action == "console.login_failed" && e.detail.to_string().contains("two-step code")
    });
    assert!(refused.count() >= 3, "{audit:?}");
    assert!(audit.iter().any(|e| e.action == "staff.two_step_on"));

    dealbridge_web::disable_staff_two_step(store, EMAIL, "cli:test")
        .await
        .unwrap();
    let (status, body) = sign_in(&app, "").await;
    assert_eq!(status, 303, "off again, the password suffices: {body}");
}

//! `GET/POST /console/login`, `POST /console/logout`: the support console's sign-in. Each attempt
//! is reserved in the throttle before the password is verified (see `login_throttle`). Wrong
//! passwords are audited one by one (the email tried and the client address, never the password;
//! the throttle bounds how many), throttled attempts in aggregate.

use actix_session::Session;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use dealbridge_core::audit::NewAuditEntry;
use secrecy::SecretString;
use serde::Deserialize;
use tera::Context;

use crate::client_address::client_network;
use crate::login_throttle::{self, AttemptKeys};
use crate::services::rejections::audit_refusal;
use crate::services::staff::{check_sign_in, normalize_email};
use crate::services::staff_totp::checked;
use crate::session::CsrfForm;
use crate::staff_session::{
    check_staff_csrf, sign_in_staff, sign_out_staff, signed_in_staff, staff_csrf_token, LOGIN_PATH,
};
use crate::{AppError, AppState};

/// Mounted inside the `/console` scope, whose guard lets these two paths through unsigned.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(show))
        .route("/login", web::post().to(sign_in))
        .route("/logout", web::post().to(sign_out));
}

async fn show(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    if signed_in_staff(&state, &session).await?.is_some() {
        return Ok(see_other("/console"));
    }
    page(&state, &session, StatusCode::OK, None, "").await
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    password: Option<SecretString>,
    /// The authenticator's current code, for accounts with two-step sign-in.
    code: Option<String>,
}

async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let LoginForm {
        csrf,
        email,
        password,
        code,
    } = form.into_inner();
    if check_staff_csrf(&session, &csrf).is_err() {
        let message = "The form expired. Please sign in again.";
        return page(
            &state,
            &session,
            StatusCode::FORBIDDEN,
            Some(message),
            &email,
        )
        .await;
    }
    let address = client_network(&req);
    let keys = AttemptKeys::new(&normalize_email(&email).unwrap_or_default(), &address);
    let store = state.store.as_ref();
    // Reserved before verifying: parallel guesses each take a slot, and those past the limit are
    // refused without ever reaching Argon2.
    if let Some(wait) = login_throttle::reserve(store, &keys, chrono::Utc::now()).await? {
        let detail = serde_json::json!({ "email": bounded(&email), "reason": "throttled" });
        audit_refusal(&state, "console.login_throttled", &address, detail).await?;
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let message = format!(
            "Too many failed sign-ins. Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        );
        return page(
            &state,
            &session,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&message),
            &email,
        )
        .await;
    }
    let password = password.unwrap_or_else(|| SecretString::from(""));
    let account = check_sign_in(&state, &email, password).await?;
    // The code is checked only after the password, and a wrong one is answered like a wrong
    // password: the answer never tells that the password was right.
    let (account, code_refused) = checked(&state, account, code.as_deref()).await?;
    if account.is_none() {
        let why = if code_refused {
            "wrong or missing two-step code"
        } else {
            "wrong email or password"
        };
        audit_failure(&state, &email, &address, why).await?;
    }
    let Some(account) = account else {
        let message = "Wrong email, password or two-step code.";
        return page(
            &state,
            &session,
            StatusCode::UNAUTHORIZED,
            Some(message),
            &email,
        )
        .await;
    };
    login_throttle::clear(store, &keys).await?;
    state
        .store
        .record_staff_login(account.id, chrono::Utc::now())
        .await?;
    sign_in_staff(store, &session, &account).await?;
    state
        .store
        .append_audit(&NewAuditEntry {
            tenant_id: None,
            actor: format!("staff:{}", account.email),
            action: "console.login".into(),
            detail: serde_json::json!({ "address": address }),
        })
        .await?;
    Ok(see_other("/console"))
}

/// Ends this engineer's console sign-in in every browser: a copied cookie ends too.
async fn sign_out(
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    check_staff_csrf(&session, &form.csrf)?;
    sign_out_staff(&state, &session).await?;
    Ok(see_other(LOGIN_PATH))
}

/// Only a bounded prefix of what was typed: the field is free text from anyone.
fn bounded(email: &str) -> String {
    email.trim().chars().take(254).collect()
}

async fn audit_failure(
    state: &AppState,
    email: &str,
    address: &str,
    reason: &str,
) -> Result<(), AppError> {
    let email = bounded(email);
    tracing::info!(staff.email = %email, client.address = %address, reason, "console sign-in refused");
    state
        .store
        .append_audit(&NewAuditEntry {
            tenant_id: None,
            actor: "unknown".into(),
            action: "console.login_failed".into(),
            detail: serde_json::json!({ "email": email, "address": address, "reason": reason }),
        })
        .await?;
    Ok(())
}

async fn page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    message: Option<&str>,
    email: &str,
) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    context.insert("csrf", &staff_csrf_token(session)?);
    context.insert("message", &message);
    context.insert("email", email);
    context.insert(
        "no_account",
        &(state.store.staff_account_count().await? == 0),
    );
    context.insert(
        "password_file",
        &state
            .console
            .first_run_password_file
            .as_ref()
            .map(|p| p.display().to_string()),
    );
    let html = state.templates.render("console/login.html", &context)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

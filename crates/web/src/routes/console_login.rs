//! `GET/POST /console/login`, `POST /console/logout`: the support console's sign-in. Failures are
//! audited (the email tried and the client address, never the password) and throttled per
//! account and per address.

use actix_session::Session;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use dealbridge_core::audit::NewAuditEntry;
use secrecy::SecretString;
use serde::Deserialize;
use tera::Context;

use crate::login_throttle::{self, PER_ADDRESS, PER_EMAIL};
use crate::services::staff::{check_sign_in, normalize_email};
use crate::session::CsrfForm;
use crate::staff_session::{
    check_staff_csrf, is_signed_in, sign_in_staff, sign_out_staff, staff_csrf_token, LOGIN_PATH,
};
use crate::{AppError, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(LOGIN_PATH, web::get().to(show))
        .route(LOGIN_PATH, web::post().to(sign_in))
        .route("/console/logout", web::post().to(sign_out));
}

async fn show(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    if is_signed_in(&session) {
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
    let email_key = format!("email:{}", normalize_email(&email).unwrap_or_default());
    // The peer address, not X-Forwarded-For: a client can write that header itself.
    let address = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let address_key = format!("address:{address}");
    let store = state.store.as_ref();
    let now = chrono::Utc::now();
    let refused = match login_throttle::refused_for(store, &email_key, PER_EMAIL, now).await? {
        Some(wait) => Some(wait),
        None => login_throttle::refused_for(store, &address_key, PER_ADDRESS, now).await?,
    };
    if let Some(wait) = refused {
        audit_failure(&state, &email, &address, "throttled").await?;
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
    let Some(account) = check_sign_in(&state, &email, password).await? else {
        login_throttle::record_failure(store, &email_key, now).await?;
        login_throttle::record_failure(store, &address_key, now).await?;
        audit_failure(&state, &email, &address, "wrong email or password").await?;
        let message = "Wrong email or password.";
        return page(
            &state,
            &session,
            StatusCode::UNAUTHORIZED,
            Some(message),
            &email,
        )
        .await;
    };
    login_throttle::clear(store, &email_key).await?;
    state
        .store
        .record_staff_login(account.id, chrono::Utc::now())
        .await?;
    sign_in_staff(&session, &account)?;
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

async fn sign_out(session: Session, form: web::Form<CsrfForm>) -> Result<HttpResponse, AppError> {
    check_staff_csrf(&session, &form.csrf)?;
    sign_out_staff(&session);
    Ok(see_other(LOGIN_PATH))
}

async fn audit_failure(
    state: &AppState,
    email: &str,
    address: &str,
    reason: &str,
) -> Result<(), AppError> {
    // Only a bounded prefix of what was typed: the field is free text from anyone.
    let email: String = email.trim().chars().take(254).collect();
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

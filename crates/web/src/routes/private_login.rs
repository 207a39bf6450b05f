//! `GET/POST /login`: private mode's dashboard sign-in (no Pipedrive OAuth to sign in with). Only
//! `DEALBRIDGE_ADMIN_EMAIL` may sign in, with the password of the support console account of that
//! email (`dealbridge staff add EMAIL`): the same Argon2id check and the same throttle counters as
//! the console's sign-in, so using both forms gives a guesser no extra attempts. A success opens
//! an ordinary dashboard session (epochs, maximum age) for the one tenant; outside private mode
//! the route is 404.

use actix_session::Session;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use dealbridge_core::audit::NewAuditEntry;
use secrecy::SecretString;
use serde::Deserialize;
use tera::Context;

use crate::client_address::client_network;
use crate::login_throttle::{self, AttemptKeys};
use crate::services::staff::{check_sign_in, normalize_email};
use crate::services::staff_totp::checked;
use crate::session::sign_in as sign_in_dashboard;
use crate::staff_session::{check_staff_csrf, staff_csrf_token};
use crate::{AppError, AppState, PrivateDashboard};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(show))
        .route("/login", web::post().to(sign_in));
}

fn private(state: &AppState) -> Result<&PrivateDashboard, AppError> {
    state.private.as_deref().ok_or(AppError::NotFound)
}

async fn show(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    let private = private(&state)?;
    page(&state, private, &session, StatusCode::OK, None, "")
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    password: Option<SecretString>,
    /// The authenticator's current code, when the account has two-step sign-in on.
    code: Option<String>,
}

async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let private = private(&state)?;
    let LoginForm {
        csrf,
        email,
        password,
        code,
    } = form.into_inner();
    let refuse =
        |status, message: &str| page(&state, private, &session, status, Some(message), &email);
    if check_staff_csrf(&session, &csrf).is_err() {
        return refuse(
            StatusCode::FORBIDDEN,
            "The form expired. Please sign in again.",
        );
    }
    let address = client_network(&req);
    let normalized = normalize_email(&email).unwrap_or_default();
    let keys = AttemptKeys::new(&normalized, &address);
    let store = state.store.as_ref();
    if let Some(wait) = login_throttle::reserve(store, &keys, chrono::Utc::now()).await? {
        audit(
            &state,
            private,
            "unknown",
            "dashboard.login_throttled",
            &address,
        )
        .await?;
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let message = format!("Too many failed sign-ins. Try again in {minutes} minute(s).");
        return refuse(StatusCode::TOO_MANY_REQUESTS, &message);
    }
    let password = password.unwrap_or_else(|| SecretString::from(""));
    // Verified whoever it is, so a wrong email costs the same time as a wrong password.
    let account = check_sign_in(&state, &email, password).await?;
    let account = account.filter(|a| a.email == private.admin_email);
    let (admin, _) = checked(&state, account, code.as_deref()).await?;
    let Some(admin) = admin else {
        tracing::info!(client.address = %address, "dashboard sign-in refused");
        audit(
            &state,
            private,
            "unknown",
            "dashboard.login_failed",
            &address,
        )
        .await?;
        return refuse(
            StatusCode::UNAUTHORIZED,
            "Wrong email, password or two-step code.",
        );
    };
    login_throttle::clear(store, &keys).await?;
    sign_in_dashboard(store, &session, private.tenant_id, private.user_id).await?;
    let actor = format!("admin:{}", admin.email);
    audit(&state, private, &actor, "dashboard.login", &address).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard"))
        .finish())
}

/// The address only: never the password, and the email typed is not kept for a refusal (it is
/// free text from anyone).
async fn audit(
    state: &AppState,
    private: &PrivateDashboard,
    actor: &str,
    action: &str,
    address: &str,
) -> Result<(), AppError> {
    state
        .store
        .append_audit(&NewAuditEntry {
            tenant_id: Some(private.tenant_id),
            actor: actor.into(),
            action: action.into(),
            detail: serde_json::json!({ "address": address }),
        })
        .await?;
    Ok(())
}

fn page(
    state: &AppState,
    private: &PrivateDashboard,
    session: &Session,
    status: StatusCode,
    message: Option<&str>,
    email: &str,
) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    context.insert("csrf", &staff_csrf_token(session)?);
    context.insert("message", &message);
    context.insert("email", email);
    context.insert("company_name", &private.company_name);
    let html = state.templates.render("private_login.html", &context)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html))
}

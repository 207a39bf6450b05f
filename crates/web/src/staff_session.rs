//! The support console's sign-in. It lives in the same encrypted cookie as the dashboard's but
//! under its own keys, with its own CSRF token, so neither sign-in grants or ends the other.
//!
//! Every console request is checked against the server's side by [`require_staff`]: the sign-in
//! is younger than `AppState::session_max_age`, the account still exists (removing it ends its
//! sessions), and the session's epoch is the account's current one (logout bumps it, ending every
//! copy of the cookie). The account's role is read at the same time: a viewer's POST to anything
//! but signing in and out is refused with 403 here, before any handler runs.

use actix_session::{Session, SessionExt};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use chrono::Utc;
use dealbridge_storage::{staff_subject, StaffAccount, StaffRole, Store};
use std::future::{ready, Ready};

use crate::session::{check_token, fresh, internal};
use crate::{AppError, AppState};

const STAFF_EMAIL: &str = "staff_email";
const STAFF_ID: &str = "staff_id";
const STAFF_EPOCH: &str = "staff_epoch";
const STAFF_SINCE: &str = "staff_since";
const STAFF_CSRF: &str = "staff_csrf";
pub const LOGIN_PATH: &str = "/console/login";
/// Console paths open to anyone: the sign-in form and signing out.
const PUBLIC_PATHS: [&str; 2] = [LOGIN_PATH, "/console/logout"];

/// A signed-in support engineer, as checked by [`require_staff`] for this request.
#[derive(Debug, Clone)]
pub struct StaffUser {
    pub id: i64,
    pub email: String,
    pub role: StaffRole,
}

impl StaffUser {
    /// How audit entries name them.
    pub fn actor(&self) -> String {
        format!("staff:{}", self.email)
    }
}

impl FromRequest for StaffUser {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    /// Only what the guard put there: outside the guarded scope this always sends to sign-in.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<StaffUser>()
                .cloned()
                .ok_or_else(to_login),
        )
    }
}

/// The `/console` scope's guard: authorisation for support staff lives here and nowhere else.
/// Requests without a live sign-in are sent to the sign-in page (its paths excepted). Every answer
/// from the scope is `no-store` (other companies' data) and may not be framed by anyone.
pub async fn require_staff(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no AppState")))?;
    if !PUBLIC_PATHS.contains(&req.path()) {
        let session = req.get_session();
        let refusal = match signed_in_staff(&state, &session).await {
            // Reading is for every role; any other method is an action.
            Ok(Some(staff)) if !staff.role.can_act() && !is_read(req.method()) => Some(
                AppError::Forbidden("viewers of the console cannot act; ask an operator").into(),
            ),
            Ok(Some(staff)) => {
                req.extensions_mut().insert(staff);
                None
            }
            Ok(None) => {
                forget(&session);
                Some(to_login())
            }
            Err(err) => Some(err.into()),
        };
        if let Some(refusal) = refusal {
            let mut refused = req.error_response(refusal);
            crate::middleware::console_headers(refused.headers_mut());
            return Ok(refused.map_into_right_body());
        }
    }
    let mut response = next.call(req).await?;
    crate::middleware::console_headers(response.headers_mut());
    Ok(response.map_into_left_body())
}

fn is_read(method: &actix_web::http::Method) -> bool {
    use actix_web::http::Method;
    [Method::GET, Method::HEAD].contains(method)
}

/// The engineer this session names, if the sign-in is young enough, the account still exists and
/// the epoch is current.
pub async fn signed_in_staff(
    state: &AppState,
    session: &Session,
) -> Result<Option<StaffUser>, AppError> {
    let email = session.get::<String>(STAFF_EMAIL).ok().flatten();
    let get = |key| session.get::<i64>(key).ok().flatten();
    let (Some(email), Some(id), Some(epoch), Some(since)) =
        (email, get(STAFF_ID), get(STAFF_EPOCH), get(STAFF_SINCE))
    else {
        return Ok(None);
    };
    if !fresh(since, state.session_max_age) {
        return Ok(None);
    }
    let store = state.store.as_ref();
    // Two independent reads, so at once: every console page waits for them.
    let subject = staff_subject(id);
    let (account, current) = futures::try_join!(
        store.staff_account_by_email(&email),
        store.session_epoch(&subject),
    )?;
    // The id, not only the email: an account removed and added again is a new sign-in.
    let Some(account) = account.filter(|account| account.id == id) else {
        return Ok(None);
    };
    if current != epoch {
        return Ok(None);
    }
    Ok(Some(StaffUser {
        id,
        email,
        role: account.role,
    }))
}

fn to_login() -> actix_web::Error {
    let response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, LOGIN_PATH))
        .finish();
    actix_web::error::InternalError::from_response("sign in to the support console", response)
        .into()
}

/// A fresh cookie (so a fixated one is useless) carrying the engineer, the account's current
/// epoch and a new form token.
pub async fn sign_in_staff(
    store: &dyn Store,
    session: &Session,
    account: &StaffAccount,
) -> Result<(), AppError> {
    let epoch = store.session_epoch(&staff_subject(account.id)).await?;
    session.renew();
    session
        .insert(STAFF_EMAIL, &account.email)
        .map_err(internal)?;
    session.insert(STAFF_ID, account.id).map_err(internal)?;
    session.insert(STAFF_EPOCH, epoch).map_err(internal)?;
    session
        .insert(STAFF_SINCE, Utc::now().timestamp())
        .map_err(internal)?;
    new_token(session)?;
    Ok(())
}

/// Ends the console sign-in: every copy of this engineer's cookie when one is signed in (the
/// epoch is bumped), and this cookie's console keys in any case. A dashboard session in the same
/// cookie stays.
pub async fn sign_out_staff(state: &AppState, session: &Session) -> Result<(), AppError> {
    if let Some(staff) = signed_in_staff(state, session).await? {
        state
            .store
            .bump_session_epoch(&staff_subject(staff.id))
            .await?;
    }
    forget(session);
    session.renew();
    Ok(())
}

fn forget(session: &Session) {
    for key in [STAFF_EMAIL, STAFF_ID, STAFF_EPOCH, STAFF_SINCE, STAFF_CSRF] {
        session.remove(key);
    }
}

/// The console's form token, created on first use: the sign-in form needs one before anyone is
/// signed in, so a third-party page cannot sign a browser into an account of its choosing.
pub fn staff_csrf_token(session: &Session) -> Result<String, AppError> {
    match session.get::<String>(STAFF_CSRF).ok().flatten() {
        Some(token) => Ok(token),
        None => new_token(session),
    }
}

pub fn check_staff_csrf(session: &Session, submitted: &str) -> Result<(), AppError> {
    check_token(session, STAFF_CSRF, submitted)
}

fn new_token(session: &Session) -> Result<String, AppError> {
    let token = uuid::Uuid::new_v4().simple().to_string();
    session.insert(STAFF_CSRF, &token).map_err(internal)?;
    Ok(token)
}

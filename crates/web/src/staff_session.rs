//! The support console's sign-in. It lives in the same encrypted cookie as the dashboard's but
//! under its own keys, with its own CSRF token, so neither sign-in grants or ends the other. A
//! console sign-in lasts at most `MAX_AGE`, whatever the browser does with the cookie.

use std::future::{ready, Ready};

use actix_session::{Session, SessionExt};
use actix_web::http::header;
use actix_web::{dev::Payload, FromRequest, HttpRequest, HttpResponse};
use chrono::Utc;
use dealbridge_storage::StaffAccount;

use crate::session::{check_token, internal};
use crate::AppError;

const STAFF_EMAIL: &str = "staff_email";
const STAFF_SINCE: &str = "staff_since";
const STAFF_CSRF: &str = "staff_csrf";
const MAX_AGE_SECS: i64 = 12 * 3600;
pub const LOGIN_PATH: &str = "/console/login";

/// A signed-in support engineer. Requests without one are sent to the console's sign-in page.
#[derive(Debug, Clone)]
pub struct StaffUser {
    pub email: String,
}

impl StaffUser {
    /// How audit entries name them.
    pub fn actor(&self) -> String {
        format!("staff:{}", self.email)
    }

    fn from_session(session: &Session) -> Option<Self> {
        let email = session.get::<String>(STAFF_EMAIL).ok().flatten()?;
        let since = session.get::<i64>(STAFF_SINCE).ok().flatten()?;
        (Utc::now().timestamp() - since < MAX_AGE_SECS).then_some(Self { email })
    }
}

impl FromRequest for StaffUser {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(StaffUser::from_session(&req.get_session()).ok_or_else(to_login))
    }
}

fn to_login() -> actix_web::Error {
    let response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, LOGIN_PATH))
        .finish();
    actix_web::error::InternalError::from_response("sign in to the support console", response)
        .into()
}

/// Whether this browser is signed in to the console (the sign-in page skips itself then).
pub fn is_signed_in(session: &Session) -> bool {
    StaffUser::from_session(session).is_some()
}

/// A fresh cookie (so a fixated one is useless) carrying the engineer and a new form token.
pub fn sign_in_staff(session: &Session, account: &StaffAccount) -> Result<(), AppError> {
    session.renew();
    session
        .insert(STAFF_EMAIL, &account.email)
        .map_err(internal)?;
    session
        .insert(STAFF_SINCE, Utc::now().timestamp())
        .map_err(internal)?;
    new_token(session)?;
    Ok(())
}

/// Ends the console sign-in only; a dashboard session in the same cookie stays.
pub fn sign_out_staff(session: &Session) {
    for key in [STAFF_EMAIL, STAFF_SINCE, STAFF_CSRF] {
        session.remove(key);
    }
    session.renew();
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

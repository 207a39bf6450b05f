//! The dashboard session: which tenant and Pipedrive user this browser acts as. The cookie is
//! signed and encrypted (actix-session), `HttpOnly`, and `SameSite=None; Secure` when served over
//! HTTPS so it also works inside Pipedrive's iframe. The support console keeps its sign-in in the
//! same cookie under keys of its own (see `staff_session`).

use std::future::{ready, Ready};

use actix_session::{Session, SessionExt};
use actix_web::{dev::Payload, FromRequest, HttpRequest};
use dealbridge_core::{TenantId, UserId};

use crate::AppError;

const TENANT: &str = "tenant_id";
const USER: &str = "user_id";
const CSRF: &str = "csrf";
pub(crate) const OAUTH_NONCE: &str = "oauth_nonce";

/// The shortest session key cookies can be signed and encrypted with (actix's `Key` needs 64
/// bytes: half signs, half encrypts).
pub const MIN_SESSION_KEY_BYTES: usize = 64;

/// Cookie sessions, encrypted and signed with `key` (at least [`MIN_SESSION_KEY_BYTES`]). Over HTTPS the cookie is
/// `SameSite=None; Secure` so it survives inside Pipedrive's iframe; over plain HTTP (local runs)
/// browsers refuse `None` without `Secure`, so it falls back to `Lax`.
pub fn session_middleware(
    key: &[u8],
    https: bool,
) -> actix_session::SessionMiddleware<actix_session::storage::CookieSessionStore> {
    use actix_web::cookie::{Key, SameSite};
    actix_session::SessionMiddleware::builder(
        actix_session::storage::CookieSessionStore::default(),
        Key::from(key),
    )
    .cookie_name("dealbridge_session".into())
    .cookie_http_only(true)
    .cookie_secure(https)
    .cookie_same_site(if https { SameSite::None } else { SameSite::Lax })
    .build()
}

/// A signed-in dashboard user. Handlers that take it refuse requests without a session.
#[derive(Debug, Clone, Copy)]
pub struct DashboardUser {
    pub tenant_id: TenantId,
    pub user_id: UserId,
}

impl FromRequest for DashboardUser {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let tenant = session.get::<TenantId>(TENANT).ok().flatten();
        let user = session.get::<i64>(USER).ok().flatten();
        ready(match (tenant, user) {
            (Some(tenant_id), Some(user)) => Ok(Self {
                tenant_id,
                user_id: UserId::new(user),
            }),
            _ => Err(AppError::Unauthorized(
                "sign in through Pipedrive to open the dashboard",
            )),
        })
    }
}

/// Starts a fresh session for the user (a new cookie, so a fixated one is useless).
pub fn sign_in(session: &Session, tenant_id: TenantId, user_id: UserId) -> Result<(), AppError> {
    session.renew();
    session.insert(TENANT, tenant_id).map_err(internal)?;
    session.insert(USER, user_id.get()).map_err(internal)?;
    session
        .insert(CSRF, uuid::Uuid::new_v4().simple().to_string())
        .map_err(internal)?;
    Ok(())
}

/// The form token that state-changing dashboard posts must echo.
pub fn csrf_token(session: &Session) -> Option<String> {
    session.get::<String>(CSRF).ok().flatten()
}

/// A form whose only field is its CSRF token (retry, disconnect, sign-out buttons). A missing
/// token reads as empty, so it is refused by the check rather than by the form parser.
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub fn check_csrf(session: &Session, submitted: &str) -> Result<(), AppError> {
    check_token(session, CSRF, submitted)
}

/// Compares the form's token with the one stored under `key`, in constant time.
pub(crate) fn check_token(session: &Session, key: &str, submitted: &str) -> Result<(), AppError> {
    use subtle::ConstantTimeEq;
    match session.get::<String>(key).ok().flatten() {
        Some(expected) if bool::from(expected.as_bytes().ct_eq(submitted.as_bytes())) => Ok(()),
        _ => Err(AppError::Forbidden(
            "the form expired; reload the page and try again",
        )),
    }
}

/// Ends the dashboard session only: the same cookie may also carry a support-console sign-in.
pub fn sign_out(session: &Session) {
    for key in [TENANT, USER, CSRF] {
        session.remove(key);
    }
    session.renew();
}

pub(crate) fn internal(err: impl std::error::Error + Send + Sync + 'static) -> AppError {
    AppError::Internal(anyhow::Error::new(err))
}

//! The dashboard session: which tenant and Pipedrive user this browser acts as. The cookie is
//! signed and encrypted (actix-session), `HttpOnly`, and `SameSite=None; Secure` when served over
//! HTTPS so it also works inside Pipedrive's iframe. The support console keeps its sign-in in the
//! same cookie under keys of its own (see `staff_session`).
//!
//! A cookie alone cannot be revoked, so every request also checks the server's side (see
//! [`require_dashboard`]): the session's age against `AppState::session_max_age`, the installation
//! (still there, not uninstalled) and its session epoch, which logout, Disconnect and uninstall bump
//! so that every copy of every cookie of that user ends at once, on every instance.

use std::future::{ready, Ready};

use actix_session::{Session, SessionExt};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::Utc;
use dealbridge_core::installation::{Installation, InstallationStatus};
use dealbridge_core::tenant::{Tenant, TenantStatus};
use dealbridge_core::{TenantId, UserId};
use dealbridge_storage::{installation_subject, Store};

use crate::{AppError, AppState};

const TENANT: &str = "tenant_id";
const USER: &str = "user_id";
const EPOCH: &str = "epoch";
const SINCE: &str = "since";
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

/// A signed-in dashboard user, with their tenant and installation as loaded once for this
/// request by [`require_dashboard`] (which every `/dashboard` route sits behind).
#[derive(Debug, Clone)]
pub struct DashboardUser {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub tenant: Tenant,
    pub installation: Installation,
}

impl DashboardUser {
    /// Who the audit log names for what this user does.
    pub fn actor(&self) -> String {
        format!("pipedrive_user:{}", self.user_id)
    }
}

impl FromRequest for DashboardUser {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    /// Only what the guard put there: a handler mounted outside the guarded scope gets a refusal,
    /// never an unchecked session.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<DashboardUser>()
                .cloned()
                .ok_or(SIGN_IN_FIRST),
        )
    }
}

const SIGN_IN_FIRST: AppError =
    AppError::Unauthorized("sign in through Pipedrive to open the dashboard");

/// Private mode has no Pipedrive sign-in: its admin signs in at `/login`.
const PRIVATE_SIGN_IN_FIRST: AppError =
    AppError::Unauthorized("sign in at /login to open the dashboard");

/// The `/dashboard` scope's guard: authorisation for tenant admins lives here and nowhere else.
/// Refuses (401) requests whose session is missing, too old, of an older epoch, or of a tenant or
/// installation that is gone or uninstalled; a refused session is cleared from the cookie. Every
/// answer from the scope is marked `no-store`: it shows one company's data.
pub async fn require_dashboard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no AppState")))?;
    let session = req.get_session();
    let authorised = match authorise(&state, &session).await {
        Ok(authorised) => authorised,
        Err(err) => return Ok(req.error_response(err).map_into_right_body()),
    };
    match authorised {
        Some(user) => {
            if let Some(span) = req.extensions().get::<tracing_actix_web::RootSpan>() {
                span.record("tenant.id", tracing::field::display(user.tenant_id));
            }
            req.extensions_mut().insert(user);
        }
        None => {
            forget(&session);
            let refusal = match state.private {
                Some(_) => PRIVATE_SIGN_IN_FIRST,
                None => SIGN_IN_FIRST,
            };
            let mut refused = req.error_response(refusal);
            crate::middleware::no_store(refused.headers_mut());
            return Ok(refused.map_into_right_body());
        }
    }
    let mut response = next.call(req).await?;
    crate::middleware::no_store(response.headers_mut());
    Ok(response.map_into_left_body())
}

/// The user the session names, if everything the server knows still agrees with it.
pub(crate) async fn authorise(
    state: &AppState,
    session: &Session,
) -> Result<Option<DashboardUser>, AppError> {
    let get = |key| session.get::<i64>(key).ok().flatten();
    let tenant_id = session.get::<TenantId>(TENANT).ok().flatten();
    let (Some(tenant_id), Some(user), Some(epoch), Some(since)) =
        (tenant_id, get(USER), get(EPOCH), get(SINCE))
    else {
        return Ok(None);
    };
    if !fresh(since, state.session_max_age) {
        return Ok(None);
    }
    let user_id = UserId::new(user);
    let store = state.store.as_ref();
    if let Some(private) = &state.private {
        // Private mode serves one installation, opened by its admin only: removing the admin's
        // account (`dealbridge staff remove`) ends their dashboard sessions too.
        let ours = tenant_id == private.tenant_id && user_id == private.user_id;
        if !ours
            || store
                .staff_account_by_email(&private.admin_email)
                .await?
                .is_none()
        {
            return Ok(None);
        }
    }
    // Three independent reads, so at once: every page of the dashboard waits for them.
    let subject = installation_subject(tenant_id, user_id);
    let (tenant, installation, current) = futures::try_join!(
        store.tenant(tenant_id),
        // Scoped by the session's tenant: an installation of another tenant is never found.
        store.installation(tenant_id, user_id),
        store.session_epoch(&subject),
    )?;
    let (Some(tenant), Some(installation)) = (tenant, installation) else {
        return Ok(None);
    };
    let live = tenant.status != TenantStatus::Uninstalled
        && installation.status != InstallationStatus::Uninstalled;
    Ok((live && current == epoch).then_some(DashboardUser {
        tenant_id,
        user_id,
        tenant,
        installation,
    }))
}

/// Whether a session started at `since` (Unix seconds) is younger than `max_age`.
pub(crate) fn fresh(since: i64, max_age: std::time::Duration) -> bool {
    let age = Utc::now().timestamp() - since;
    (0..i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX)).contains(&age)
}

/// Starts a fresh session for the user (a new cookie, so a fixated one is useless), under the
/// installation's current epoch.
pub async fn sign_in(
    store: &dyn Store,
    session: &Session,
    tenant_id: TenantId,
    user_id: UserId,
) -> Result<(), AppError> {
    let epoch = store
        .session_epoch(&installation_subject(tenant_id, user_id))
        .await?;
    session.renew();
    session.insert(TENANT, tenant_id).map_err(internal)?;
    session.insert(USER, user_id.get()).map_err(internal)?;
    session.insert(EPOCH, epoch).map_err(internal)?;
    session
        .insert(SINCE, Utc::now().timestamp())
        .map_err(internal)?;
    session
        .insert(CSRF, uuid::Uuid::new_v4().simple().to_string())
        .map_err(internal)?;
    Ok(())
}

/// Ends every session of the user, everywhere (this cookie and any copy of it), then clears this
/// cookie's dashboard keys.
pub async fn sign_out_everywhere(
    store: &dyn Store,
    session: &Session,
    user: &DashboardUser,
) -> Result<(), AppError> {
    store
        .bump_session_epoch(&installation_subject(user.tenant_id, user.user_id))
        .await?;
    sign_out(session);
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
    forget(session);
    session.renew();
}

fn forget(session: &Session) {
    for key in [TENANT, USER, EPOCH, SINCE, CSRF] {
        session.remove(key);
    }
}

pub(crate) fn internal(err: impl std::error::Error + Send + Sync + 'static) -> AppError {
    AppError::Internal(anyhow::Error::new(err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sessions_end_at_their_maximum_age() {
        let now = Utc::now().timestamp();
        let hour = Duration::from_secs(3600);
        assert!(fresh(now - 10, hour));
        assert!(!fresh(now - 3600, hour), "at the maximum age");
        assert!(!fresh(now + 120, hour), "from the future");
    }
}

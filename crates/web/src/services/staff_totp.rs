//! Optional two-step sign-in for support staff (RFC 6238 codes from an authenticator app).
//! `dealbridge staff totp EMAIL` turns it on and shows the secret once; from then on the console's
//! sign-in asks the account for a current code as well as its password. The secret is stored
//! sealed with the app's keys, bound to the account's email; each code is accepted once.

use dealbridge_core::audit::NewAuditEntry;
use dealbridge_crypto::{Aad, ExposeSecret, KeyRing, Sealed, SecretString};
use dealbridge_storage::{StaffAccount, Store};
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::staff::{normalize_email, StaffAccountError};

const ISSUER: &str = "Dealbridge console";

/// What the engineer adds to their authenticator app; shown once, never stored in clear.
pub struct Enrolment {
    /// `otpauth://totp/...`: what a QR code would carry.
    pub url: SecretString,
    /// The same secret in base32, for typing in.
    pub secret: SecretString,
}

fn aad(email: &str) -> Aad {
    Aad::new("staff_totp", &[email])
}

/// SHA-1, six digits, 30-second steps, one step of clock skew either way: what authenticator
/// apps support everywhere.
fn totp(secret: Vec<u8>, email: &str) -> Result<Totp, StaffAccountError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_account_name(email)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| StaffAccountError::TwoStep(anyhow::anyhow!("two-step secret: {e}")))
}

/// Turns two-step sign-in on for `email` with a new secret (replacing any earlier one).
pub async fn enable(
    store: &dyn Store,
    keys: &KeyRing,
    email: &str,
    actor: &str,
) -> Result<Enrolment, StaffAccountError> {
    let email = normalize_email(email).ok_or_else(|| StaffAccountError::BadEmail(email.into()))?;
    let secret = Secret::generate();
    let totp = totp(secret.as_bytes().to_vec(), &email)?;
    let encoded = SecretString::from(secret.to_base32());
    let sealed = keys
        .encrypt(&encoded, &aad(&email))
        .map_err(|e| StaffAccountError::TwoStep(anyhow::Error::new(e)))?;
    if !store
        .set_staff_totp(&email, Some(&sealed.to_base64()))
        .await?
    {
        return Err(StaffAccountError::Unknown(email));
    }
    audit(store, actor, "staff.two_step_on", &email).await?;
    let url = totp
        .to_url()
        .map_err(|e| StaffAccountError::TwoStep(anyhow::anyhow!("two-step URL: {e}")))?;
    Ok(Enrolment {
        url: SecretString::from(url),
        secret: encoded,
    })
}

/// Turns two-step sign-in off for `email`.
pub async fn disable(store: &dyn Store, email: &str, actor: &str) -> Result<(), StaffAccountError> {
    let email = normalize_email(email).ok_or_else(|| StaffAccountError::BadEmail(email.into()))?;
    if !store.set_staff_totp(&email, None).await? {
        return Err(StaffAccountError::Unknown(email));
    }
    audit(store, actor, "staff.two_step_off", &email).await
}

async fn audit(
    store: &dyn Store,
    actor: &str,
    action: &str,
    email: &str,
) -> Result<(), StaffAccountError> {
    let entry = NewAuditEntry {
        tenant_id: None,
        actor: actor.into(),
        action: action.into(),
        detail: serde_json::json!({ "email": email }),
    };
    store.append_audit(&entry).await?;
    Ok(())
}

/// Whether `code` lets `account` sign in: always for an account without two-step sign-in;
/// otherwise a current code, not used before. A secret that does not open is a refusal (and
/// logged), never a way in.
pub async fn code_accepted(
    store: &dyn Store,
    keys: &KeyRing,
    account: &StaffAccount,
    code: Option<&str>,
) -> Result<bool, StaffAccountError> {
    let Some(sealed) = &account.totp_secret else {
        return Ok(true);
    };
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(false);
    };
    let opened = Sealed::from_base64(sealed).and_then(|s| keys.decrypt(&s, &aad(&account.email)));
    let secret = match opened {
        Ok(secret) => secret,
        Err(err) => {
            tracing::error!(account.id = account.id, error = %err, "a two-step secret does not open");
            return Ok(false);
        }
    };
    let bytes = Secret::try_from_base32(secret.expose_secret())
        .map_err(|e| StaffAccountError::TwoStep(anyhow::anyhow!("two-step secret: {e:?}")))?;
    let Some(step) = totp(bytes.as_bytes().to_vec(), &account.email)?.check_current(code) else {
        return Ok(false);
    };
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    Ok(store.accept_totp_step(account.id, step).await?)
}

/// `account` if `code` lets it sign in (see [`code_accepted`]); second, whether a right
/// password met a wrong or missing code (for the audit log, never for the answer).
pub async fn checked(
    state: &crate::AppState,
    account: Option<StaffAccount>,
    code: Option<&str>,
) -> Result<(Option<StaffAccount>, bool), crate::AppError> {
    let Some(account) = account else {
        return Ok((None, false));
    };
    let store = state.store.as_ref();
    let accepted = code_accepted(store, &state.keys, &account, code)
        .await
        .map_err(|e| crate::AppError::Internal(anyhow::Error::new(e)))?;
    Ok(if accepted {
        (Some(account), false)
    } else {
        (None, true)
    })
}

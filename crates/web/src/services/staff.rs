//! Staff accounts of the support console: creating one (the `staff add` command and the offline
//! first run), changing its role and removing it (each audited, as entries of no tenant), and
//! checking a sign-in. Passwords are hashed with Argon2id at the crate's default
//! parameters and stored as PHC strings; hashing runs on the blocking pool since it takes tens of
//! milliseconds of CPU by design.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_storage::{NewStaffAccount, StaffAccount, StaffRole, Store, StoreError};
use secrecy::{ExposeSecret, SecretString};

use crate::{AppError, AppState};

pub const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum StaffAccountError {
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    #[error("{0:?} is not an email address")]
    BadEmail(String),
    #[error("a staff account for {0} exists already")]
    Exists(String),
    #[error("no support console account for {0}")]
    Unknown(String),
    #[error("hashing the password failed")]
    Hash(#[source] anyhow::Error),
    #[error("the two-step sign-in secret could not be made, sealed or read")]
    TwoStep(#[source] anyhow::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Emails are compared in lower case, without surrounding blanks.
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && !domain.is_empty()
        && email.len() <= 254
        && !email.chars().any(char::is_whitespace);
    plausible.then_some(email)
}

/// Creates the account with `role`; `actor` (who ran the command) is written to the audit log.
pub async fn add_account(
    store: &dyn Store,
    email: &str,
    password: SecretString,
    role: StaffRole,
    actor: &str,
) -> Result<StaffAccount, StaffAccountError> {
    let email = normalize_email(email).ok_or_else(|| StaffAccountError::BadEmail(email.into()))?;
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(StaffAccountError::PasswordTooShort);
    }
    let password_hash = hash_blocking(password)
        .await
        .map_err(|e| StaffAccountError::Hash(anyhow::Error::new(e)))?;
    let new = NewStaffAccount {
        email: email.clone(),
        password_hash,
        role,
    };
    let account = match store.create_staff_account(&new).await {
        Err(StoreError::StaffEmailTaken) => return Err(StaffAccountError::Exists(email)),
        other => other?,
    };
    let detail = serde_json::json!({ "email": account.email, "role": role.as_str() });
    audit(store, actor, "staff.added", detail).await?;
    Ok(account)
}

/// Gives the account `role` and audits the change; returns the role it had. Setting the role it
/// already has changes nothing and writes no entry.
pub async fn change_role(
    store: &dyn Store,
    email: &str,
    role: StaffRole,
    actor: &str,
) -> Result<StaffRole, StaffAccountError> {
    let email = normalize_email(email).ok_or_else(|| StaffAccountError::BadEmail(email.into()))?;
    let before = store
        .staff_account_by_email(&email)
        .await?
        .ok_or_else(|| StaffAccountError::Unknown(email.clone()))?
        .role;
    if before == role {
        return Ok(before);
    }
    if !store.set_staff_role(&email, role).await? {
        return Err(StaffAccountError::Unknown(email));
    }
    let detail =
        serde_json::json!({ "email": email, "from": before.as_str(), "to": role.as_str() });
    audit(store, actor, "staff.role_changed", detail).await?;
    Ok(before)
}

/// Removes the account (its sessions end at their next request) and audits the removal; returns
/// the email as stored.
pub async fn remove_account(
    store: &dyn Store,
    email: &str,
    actor: &str,
) -> Result<String, StaffAccountError> {
    let email = normalize_email(email).ok_or_else(|| StaffAccountError::BadEmail(email.into()))?;
    if !store.delete_staff_account(&email).await? {
        return Err(StaffAccountError::Unknown(email));
    }
    let detail = serde_json::json!({ "email": email });
    audit(store, actor, "staff.removed", detail).await?;
    Ok(email)
}

/// Staff accounts belong to no tenant, so neither do their entries.
async fn audit(
    store: &dyn Store,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    store
        .append_audit(&NewAuditEntry {
            tenant_id: None,
            actor: actor.to_string(),
            action: action.to_string(),
            detail,
        })
        .await
        .map(|_| ())
}

/// The account whose email and password these are, or `None`. Unknown emails are checked against
/// a stand-in hash so they take as long as wrong passwords.
pub async fn check_sign_in(
    state: &AppState,
    email: &str,
    password: SecretString,
) -> Result<Option<StaffAccount>, AppError> {
    // Made before the lookup, whoever asks first, so that making it slows no one kind of attempt.
    let dummy = state.console.dummy_hash().await?;
    let account = match normalize_email(email) {
        Some(email) => state.store.staff_account_by_email(&email).await?,
        None => None,
    };
    let hash = match &account {
        Some(account) => account.password_hash.clone(),
        None => dummy.to_string(),
    };
    let matches = tokio::task::spawn_blocking(move || verify(&hash, &password))
        .await
        .map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
    Ok(account.filter(|_| matches))
}

pub(crate) async fn hash_blocking(password: SecretString) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| AppError::Internal(anyhow::Error::new(e)))?
        .map_err(|e| AppError::Internal(anyhow::anyhow!("argon2: {e}")))
}

fn hash(password: &SecretString) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)?
        .to_string())
}

/// The parameters come from the stored PHC string, so older hashes keep verifying after the
/// defaults change.
fn verify(hash: &str, password: &SecretString) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok(),
        Err(err) => {
            tracing::error!(error.cause = %err, "a stored staff password hash is unreadable");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let password = SecretString::from("correct horse battery");
        let stored = hash(&password).unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("correct horse"));
        assert!(verify(&stored, &password));
        assert!(!verify(
            &stored,
            &SecretString::from("correct horse battery!")
        ));
        assert!(!verify("not a phc string", &password));
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Dealbridge.Test "),
            Some("ada@dealbridge.test".to_string())
        );
        for bad in ["", "ada", "@x", "ada@", "a da@x.test"] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
    }
}

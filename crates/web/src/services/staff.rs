//! Staff accounts of the support console: creating one (the `staff add` command and the offline
//! first run) and checking a sign-in. Passwords are hashed with Argon2id at the crate's default
//! parameters and stored as PHC strings; hashing runs on the blocking pool since it takes tens of
//! milliseconds of CPU by design.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use dealbridge_storage::{NewStaffAccount, StaffAccount, Store, StoreError};
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
    #[error("hashing the password failed")]
    Hash(#[source] anyhow::Error),
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

pub async fn add_account(
    store: &dyn Store,
    email: &str,
    password: SecretString,
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
    };
    match store.create_staff_account(&new).await {
        Err(StoreError::StaffEmailTaken) => Err(StaffAccountError::Exists(email)),
        other => Ok(other?),
    }
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

//! Sealing and opening one installation's token pair.

use chrono::{DateTime, Utc};
use dealbridge_core::installation::SealedTokens;
use dealbridge_core::{CompanyId, UserId};
use dealbridge_crypto::{Aad, CryptoError, KeyRing, Sealed, SecretString};

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Deliberately says nothing about which part failed: no oracle for tampering.
    #[error("stored tokens could not be opened")]
    Open(#[source] CryptoError),
    #[error("tokens could not be sealed")]
    Seal(#[source] CryptoError),
}

/// A decrypted token pair. `Debug` shows only that the tokens are there.
pub struct OpenTokens {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub access_expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for OpenTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenTokens")
            .field("access_token", &"[REDACTED]")
            .field("refresh_token", &"[REDACTED]")
            .field("access_expires_at", &self.access_expires_at)
            .finish()
    }
}

pub(crate) fn aad(company: CompanyId, user: UserId, column: &str) -> Aad {
    Aad::new(
        "installation",
        &[&company.to_string(), &user.to_string(), column],
    )
}

/// Encrypts both tokens under the active key, bound to the installation and to their column.
pub fn seal(
    keys: &KeyRing,
    company: CompanyId,
    user: UserId,
    access_token: &SecretString,
    refresh_token: &SecretString,
    access_expires_at: DateTime<Utc>,
) -> Result<SealedTokens, SealError> {
    let access = keys
        .encrypt(access_token, &aad(company, user, "access_token"))
        .map_err(SealError::Seal)?;
    let refresh = keys
        .encrypt(refresh_token, &aad(company, user, "refresh_token"))
        .map_err(SealError::Seal)?;
    Ok(SealedTokens {
        key_id: keys.active_key_id().to_string(),
        access_token: access.into_bytes(),
        refresh_token: refresh.into_bytes(),
        access_expires_at,
    })
}

/// Decrypts both tokens; fails if either was tampered with, moved, or sealed under an unknown key.
pub fn open(
    keys: &KeyRing,
    company: CompanyId,
    user: UserId,
    sealed: &SealedTokens,
) -> Result<OpenTokens, SealError> {
    let access = Sealed::from_bytes(&sealed.access_token).map_err(SealError::Open)?;
    let refresh = Sealed::from_bytes(&sealed.refresh_token).map_err(SealError::Open)?;
    Ok(OpenTokens {
        access_token: keys
            .decrypt(&access, &aad(company, user, "access_token"))
            .map_err(SealError::Open)?,
        refresh_token: keys
            .decrypt(&refresh, &aad(company, user, "refresh_token"))
            .map_err(SealError::Open)?,
        access_expires_at: sealed.access_expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dealbridge_crypto::ExposeSecret;

    fn ring() -> KeyRing {
        KeyRing::generate("test").unwrap().0
    }

    fn pair() -> (SecretString, SecretString) {
        ("v1u:access-AAAA".into(), "1:1:refresh-BBBB".into())
    }

    #[test]
    fn sealed_tokens_open_for_their_installation_only() {
        let keys = ring();
        let (access, refresh) = pair();
        let (company, user) = (CompanyId::new(7), UserId::new(70));
        let sealed = seal(&keys, company, user, &access, &refresh, Utc::now()).unwrap();

        let haystack = [&sealed.access_token[..], &sealed.refresh_token[..]].concat();
        for secret in ["access-AAAA", "refresh-BBBB"] {
            assert!(
                !haystack
                    .windows(secret.len())
                    .any(|w| w == secret.as_bytes()),
                "{secret} stored in clear"
            );
        }
        assert_eq!(sealed.key_id, "test");

        let opened = open(&keys, company, user, &sealed).unwrap();
        assert_eq!(opened.access_token.expose_secret(), "v1u:access-AAAA");
        assert_eq!(opened.refresh_token.expose_secret(), "1:1:refresh-BBBB");
        assert!(
            !format!("{opened:?}").contains("AAAA"),
            "Debug leaks a token"
        );

        assert!(
            open(&keys, company, UserId::new(71), &sealed).is_err(),
            "other user"
        );
        assert!(
            open(&keys, CompanyId::new(8), user, &sealed).is_err(),
            "other company"
        );
    }

    #[test]
    fn swapped_or_tampered_columns_do_not_open() {
        let keys = ring();
        let (access, refresh) = pair();
        let (company, user) = (CompanyId::new(1), UserId::new(2));
        let sealed = seal(&keys, company, user, &access, &refresh, Utc::now()).unwrap();

        let mut swapped = sealed.clone();
        std::mem::swap(&mut swapped.access_token, &mut swapped.refresh_token);
        assert!(open(&keys, company, user, &swapped).is_err());

        let mut tampered = sealed.clone();
        let last = tampered.refresh_token.len() - 1;
        tampered.refresh_token[last] ^= 1;
        assert!(open(&keys, company, user, &tampered).is_err());
        assert!(
            open(&ring(), company, user, &sealed).is_err(),
            "another key ring"
        );
    }
}

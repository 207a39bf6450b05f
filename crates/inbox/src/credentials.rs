//! The Basic credentials Pipedrive sends with each of a tenant's webhook deliveries. Pipedrive
//! signs nothing, so these (with the unguessable path) are the whole trust model: random per
//! tenant, the password sealed with the token vault's keys and bound to the tenant.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use dealbridge_core::TenantId;
use dealbridge_crypto::{Aad, CryptoError, ExposeSecret, KeyRing, Sealed, SecretString};
use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Says nothing about which part failed: no oracle for tampering.
    #[error("stored webhook credentials could not be opened")]
    Open(#[source] CryptoError),
    #[error("webhook credentials could not be sealed")]
    Seal(#[source] CryptoError),
}

/// `Debug` shows the username only.
pub struct WebhookCredentials {
    pub username: String,
    pub password: SecretString,
}

impl std::fmt::Debug for WebhookCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookCredentials")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

/// 32 random bytes, URL-safe: for path tokens and passwords.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn aad(tenant: TenantId) -> Aad {
    Aad::new("pipedrive_webhook", &[&tenant.to_string(), "password"])
}

impl WebhookCredentials {
    /// Fresh random credentials.
    pub fn generate() -> Self {
        let mut user = [0u8; 12];
        OsRng.fill_bytes(&mut user);
        Self {
            username: format!("db-{}", URL_SAFE_NO_PAD.encode(user)),
            password: SecretString::from(random_token()),
        }
    }

    /// The password sealed under the active key, bound to the tenant.
    pub fn seal(&self, keys: &KeyRing, tenant: TenantId) -> Result<Vec<u8>, CredentialError> {
        let sealed = keys
            .encrypt(&self.password, &aad(tenant))
            .map_err(CredentialError::Seal)?;
        Ok(sealed.into_bytes())
    }

    pub fn open(
        keys: &KeyRing,
        tenant: TenantId,
        username: &str,
        sealed: &[u8],
    ) -> Result<Self, CredentialError> {
        let sealed = Sealed::from_bytes(sealed).map_err(CredentialError::Open)?;
        let password = keys
            .decrypt(&sealed, &aad(tenant))
            .map_err(CredentialError::Open)?;
        Ok(Self {
            username: username.to_owned(),
            password,
        })
    }

    /// Whether an `Authorization` header carries exactly these credentials. The comparison takes
    /// the same time wherever the first difference is.
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        let expected = format!("{}:{}", self.username, self.password.expose_secret());
        let Some(encoded) = authorization.and_then(|h| h.strip_prefix("Basic ")) else {
            return false;
        };
        let Ok(given) = STANDARD.decode(encoded.trim()) else {
            return false;
        };
        given.ct_eq(expected.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    }

    #[test]
    fn sealed_credentials_open_only_for_their_tenant() {
        let (keys, _) = KeyRing::generate("k1").expect("key ring");
        let (tenant, other) = (TenantId::new(), TenantId::new());
        let credentials = WebhookCredentials::generate();
        let sealed = credentials.seal(&keys, tenant).expect("seal");
        let password = credentials.password.expose_secret();
        assert!(!sealed
            .windows(password.len())
            .any(|w| w == password.as_bytes()));
        let opened =
            WebhookCredentials::open(&keys, tenant, &credentials.username, &sealed).expect("open");
        assert_eq!(opened.password.expose_secret(), password);
        assert!(WebhookCredentials::open(&keys, other, &credentials.username, &sealed).is_err());
    }

    #[test]
    fn only_the_exact_credentials_are_accepted() {
        let credentials = WebhookCredentials::generate();
        let password = credentials.password.expose_secret().to_owned();
        let user = credentials.username.clone();
        assert!(credentials.accepts(Some(&basic(&user, &password))));
        for wrong in [
            basic(&user, &password[1..]),
            basic(&user, &format!("{password}x")),
            basic("someone", &password),
            basic(&user, ""),
            format!("Bearer {password}"),
            "Basic !!!".to_owned(),
            String::new(),
        ] {
            assert!(!credentials.accepts(Some(&wrong)), "{wrong}");
        }
        assert!(!credentials.accepts(None));
        assert!(!format!("{credentials:?}").contains(&password));
    }
}

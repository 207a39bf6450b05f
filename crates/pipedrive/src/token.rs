//! Where the client gets access tokens. The caller implements this over its token vault, which
//! owns storage, encryption and the lock that keeps two workers from refreshing at once.

use async_trait::async_trait;
use secrecy::SecretString;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No usable token and no way to get one: the user must install again.
    #[error("re-authorisation needed: {0}")]
    NeedsReauth(String),
    /// The vault or the OAuth server could not answer now; try again later.
    #[error("token unavailable: {0}")]
    Unavailable(String),
}

/// Access tokens for one company's installing user.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// The current access token (refreshing first if the caller knows it expired).
    async fn access_token(&self) -> Result<SecretString, TokenError>;

    /// Pipedrive answered 401 to `rejected`. Return a fresh token: refresh it under the vault's
    /// lock, or return the newer one another worker already stored. The client calls this at
    /// most once per call; a second 401 becomes [`crate::Error::NeedsReauth`].
    async fn refresh(&self, rejected: &SecretString) -> Result<SecretString, TokenError>;
}

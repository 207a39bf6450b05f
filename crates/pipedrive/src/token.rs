//! Where the client gets access tokens. The caller implements this over its token vault, which
//! owns storage, encryption and the lock that keeps two workers from refreshing at once.

use std::borrow::Cow;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::error::Cause;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No usable token and no way to get one: the user must install again. The reason says
    /// which state the installation is in (uninstalled, refresh token refused, ...).
    #[error("re-authorisation needed: {0}")]
    NeedsReauth(Cow<'static, str>),
    /// The vault or the OAuth server could not answer now; try again later. `what` says which
    /// step failed; `source` is the error it met, when there was one.
    #[error("token unavailable: {what}")]
    Unavailable {
        what: Cow<'static, str>,
        #[source]
        source: Option<Cause>,
    },
}

impl TokenError {
    pub fn needs_reauth(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::NeedsReauth(reason.into())
    }

    /// Unavailable for a reason of the vault's own, with no error under it.
    pub fn unavailable(what: impl Into<Cow<'static, str>>) -> Self {
        Self::Unavailable {
            what: what.into(),
            source: None,
        }
    }

    /// Unavailable because `what` failed with `source`.
    pub fn unavailable_because(
        what: impl Into<Cow<'static, str>>,
        source: impl Into<Cause>,
    ) -> Self {
        Self::Unavailable {
            what: what.into(),
            source: Some(source.into()),
        }
    }
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

    /// How the token is sent; OAuth access tokens unless the source says otherwise.
    fn scheme(&self) -> AuthScheme {
        AuthScheme::Bearer
    }
}

/// How a token is presented to Pipedrive (FACTS §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// An OAuth access token: `Authorization: Bearer …`.
    Bearer,
    /// A user's personal API token: the `x-api-token` header (never the `api_token` query
    /// parameter, which would put it in URLs and so in logs).
    ApiToken,
}

/// A company user's personal API token (private mode): configuration, not a vault entry. It
/// never expires and cannot be refreshed, so a 401 means it was revoked or mistyped.
#[derive(Clone)]
pub struct ApiToken(SecretString);

impl ApiToken {
    pub fn new(token: SecretString) -> Self {
        Self(token)
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken([REDACTED])")
    }
}

#[async_trait]
impl TokenSource for ApiToken {
    async fn access_token(&self) -> Result<SecretString, TokenError> {
        Ok(self.0.clone())
    }

    async fn refresh(&self, _rejected: &SecretString) -> Result<SecretString, TokenError> {
        Err(TokenError::needs_reauth(
            "Pipedrive refused the API token (revoked, or of another company)",
        ))
    }

    fn scheme(&self) -> AuthScheme {
        AuthScheme::ApiToken
    }
}

//! Pipedrive OAuth: authorization-code exchange and refresh through the `oauth2` crate (Basic
//! client auth against `{oauth_url}/oauth/token`), and `/oauth/revoke`.
//!
//! Revoke is sent by hand: `oauth2` refuses a non-HTTPS revocation URL, and the local sandbox
//! speaks plain HTTP. The request is the same form + Basic auth the crate would send.

use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet, ExtraTokenFields,
    HttpClientError, RedirectUrl, RefreshToken, RequestTokenError, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::PipedriveConfig;
use crate::error::{Error, Result, TransientKind};

/// Pipedrive's addition to the standard token response: the company's API host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipedriveTokenFields {
    pub api_domain: String,
}

impl ExtraTokenFields for PipedriveTokenFields {}

type PipedriveTokenResponse = StandardTokenResponse<PipedriveTokenFields, BasicTokenType>;

type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    PipedriveTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Tokens from an exchange or refresh. Persist `refresh_token` every time: Pipedrive documents
/// no rotation, but accepting a new one costs nothing and survives it if it starts.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<Duration>,
    /// Granted scopes; Pipedrive sends them comma-separated.
    pub scopes: Vec<String>,
    /// The company's API base URL, e.g. `https://acme.pipedrive.com`.
    pub api_domain: Url,
}

/// Which token `/oauth/revoke` should drop. Revoking the refresh token uninstalls the app for
/// that user; revoking an access token only ends that token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeKind {
    AccessToken,
    RefreshToken,
}

/// The OAuth half of the client, sharing the pooled HTTP client.
#[derive(Clone)]
pub struct OAuth {
    http: reqwest::Client,
    client: OAuthClient,
    oauth_url: Url,
    client_id: String,
    client_secret: SecretString,
    redirect_url: Url,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("oauth_url", &self.oauth_url.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl OAuth {
    pub(crate) fn new(http: reqwest::Client, config: &PipedriveConfig) -> Result<Self> {
        let token_url = TokenUrl::from_url(endpoint(&config.oauth_url, "oauth/token")?);
        let client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                config.client_secret.expose_secret().to_owned(),
            ))
            .set_token_uri(token_url)
            .set_redirect_uri(RedirectUrl::from_url(config.redirect_url.clone()))
            .set_auth_type(oauth2::AuthType::BasicAuth);
        Ok(Self {
            http,
            client,
            oauth_url: config.oauth_url.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            redirect_url: config.redirect_url.clone(),
        })
    }

    /// Where to send a user to install (only needed for installs started outside the
    /// Marketplace). Pipedrive takes only `client_id`, `redirect_uri` and `state`.
    pub fn authorize_url(&self, state: &str) -> Result<Url> {
        let mut url = endpoint(&self.oauth_url, "oauth/authorize")?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", self.redirect_url.as_str())
            .append_pair("state", state);
        Ok(url)
    }

    /// Exchange the callback's `code` (valid 5 minutes, single use).
    #[tracing::instrument(skip_all)]
    pub async fn exchange_code(&self, code: SecretString) -> Result<TokenSet> {
        let code = AuthorizationCode::new(code.expose_secret().to_owned());
        let response = self
            .client
            .exchange_code(code)
            .request_async(&self.http)
            .await;
        token_set(response)
    }

    /// Get a new access token. An invalid or expired refresh token is [`Error::NeedsReauth`].
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet> {
        let refresh = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let response = self
            .client
            .exchange_refresh_token(&refresh)
            .request_async(&self.http)
            .await;
        token_set(response)
    }

    /// `POST {oauth_url}/oauth/revoke` (RFC 7009). Pipedrive answers 200 for unknown tokens too.
    #[tracing::instrument(skip_all, fields(kind = ?kind))]
    pub async fn revoke(&self, token: &SecretString, kind: RevokeKind) -> Result<()> {
        let hint = match kind {
            RevokeKind::AccessToken => "access_token",
            RevokeKind::RefreshToken => "refresh_token",
        };
        let form = [("token", token.expose_secret()), ("token_type_hint", hint)];
        let response = self
            .http
            .post(endpoint(&self.oauth_url, "oauth/revoke")?)
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .form(&form)
            .send()
            .await
            .map_err(crate::http::transport_error)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.is_server_error() {
            return Err(Error::Transient {
                kind: TransientKind::Server {
                    status: status.as_u16(),
                },
                message: "revoke failed".into(),
                source: None,
            });
        }
        Err(Error::OAuth(format!("revoke answered {status}")))
    }
}

fn endpoint(base: &Url, path: &str) -> Result<Url> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path)
        .map_err(|e| Error::Config(format!("oauth_url: {e}")))
}

type TokenResult = std::result::Result<
    PipedriveTokenResponse,
    RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
>;

fn token_set(response: TokenResult) -> Result<TokenSet> {
    let response = response.map_err(token_error)?;
    let api_domain = Url::parse(&response.extra_fields().api_domain)
        .map_err(|e| Error::Decode(format!("api_domain: {e}")))?;
    let scopes = response
        .scopes()
        .into_iter()
        .flatten()
        .flat_map(|s| {
            s.split(',')
                .map(str::trim)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect();
    Ok(TokenSet {
        access_token: SecretString::from(response.access_token().secret().to_owned()),
        refresh_token: response
            .refresh_token()
            .map(|t| SecretString::from(t.secret().to_owned())),
        expires_in: response.expires_in(),
        scopes,
        api_domain,
    })
}

fn token_error(e: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>) -> Error {
    match e {
        RequestTokenError::ServerResponse(r) => match r.error() {
            BasicErrorResponseType::InvalidGrant => Error::NeedsReauth {
                reason: describe(&r),
            },
            // Pipedrive's message in the `error` field ("Invalid grant: refresh_token is invalid")
            // instead of the RFC 6749 code.
            BasicErrorResponseType::Extension(text) if names_invalid_grant(text) => {
                Error::NeedsReauth {
                    reason: "invalid grant".into(),
                }
            }
            _ => Error::OAuth(describe(&r)),
        },
        RequestTokenError::Request(HttpClientError::Reqwest(e)) => crate::http::transport_error(*e),
        RequestTokenError::Request(other) => Error::Transient {
            kind: TransientKind::Network,
            message: "the OAuth request did not complete".into(),
            source: Some(Box::new(other)),
        },
        // Pipedrive's OAuth error body is not documented; when it is not RFC 6749 JSON, still
        // recognise an invalid grant by its text ("Invalid grant: refresh_token is invalid").
        RequestTokenError::Parse(_, body) => {
            if names_invalid_grant(&String::from_utf8_lossy(&body)) {
                Error::NeedsReauth {
                    reason: "invalid grant".into(),
                }
            } else {
                Error::OAuth("unparseable token response".into())
            }
        }
        RequestTokenError::Other(message) => Error::OAuth(message),
    }
}

fn names_invalid_grant(text: &str) -> bool {
    let text = text.to_lowercase();
    text.contains("invalid grant") || text.contains("invalid_grant")
}

fn describe(r: &BasicErrorResponse) -> String {
    match r.error_description() {
        Some(description) => format!("{}: {description}", r.error()),
        None => r.error().to_string(),
    }
}

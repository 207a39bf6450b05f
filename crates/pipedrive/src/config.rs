//! Client configuration. The OAuth host is a setting (and each tenant's API host comes from its
//! `api_domain`), so the local sandbox and the real Pipedrive are one setting apart.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::retry::RetryPolicy;

/// Everything the shared client needs that is not per tenant.
#[derive(Debug, Clone)]
pub struct PipedriveConfig {
    /// OAuth server root, e.g. `https://oauth.pipedrive.com`; `/oauth/token` and `/oauth/revoke`
    /// are appended.
    pub oauth_url: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The app's registered callback URL; Pipedrive requires the same value on code exchange.
    pub redirect_url: Url,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    /// Sent on every request so Pipedrive support can identify our traffic.
    pub user_agent: String,
}

impl PipedriveConfig {
    /// Configuration with default timeouts and retry policy.
    pub fn new(
        oauth_url: Url,
        client_id: impl Into<String>,
        client_secret: SecretString,
        redirect_url: Url,
    ) -> Self {
        Self {
            oauth_url,
            client_id: client_id.into(),
            client_secret,
            redirect_url,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            user_agent: concat!("dealbridge/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Timeouts for the pooled HTTP client. A call that exceeds `request` is a transient error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// Whole request, from sending to the end of the body.
    pub request: Duration,
    /// How long an idle pooled connection is kept.
    pub pool_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(30),
            pool_idle: Duration::from_secs(90),
        }
    }
}

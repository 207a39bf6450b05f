//! Shared helpers: a Pipedrive client pointed at a local mock server.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dealbridge_pipedrive::ledger::{InMemoryLedger, LedgerConfig};
use dealbridge_pipedrive::{
    BudgetLedger, CompanyClient, CompanyCtx, CompanyId, Lane, Pipedrive, PipedriveConfig,
    RetryPolicy, TokenError, TokenSource, UserId,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use wiremock::MockServer;

pub const COMPANY: CompanyId = CompanyId(7001);
pub const USER: UserId = UserId(42);

/// Hands out `first`; on refresh hands out `fresh` (or fails as told) and counts refreshes.
pub struct TestTokens {
    current: Mutex<String>,
    fresh: String,
    pub refreshes: AtomicUsize,
    refresh_fails: bool,
}

impl TestTokens {
    pub fn new(first: &str, fresh: &str) -> Arc<Self> {
        Arc::new(Self {
            current: Mutex::new(first.into()),
            fresh: fresh.into(),
            refreshes: AtomicUsize::new(0),
            refresh_fails: false,
        })
    }

    pub fn failing_refresh(first: &str) -> Arc<Self> {
        Arc::new(Self {
            current: Mutex::new(first.into()),
            fresh: String::new(),
            refreshes: AtomicUsize::new(0),
            refresh_fails: true,
        })
    }

    pub fn refresh_count(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl TokenSource for TestTokens {
    async fn access_token(&self) -> Result<SecretString, TokenError> {
        Ok(SecretString::from(self.current.lock().unwrap().clone()))
    }

    async fn refresh(&self, rejected: &SecretString) -> Result<SecretString, TokenError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            rejected.expose_secret(),
            self.current.lock().unwrap().as_str()
        );
        if self.refresh_fails {
            return Err(TokenError::NeedsReauth("refresh token expired".into()));
        }
        *self.current.lock().unwrap() = self.fresh.clone();
        Ok(SecretString::from(self.fresh.clone()))
    }
}

pub fn config(oauth_url: &str) -> PipedriveConfig {
    let mut config = PipedriveConfig::new(
        Url::parse(oauth_url).unwrap(),
        "client-id",
        SecretString::from("client-secret"),
        Url::parse("https://app.example/oauth/callback").unwrap(),
    );
    // Short backoffs keep tests fast; bounds are tested on the policy itself.
    config.retry = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(10),
        cap: Duration::from_millis(40),
        max_inline_wait: Duration::from_secs(5),
    };
    config.timeouts.request = Duration::from_secs(5);
    config
}

pub struct Harness {
    pub server: MockServer,
    pub pd: Pipedrive,
    pub ledger: Arc<InMemoryLedger>,
    pub tokens: Arc<TestTokens>,
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(TestTokens::new("token-1", "token-2"), |_| {}).await
    }

    pub async fn with(tokens: Arc<TestTokens>, tweak: impl FnOnce(&mut PipedriveConfig)) -> Self {
        let server = MockServer::start().await;
        let ledger = Arc::new(InMemoryLedger::new(LedgerConfig::default()));
        let mut config = config(&server.uri());
        tweak(&mut config);
        let pd = Pipedrive::new(config, ledger.clone() as Arc<dyn BudgetLedger>).unwrap();
        Self {
            server,
            pd,
            ledger,
            tokens,
        }
    }

    pub fn company(&self, lane: Lane) -> CompanyClient {
        self.company_at(&self.server.uri(), lane)
    }

    pub fn company_at(&self, api_domain: &str, lane: Lane) -> CompanyClient {
        self.pd.company(CompanyCtx {
            company_id: COMPANY,
            user_id: USER,
            api_domain: Url::parse(api_domain).unwrap(),
            token_source: self.tokens.clone(),
            lane,
        })
    }
}

/// A Pipedrive-style success envelope.
pub fn ok(data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"success": true, "data": data, "additional_data": null})
}

/// A Pipedrive-style error envelope.
pub fn error_body(message: &str) -> serde_json::Value {
    serde_json::json!({
        "success": false,
        "error": message,
        "error_info": "Please check developers.pipedrive.com",
        "data": null,
        "additional_data": null
    })
}

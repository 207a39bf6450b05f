//! Connecting to Pipedrive: the real one when OAuth credentials (or, in private mode, an API token)
//! are configured, otherwise an embedded sandbox started here, with Dealbridge registered as its app
//! and a demo company, so Install works offline on a fresh machine.

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context;
use dealbridge_budget::{StoreLedger, StoreLedgerConfig};
use dealbridge_core::installation::APP_SCOPES;
use dealbridge_core::ErrorChain;
use dealbridge_pipedrive::{Pipedrive, PipedriveConfig};
use dealbridge_sandbox::{AppSpec, CompanySpec, Control, Plan, SandboxConfig, UserSpec};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::settings::Settings;

pub const SANDBOX_CLIENT_ID: &str = "dealbridge-local";

pub struct PipedriveSetup {
    pub pipedrive: Pipedrive,
    pub client_id: String,
    pub client_secret: SecretString,
    pub jwt_secret: SecretString,
    pub sandbox: Option<EmbeddedSandbox>,
    /// The budgets every Pipedrive call spends from; the job queue's gate reads them too, and
    /// exit returns its leases (see [`return_leases`]).
    pub ledger: Arc<StoreLedger>,
}

/// The sandbox serving this process, when no real Pipedrive is configured.
#[derive(Clone)]
pub struct EmbeddedSandbox {
    pub base_url: String,
    pub control: Control,
    /// The sandbox's API2Cart stand-in: our account there, and a demo store in it that the
    /// first tenant installed after start-up gets connected to.
    pub api2cart: SandboxApi2Cart,
}

#[derive(Clone)]
pub struct SandboxApi2Cart {
    pub base_url: Url,
    pub api_key: SecretString,
    pub demo_store_key: SecretString,
}

pub async fn connect(
    settings: &Settings,
    store: Arc<dyn dealbridge_storage::Store>,
) -> anyhow::Result<PipedriveSetup> {
    let callback = settings.public_url.join("oauth/callback")?;
    let private = settings.pipedrive.private.is_some();
    let (oauth_url, client_id, client_secret, sandbox) = match &settings.pipedrive.credentials {
        // Private mode has no Marketplace app: the OAuth client exists but is never used (the
        // install, callback and uninstall routes answer 404, and no installation holds OAuth
        // tokens to refresh), so it gets no identity and a secret nobody knows.
        None if private => (
            settings.pipedrive.oauth_url.clone(),
            String::new(),
            SecretString::from(uuid::Uuid::new_v4().simple().to_string()),
            None,
        ),
        Some(credentials) => (
            settings.pipedrive.oauth_url.clone(),
            credentials.client_id.clone(),
            credentials.client_secret.clone(),
            None,
        ),
        None => {
            let secret: SecretString = uuid::Uuid::new_v4().simple().to_string().into();
            let sandbox = start_sandbox(settings, &callback, &secret)?;
            (
                Url::parse(&sandbox.base_url)?,
                SANDBOX_CLIENT_ID.to_string(),
                secret,
                Some(sandbox),
            )
        }
    };
    let jwt_secret = settings
        .pipedrive
        .jwt_secret
        .clone()
        .unwrap_or_else(|| client_secret.clone());
    let config = PipedriveConfig::new(
        oauth_url,
        client_id.clone(),
        client_secret.clone(),
        callback,
    );
    let ledger = ledger_for(store, private);
    let pipedrive =
        Pipedrive::new(config, ledger.clone()).context("building the Pipedrive client")?;
    Ok(PipedriveSetup {
        pipedrive,
        client_id,
        client_secret,
        jwt_secret,
        sandbox,
        ledger,
    })
}

/// The budget ledger of this process. Budgets live in the store, so every instance spends from
/// the same ones.
pub fn ledger(store: Arc<dyn dealbridge_storage::Store>) -> Arc<StoreLedger> {
    ledger_for(store, false)
}

/// The lowest burst window of personal API tokens (Lite: 20 per 2 s, FACTS §5.2), assumed in
/// private mode until Pipedrive's `x-ratelimit-limit` reports the plan's.
pub const API_TOKEN_DEFAULT_BURST: u32 = 20;

/// As [`ledger`]; with an API token (`private`) the burst window starts at the API-token table's
/// lowest limit instead of OAuth's, which is four times larger.
pub fn ledger_for(store: Arc<dyn dealbridge_storage::Store>, private: bool) -> Arc<StoreLedger> {
    let mut config = StoreLedgerConfig::default();
    if private {
        config.ledger.default_burst_limit = API_TOKEN_DEFAULT_BURST;
    }
    let ledger = Arc::new(StoreLedger::new(store, config));
    ledger.spawn_flusher();
    ledger
}

/// Gives back this process's unused token and slot leases at exit, once nothing spends from the
/// ledger any more, so other instances can use them at once instead of after their lease ends.
pub async fn return_leases(ledger: &StoreLedger) {
    match ledger.shutdown().await {
        Ok(()) => tracing::info!("budget leases returned"),
        // Harmless: what could not be written back frees itself when its lease ends.
        Err(e) => {
            tracing::warn!(
                error = %ErrorChain(&e),
                "could not return budget leases; they expire by themselves"
            )
        }
    }
}

fn start_sandbox(
    settings: &Settings,
    callback: &Url,
    secret: &SecretString,
) -> anyhow::Result<EmbeddedSandbox> {
    let listener = TcpListener::bind(settings.sandbox_listen).with_context(|| {
        format!(
            "binding the embedded sandbox to {}",
            settings.sandbox_listen
        )
    })?;
    let sandbox = dealbridge_sandbox::build(SandboxConfig::default(), listener)
        .context("starting the embedded sandbox")?;
    let control = sandbox.control.clone();
    control.ensure_app(AppSpec {
        client_id: SANDBOX_CLIENT_ID.into(),
        client_secret: secret.expose_secret().to_string(),
        callback_url: callback.to_string(),
        scopes: APP_SCOPES.iter().map(|s| (*s).to_string()).collect(),
    })?;
    control.ensure_company(CompanySpec {
        name: "Demo Company".into(),
        domain: "demo".into(),
        plan: Plan::Growth,
        seats: 3,
        daily_budget: None,
        burst_limit: None,
        users: vec![
            UserSpec {
                name: "Dana Admin".into(),
                email: "dana@demo.test".into(),
                is_admin: true,
            },
            UserSpec {
                name: "Sam Sales".into(),
                email: "sam@demo.test".into(),
                is_admin: false,
            },
        ],
    })?;
    let base_url = sandbox.base_url.clone();
    let api_key = uuid::Uuid::new_v4().simple().to_string();
    let demo = control
        .api2cart()
        .create_store(dealbridge_sandbox::api2cart::seed::demo_store(&api_key))?;
    let api2cart = SandboxApi2Cart {
        base_url: Url::parse(&format!("{}/api2cart/v1.1", base_url.trim_end_matches('/')))?,
        api_key: api_key.into(),
        demo_store_key: demo.store_key.into(),
    };
    crate::demo_store::describe(&settings.data_dir, &control, &api2cart.demo_store_key)?;
    tokio::spawn(sandbox.server);
    tracing::warn!(
        sandbox.url = %base_url,
        "no Pipedrive credentials configured: using the embedded sandbox (its demo page is /_sandbox/)"
    );
    Ok(EmbeddedSandbox {
        base_url,
        control,
        api2cart,
    })
}

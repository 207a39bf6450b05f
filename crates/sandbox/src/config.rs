//! Configuration: what a sandbox starts with. Everything here can also be created later through the
//! control API, so a config is only a convenience for tests and the app's first run.

use serde::{Deserialize, Serialize};

/// A Pipedrive plan; it sets the daily token multiplier and the per-token burst limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    #[default]
    Lite,
    Growth,
    Premium,
    Ultimate,
}

impl Plan {
    /// Daily budget multiplier (FACTS §5.1).
    pub fn multiplier(self) -> u64 {
        match self {
            Plan::Lite => 1,
            Plan::Growth => 2,
            Plan::Premium => 5,
            Plan::Ultimate => 7,
        }
    }

    /// Requests per rolling 2-second window for one OAuth access token (FACTS §5.2).
    /// Requests per 2 s for one personal API token (FACTS §5.2).
    pub fn api_token_burst(self) -> u32 {
        match self {
            Plan::Lite => 20,
            Plan::Growth => 40,
            Plan::Premium => 100,
            Plan::Ultimate => 120,
        }
    }

    pub fn oauth_burst(self) -> u32 {
        match self {
            Plan::Lite => 80,
            Plan::Growth => 160,
            Plan::Premium => 400,
            Plan::Ultimate => 480,
        }
    }
}

/// A registered Marketplace app, as in Developer Hub.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppSpec {
    pub client_id: String,
    pub client_secret: String,
    /// The single OAuth callback URL; it also receives the uninstall `DELETE`.
    pub callback_url: String,
    /// Scopes the user accepts as a whole on the consent page; `base` is always added.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A user of a company.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserSpec {
    pub name: String,
    pub email: String,
    #[serde(default = "yes")]
    pub is_admin: bool,
}

fn yes() -> bool {
    true
}

/// A Pipedrive company (account) with its users.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompanySpec {
    pub name: String,
    /// Subdomain-like name; the company's API lives under `{base}/c/{domain}`.
    pub domain: String,
    #[serde(default)]
    pub plan: Plan,
    #[serde(default = "one")]
    pub seats: u64,
    /// Overrides `30,000 × multiplier × seats`.
    #[serde(default)]
    pub daily_budget: Option<u64>,
    /// Overrides the plan's per-token burst limit (requests per 2 s), e.g. for load tests.
    #[serde(default)]
    pub burst_limit: Option<u32>,
    #[serde(default)]
    pub users: Vec<UserSpec>,
}

fn one() -> u64 {
    1
}

/// How a sandbox behaves. `Default` gives Pipedrive's real numbers with seed 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    /// Seeds every id, token and code, so two runs with the same calls give the same values.
    pub seed: u64,
    /// Access token lifetime in seconds (Pipedrive: 3599).
    pub expires_in: u64,
    /// Return a new refresh token on every refresh (Pipedrive keeps the same one).
    pub rotate_refresh_tokens: bool,
    /// Stops real time from moving the sandbox clock: it then moves only when advanced, so
    /// timestamps, expiries and rate windows are exactly reproducible.
    pub frozen_clock: bool,
    /// Multiplies webhook retry delays and the delivery timeout: 0.001 turns +150 s into +150 ms.
    pub time_scale: f64,
    /// Base URL that clients should use, when the sandbox sits behind a proxy or a fixed host name;
    /// `None` uses the bound address.
    pub public_base_url: Option<String>,
    /// Seconds after sandbox midnight (UTC) at which daily budgets reset.
    pub daily_reset_at_secs: u64,
    /// How many calls the call log keeps (oldest dropped first).
    pub call_log_capacity: usize,
    /// HTTP worker threads; one per core is plenty.
    pub workers: usize,
    pub apps: Vec<AppSpec>,
    pub companies: Vec<CompanySpec>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            expires_in: 3599,
            rotate_refresh_tokens: false,
            frozen_clock: false,
            time_scale: 1.0,
            public_base_url: None,
            daily_reset_at_secs: 0,
            call_log_capacity: 100_000,
            workers: 2,
            apps: Vec::new(),
            companies: Vec::new(),
        }
    }
}

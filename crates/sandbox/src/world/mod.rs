//! All sandbox state, behind one mutex that is never held across an `.await`. Handlers lock,
//! mutate, copy out what they need (responses, webhook deliveries) and unlock.

mod accounts;
pub mod api_tokens;
pub mod entities;
mod records;
mod tokens;
mod webhooks;

pub use accounts::{App, Company, Install, User};
pub use records::{ListQuery, Store};
pub use tokens::{AccessToken, TokenGrant};
pub use webhooks::{Delivery, Event, Webhook};

use std::collections::{BTreeMap, HashMap, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::config::SandboxConfig;
use crate::faults::Faults;
use crate::limits::Burst;

/// One line of the call log.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub method: String,
    pub path: String,
    pub company_id: Option<u64>,
    pub token_id: Option<u64>,
    pub cost: u32,
    pub status: u16,
    /// Sandbox time, ms since the Unix epoch.
    pub time_ms: i64,
    /// For a 429: which limit refused the call.
    pub limited_by: Option<RateLimit>,
}

/// The limit behind a 429, so tests and benches can tell a spent daily budget from a full window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimit {
    /// The token's burst window.
    Burst,
    /// The token's search window.
    Search,
    /// The company's daily token budget.
    Daily,
    /// A 429 injected by a fault setting.
    Fault,
}

/// A notice that an app was uninstalled; `uninstall` sends it as the `DELETE` of FACTS §1.7.
#[derive(Debug, Clone)]
pub struct UninstallNotice {
    pub callback_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub body: serde_json::Value,
}

#[derive(Debug)]
pub struct World {
    rng: StdRng,
    pub expires_in: u64,
    pub rotate_refresh_tokens: bool,
    pub daily_reset_at_secs: u64,
    call_log_capacity: usize,
    pub apps: BTreeMap<String, App>,
    pub companies: BTreeMap<u64, Company>,
    pub users: BTreeMap<u64, User>,
    next_company_id: u64,
    next_user_id: u64,
    next_token_id: u64,
    pub base_url: String,
    pub installs: BTreeMap<(String, u64, u64), Install>,
    pub codes: HashMap<String, tokens::AuthCode>,
    pub access: HashMap<String, AccessToken>,
    pub refresh: HashMap<String, tokens::RefreshToken>,
    pub bursts: HashMap<(u64, bool), Burst>,
    /// Personal API tokens (`x-api-token`), by token.
    pub api_tokens: HashMap<String, AccessToken>,
    /// POST/PUT requests per API token today, for `x-daily-requests-left`.
    pub api_writes: HashMap<u64, api_tokens::DailyWrites>,
    pub faults: Faults,
    pub calls: VecDeque<CallRecord>,
    /// Webhook deliveries produced under the lock, sent after it is released.
    pub outbox: Vec<Delivery>,
}

impl World {
    pub fn new(config: &SandboxConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        // Company and user ids look like Pipedrive's (7–8 digits) but come from the seed.
        let next_company_id = rng.gen_range(1_000_000..9_000_000);
        let next_user_id = rng.gen_range(10_000_000..20_000_000);
        Self {
            rng,
            expires_in: config.expires_in,
            rotate_refresh_tokens: config.rotate_refresh_tokens,
            daily_reset_at_secs: config.daily_reset_at_secs,
            call_log_capacity: config.call_log_capacity.max(1),
            apps: BTreeMap::new(),
            companies: BTreeMap::new(),
            users: BTreeMap::new(),
            next_company_id,
            next_user_id,
            next_token_id: 1,
            base_url: String::new(),
            installs: BTreeMap::new(),
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            bursts: HashMap::new(),
            api_tokens: HashMap::new(),
            api_writes: HashMap::new(),
            faults: Faults::default(),
            calls: VecDeque::new(),
            outbox: Vec::new(),
        }
    }

    /// Random lowercase hex of `len` characters, from the seeded generator.
    pub fn hex(&mut self, len: usize) -> String {
        const HEX: &[u8] = b"0123456789abcdef";
        (0..len)
            .map(|_| char::from(HEX[self.rng.gen_range(0..16)]))
            .collect()
    }

    /// A uniform draw in [0, 1) for fault probabilities.
    pub fn chance(&mut self) -> f64 {
        self.rng.gen::<f64>()
    }

    pub fn log_call(&mut self, record: CallRecord) {
        if self.calls.len() >= self.call_log_capacity {
            self.calls.pop_front();
        }
        self.calls.push_back(record);
    }

    pub fn company_by_domain(&self, domain: &str) -> Option<&Company> {
        self.companies.values().find(|c| c.domain == domain)
    }
}

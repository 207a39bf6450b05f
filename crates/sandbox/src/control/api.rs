//! `Control`: the in-process control API. The HTTP routes under `/_sandbox/` call these same
//! methods, so Rust tests, the bench and curl see one behaviour.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::config::{AppSpec, CompanySpec, Plan, UserSpec};
use crate::error::{Error, Result};
use crate::faults::FaultSpec;
use crate::server::Shared;
use crate::world::entities::EntityKind;
use crate::world::{App, CallRecord, TokenGrant, User};

/// A company as the control API reports it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CompanyInfo {
    pub id: u64,
    pub name: String,
    pub domain: String,
    pub plan: Plan,
    pub seats: u64,
    /// Base URL of this company's API: `{api_domain}/api/v1`, `{api_domain}/api/v2`.
    pub api_domain: String,
    pub user_ids: Vec<u64>,
    pub closed: bool,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Budget {
    pub daily_budget: u64,
    pub used: u64,
    pub remaining: u64,
}

/// Webhook health, including what Pipedrive's ban system dropped.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct WebhookStats {
    pub id: u64,
    pub subscription_url: String,
    pub first_failures: u32,
    pub banned_until_ms: Option<i64>,
    pub last_http_status: Option<u16>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct DuplicateReport {
    pub field: String,
    /// Records of the kind looked at, duplicates included.
    #[serde(default)]
    pub records: usize,
    /// Distinct values held by more than one record.
    pub duplicate_values: usize,
    /// Records beyond the first for each such value.
    pub extra_records: usize,
}

#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl Control {
    /// The API2Cart stand-in's control: stores, orders, customers, a lost connection.
    pub fn api2cart(&self) -> crate::api2cart::Api2Cart {
        crate::api2cart::Api2Cart {
            shared: self.shared.clone(),
        }
    }

    fn now(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    pub fn create_app(&self, spec: AppSpec) -> Result<App> {
        self.shared.world().create_app(spec)
    }

    /// Registers the app, or updates its secret, callback and scopes if the client id exists:
    /// what an app calls on every start so "Install" works against a long-running sandbox.
    pub fn ensure_app(&self, spec: AppSpec) -> Result<App> {
        let mut world = self.shared.world();
        world.apps.remove(&spec.client_id);
        world.create_app(spec)
    }

    /// Returns the company with this domain, creating it (with its users) if there is none.
    pub fn ensure_company(&self, spec: CompanySpec) -> Result<CompanyInfo> {
        let existing = self
            .shared
            .world()
            .company_by_domain(&spec.domain)
            .map(|c| c.id);
        match existing {
            Some(id) => self.company(id),
            None => self.create_company(spec),
        }
    }

    pub fn create_company(&self, spec: CompanySpec) -> Result<CompanyInfo> {
        let now = self.now();
        let id = self.shared.world().create_company(spec, now)?;
        self.company(id)
    }

    pub fn add_user(&self, company_id: u64, spec: UserSpec) -> Result<User> {
        self.shared.world().add_user(company_id, spec)
    }

    pub fn company(&self, id: u64) -> Result<CompanyInfo> {
        let world = self.shared.world();
        let c = world
            .companies
            .get(&id)
            .ok_or_else(|| Error::NotFound(format!("company {id}")))?;
        Ok(CompanyInfo {
            id: c.id,
            name: c.name.clone(),
            domain: c.domain.clone(),
            plan: c.plan,
            seats: c.seats,
            api_domain: world.api_domain(c.id),
            user_ids: c.user_ids.clone(),
            closed: c.closed,
        })
    }

    pub fn companies(&self) -> Vec<CompanyInfo> {
        let ids: Vec<u64> = self.shared.world().companies.keys().copied().collect();
        ids.into_iter()
            .filter_map(|id| self.company(id).ok())
            .collect()
    }

    /// Approves an install as if the user pressed Allow; returns the callback URL with `code`
    /// and `state` that the browser would have been redirected to.
    pub fn approve_install(
        &self,
        client_id: &str,
        company_id: u64,
        user_id: u64,
        state: Option<&str>,
    ) -> Result<String> {
        let now = self.now();
        let (code, callback) = self
            .shared
            .world()
            .approve(client_id, company_id, user_id, now)?;
        Ok(crate::oauth::callback_with_code(&callback, &code, state))
    }

    /// Uninstalls as if the user removed the app; the callback receives the `DELETE` before this
    /// returns.
    pub async fn uninstall(&self, client_id: &str, company_id: u64, user_id: u64) -> Result<()> {
        let now = self.now();
        let notice = self
            .shared
            .world()
            .uninstall(client_id, company_id, user_id, now);
        let notice = notice.ok_or_else(|| Error::NotFound("no such install".into()))?;
        crate::delivery::send_uninstall(self.shared.clone(), notice).await;
        Ok(())
    }

    /// Mints an access token for a company without the OAuth dance (tests, benchmarks). `user_id`
    /// defaults to the company's first user; empty `scopes` grants every scope.
    /// The user's personal API token (the company's first user when `user_id` is `None`),
    /// created on first request and the same afterwards.
    pub fn api_token(&self, company_id: u64, user_id: Option<u64>) -> Result<String> {
        let mut world = self.shared.world();
        let user_id = match user_id {
            Some(id) => id,
            None => world
                .users
                .values()
                .find(|u| u.company_id == company_id)
                .map(|u| u.id)
                .ok_or_else(|| crate::error::Error::NotFound(format!("company {company_id}")))?,
        };
        world.api_token(company_id, user_id)
    }

    pub fn mint_token(
        &self,
        company_id: u64,
        user_id: Option<u64>,
        scopes: Vec<String>,
    ) -> Result<TokenGrant> {
        let scopes = if scopes.is_empty() {
            all_scopes()
        } else {
            scopes
        };
        let now = self.now();
        self.shared.world().mint(company_id, user_id, scopes, now)
    }

    /// Every access and refresh token issued to a company that the sandbox still holds, in clear,
    /// so tests can look for them where they must not be (the app's database, logs, pages).
    pub fn issued_tokens(&self, company_id: u64) -> Vec<String> {
        self.shared.world().issued_tokens(company_id)
    }

    pub fn advance(&self, by: Duration) {
        self.shared
            .clock
            .advance_ms(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
    }

    /// Sandbox time in ms since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        self.now()
    }

    /// Sets faults for one company, or for all companies without their own setting.
    pub fn set_faults(&self, company_id: Option<u64>, spec: FaultSpec) {
        let mut world = self.shared.world();
        match company_id {
            Some(id) => {
                world.faults.per_company.insert(id, spec);
            }
            None => world.faults.global = spec,
        }
    }

    pub fn clear_faults(&self) {
        self.shared.world().faults = Default::default();
    }

    pub fn set_closed(&self, company_id: u64, closed: bool) -> Result<()> {
        let mut world = self.shared.world();
        let c = world
            .companies
            .get_mut(&company_id)
            .ok_or_else(|| Error::NotFound(format!("company {company_id}")))?;
        c.closed = closed;
        Ok(())
    }

    /// The call log, oldest first, optionally for one company.
    pub fn calls(&self, company_id: Option<u64>) -> Vec<CallRecord> {
        let world = self.shared.world();
        world
            .calls
            .iter()
            .filter(|c| company_id.is_none_or(|id| c.company_id == Some(id)))
            .cloned()
            .collect()
    }

    pub fn clear_calls(&self) {
        self.shared.world().calls.clear();
    }

    pub fn budget(&self, company_id: u64) -> Result<Budget> {
        let now = self.now();
        let mut world = self.shared.world();
        let day = crate::limits::budget_day(now, world.daily_reset_at_secs);
        let c = world
            .companies
            .get_mut(&company_id)
            .ok_or_else(|| Error::NotFound(format!("company {company_id}")))?;
        c.budget_allows(0, day);
        let daily = c.daily_budget();
        Ok(Budget {
            daily_budget: daily,
            used: c.budget_used,
            remaining: daily.saturating_sub(c.budget_used),
        })
    }

    /// Resets every company's daily budget now, as the daily reset would.
    pub fn reset_budgets(&self) {
        for c in self.shared.world().companies.values_mut() {
            c.budget_used = 0;
        }
    }

    /// Moves the daily reset to `secs` after UTC midnight (sandbox time).
    /// Today's usage carries over until the new reset time comes round.
    pub fn set_daily_reset(&self, secs: u64) {
        let now = self.now();
        let mut world = self.shared.world();
        world.daily_reset_at_secs = secs % 86_400;
        let day = crate::limits::budget_day(now, world.daily_reset_at_secs);
        for c in world.companies.values_mut() {
            c.budget_day = day;
        }
    }

    /// A company's records of one kind, as the API renders them.
    pub fn records(&self, company_id: u64, kind: EntityKind) -> Result<Vec<Value>> {
        let world = self.shared.world();
        let c = world
            .companies
            .get(&company_id)
            .ok_or_else(|| Error::NotFound(format!("company {company_id}")))?;
        Ok(c.store
            .rows(kind)
            .map(|r| crate::api::render_record(&world, company_id, kind, r))
            .collect())
    }

    /// Counts records sharing a value of `field`: a top-level field, `email`/`phone` (any entry of
    /// `emails`/`phones`), or `custom_fields.<code>`. This is how tests catch double syncs.
    pub fn duplicates(
        &self,
        company_id: u64,
        kind: EntityKind,
        field: &str,
    ) -> Result<DuplicateReport> {
        let records = self.records(company_id, kind)?;
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in &records {
            for v in values_of(r, field) {
                *counts.entry(v).or_default() += 1;
            }
        }
        let dup: Vec<usize> = counts.values().copied().filter(|n| *n > 1).collect();
        Ok(DuplicateReport {
            field: field.to_owned(),
            records: records.len(),
            duplicate_values: dup.len(),
            extra_records: dup.iter().map(|n| n - 1).sum(),
        })
    }

    pub fn webhooks(&self, company_id: u64) -> Result<(u64, Vec<WebhookStats>)> {
        let world = self.shared.world();
        let c = world
            .companies
            .get(&company_id)
            .ok_or_else(|| Error::NotFound(format!("company {company_id}")))?;
        let stats = c.webhooks.values().map(|w| WebhookStats {
            id: w.id,
            subscription_url: w.subscription_url.clone(),
            first_failures: w.first_failures,
            banned_until_ms: w.banned_until_ms,
            last_http_status: w.last_http_status,
        });
        Ok((c.dropped_events, stats.collect()))
    }
}

fn values_of(record: &Value, field: &str) -> Vec<String> {
    let (key, inner) = match field {
        "email" => ("emails", true),
        "phone" => ("phones", true),
        other => (other, false),
    };
    let v = match key.strip_prefix("custom_fields.") {
        Some(code) => record.get("custom_fields").and_then(|c| c.get(code)),
        None => record.get(key),
    };
    match v {
        Some(Value::Array(items)) if inner => items
            .iter()
            .filter_map(|i| i.get("value").and_then(Value::as_str))
            .map(|s| s.to_lowercase())
            .collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(Value::String(s)) => vec![s.to_lowercase()],
        Some(other) => vec![other.to_string()],
    }
}

/// Every scope of FACTS §1.10, for minted tokens that should be able to do anything.
pub fn all_scopes() -> Vec<String> {
    [
        "base",
        "deals:full",
        "activities:full",
        "contacts:full",
        "search:read",
        "admin",
        "deal-fields:full",
        "contact-fields:full",
        "webhooks:full",
        "users:read",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

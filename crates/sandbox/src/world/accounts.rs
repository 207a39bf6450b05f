//! Apps, companies and users (Developer Hub and account setup).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Store, Webhook, World};
use crate::config::{AppSpec, CompanySpec, Plan, UserSpec};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub client_id: String,
    #[serde(skip)]
    pub client_secret: String,
    pub callback_url: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: u64,
    pub company_id: u64,
    pub name: String,
    pub email: String,
    pub is_admin: bool,
}

#[derive(Debug, Serialize)]
pub struct Company {
    pub id: u64,
    pub name: String,
    pub domain: String,
    pub plan: Plan,
    pub seats: u64,
    pub daily_budget_override: Option<u64>,
    pub burst_override: Option<u32>,
    /// A closed account answers every API call with 402.
    pub closed: bool,
    pub user_ids: Vec<u64>,
    /// Day number (since the epoch, shifted by the reset time) that `budget_used` belongs to.
    pub budget_day: i64,
    pub budget_used: u64,
    #[serde(skip)]
    pub store: Store,
    #[serde(skip)]
    pub webhooks: BTreeMap<u64, Webhook>,
    pub next_webhook_id: u64,
    /// Webhook events lost to bans.
    pub dropped_events: u64,
}

impl Company {
    /// Requests per 2-second window for one token of either kind (an override applies to both).
    pub fn burst_limit_for(&self, api_token: bool) -> u32 {
        match (self.burst_override, api_token) {
            (Some(limit), _) => limit,
            (None, true) => self.plan.api_token_burst(),
            (None, false) => self.plan.oauth_burst(),
        }
    }

    pub fn daily_budget(&self) -> u64 {
        self.daily_budget_override
            .unwrap_or(30_000 * self.plan.multiplier() * self.seats.max(1))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Install {
    pub scopes: Vec<String>,
    pub installed_ms: i64,
}

impl World {
    pub fn create_app(&mut self, spec: AppSpec) -> Result<App> {
        if self.apps.contains_key(&spec.client_id) {
            return Err(Error::Conflict(format!("app {} exists", spec.client_id)));
        }
        url::Url::parse(&spec.callback_url)
            .map_err(|_| Error::Invalid("callback_url is not a URL".into()))?;
        let mut scopes = spec.scopes;
        if !scopes.iter().any(|s| s == "base") {
            scopes.push("base".into());
        }
        let app = App {
            client_id: spec.client_id,
            client_secret: spec.client_secret,
            callback_url: spec.callback_url,
            scopes,
        };
        self.apps.insert(app.client_id.clone(), app.clone());
        Ok(app)
    }

    pub fn create_company(&mut self, spec: CompanySpec, now_ms: i64) -> Result<u64> {
        let valid = !spec.domain.is_empty()
            && spec
                .domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            return Err(Error::Invalid(
                "domain must be letters, digits or '-'".into(),
            ));
        }
        if self.company_by_domain(&spec.domain).is_some() {
            return Err(Error::Conflict(format!("domain {} exists", spec.domain)));
        }
        let id = self.next_company_id;
        self.next_company_id += 1;
        let company = Company {
            id,
            name: spec.name,
            domain: spec.domain,
            plan: spec.plan,
            seats: spec.seats,
            daily_budget_override: spec.daily_budget,
            burst_override: spec.burst_limit,
            closed: false,
            user_ids: Vec::new(),
            budget_day: 0,
            budget_used: 0,
            store: Store::new(now_ms),
            webhooks: BTreeMap::new(),
            next_webhook_id: 1,
            dropped_events: 0,
        };
        self.companies.insert(id, company);
        for user in spec.users {
            self.add_user(id, user)?;
        }
        Ok(id)
    }

    pub fn add_user(&mut self, company_id: u64, spec: UserSpec) -> Result<User> {
        let company = self
            .companies
            .get_mut(&company_id)
            .ok_or_else(|| Error::NotFound(format!("company {company_id}")))?;
        let user = User {
            id: self.next_user_id,
            company_id,
            name: spec.name,
            email: spec.email,
            is_admin: spec.is_admin,
        };
        self.next_user_id += 1;
        company.user_ids.push(user.id);
        self.users.insert(user.id, user.clone());
        Ok(user)
    }

    pub(super) fn check_member(&self, company_id: u64, user_id: u64) -> Result<()> {
        match self.users.get(&user_id) {
            Some(u) if u.company_id == company_id => Ok(()),
            _ => Err(Error::Invalid(format!(
                "user {user_id} is not in company {company_id}"
            ))),
        }
    }

    pub fn api_domain(&self, company_id: u64) -> String {
        let domain = self
            .companies
            .get(&company_id)
            .map(|c| c.domain.as_str())
            .unwrap_or_default();
        format!("{}/c/{domain}", self.base_url)
    }
}

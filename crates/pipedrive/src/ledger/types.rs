//! Values exchanged with a [`super::BudgetLedger`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

/// Pipedrive's company id: the unit of the daily budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CompanyId(pub u64);

/// Pipedrive's user id of the installing user. OAuth access tokens change hourly but stay bound
/// to one user, so the per-token burst window is keyed by (company, user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserId(pub u64);

/// Who the call is for. Interactive and webhook-triggered work share a reserve that bulk work
/// (imports, reconciles) cannot spend, so a big import never locks users out of their own app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    Interactive,
    Webhook,
    Bulk,
}

impl Lane {
    /// Whether this lane may spend the priority reserve.
    pub fn is_priority(self) -> bool {
        !matches!(self, Lane::Bulk)
    }
}

/// One call asking for budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRequest {
    pub company: CompanyId,
    pub user: UserId,
    pub lane: Lane,
    /// The operation's `x-token-cost`.
    pub cost: u32,
    /// Search endpoints also count against the search limit.
    pub search: bool,
}

/// Proof of a granted call; hand it back to `settle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Unique within the ledger that issued it.
    pub id: u64,
    pub request: CallRequest,
    pub granted_at: DateTime<Utc>,
}

/// The answer to `reserve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Granted(Reservation),
    /// Nothing was recorded; ask again at `until`.
    WaitUntil {
        until: DateTime<Utc>,
        reason: WaitReason,
    },
}

/// Which limit made a call wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// The token's 2-second window is full.
    BurstWindow,
    /// The token's search window is full.
    SearchWindow,
    /// The company's daily budget is spent (or Pipedrive said so with a 429); resumes at reset.
    DailyBudget,
    /// What is left today is the priority reserve, which bulk work may not spend.
    LaneReserve,
    /// An API token's POST/PUT requests for the UTC day are spent (`x-daily-requests-left: 0`,
    /// FACTS §5.3); writes resume at midnight UTC, reads go on.
    DailyWrites,
}

/// How a granted call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Pipedrive answered with this status (429 is reported as `RateLimited`).
    Responded { status: u16 },
    /// The request never left (connection refused, DNS): nothing was spent.
    NotSent,
    /// Sent but no answer (timeout, broken connection): it may have been processed and charged.
    Unknown,
    /// Pipedrive answered 429. `daily` when the daily budget, not the burst window, is spent.
    RateLimited {
        daily: bool,
        retry_after: Option<Duration>,
    },
}

/// The `x-ratelimit-*` headers of one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    /// Requests allowed per 2-second window for this token.
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    /// Time left until the window resets.
    pub reset: Option<Duration>,
    /// The response was to a search call, so the headers may describe the token's search
    /// window rather than its burst window (the sandbox reports the window a call counted
    /// against; Pipedrive does not say). Set by the caller, not read from the headers.
    pub search: bool,
    /// `x-daily-requests-left`, sent for API tokens only (FACTS §5.3): the POST/PUT requests the
    /// token's user has left today, a day that ends at midnight UTC whatever the budget's reset.
    pub daily_requests_left: Option<u32>,
}

impl RateHeaders {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let num = |name: &str| -> Option<f64> {
            let value: f64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
            (value.is_finite() && value >= 0.0).then_some(value)
        };
        Self {
            limit: num("x-ratelimit-limit").map(|v| v as u32),
            remaining: num("x-ratelimit-remaining").map(|v| v as u32),
            reset: num("x-ratelimit-reset").map(|v| Duration::from_secs_f64(v.min(3_600.0))),
            search: false,
            daily_requests_left: num("x-daily-requests-left")
                .map(|v| v.min(f64::from(u32::MAX)) as u32),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.limit.is_none()
            && self.remaining.is_none()
            && self.reset.is_none()
            && self.daily_requests_left.is_none()
    }
}

/// A company's standing today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetStatus {
    /// Configured limit, else the learned one, else unknown.
    pub daily_limit: Option<u64>,
    /// Whether `daily_limit` was learned from a daily rate limit rather than configured.
    pub learned: bool,
    /// Tokens charged since the last reset (including reservations not yet settled).
    pub spent: u64,
    /// Tokens only interactive and webhook work may spend.
    pub priority_reserve: u64,
    pub resets_at: DateTime<Utc>,
    /// Set while the whole company waits for the reset; the time work resumes.
    pub exhausted_until: Option<DateTime<Utc>>,
}

/// Pipedrive plans and their budget multipliers (FACTS §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Lite,
    Growth,
    Premium,
    Ultimate,
    Essential,
    Advanced,
    Professional,
    Power,
    Enterprise,
}

/// Daily budget = 30,000 × plan multiplier × seats, plus purchased top-ups.
pub fn daily_budget_for_plan(plan: Plan, seats: u32, top_up: u64) -> u64 {
    let multiplier: u64 = match plan {
        Plan::Lite | Plan::Essential => 1,
        Plan::Growth | Plan::Advanced => 2,
        Plan::Professional => 3,
        Plan::Premium | Plan::Power => 5,
        Plan::Ultimate | Plan::Enterprise => 7,
    };
    30_000 * multiplier * u64::from(seats) + top_up
}

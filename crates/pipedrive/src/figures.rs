//! Per-company counters for the dashboard, the support console and metrics. Process-local;
//! the caller exports or persists snapshots.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

use crate::ledger::CompanyId;

/// What one company's calls cost this process since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompanyFigures {
    /// Calls sent to Pipedrive (each try counts).
    pub calls: u64,
    /// Tokens charged for sent calls (`x-token-cost`; 429s and unsent calls not counted).
    pub tokens_spent: u64,
    pub rate_limited: u64,
    /// Failed calls by class, after retries (transient tries that were retried not counted).
    pub errors: u64,
    pub retries: u64,
    /// Time spent waiting for budget or backoff inside calls.
    pub waited: Duration,
    /// Calls handed back as deferred (daily budget spent, long waits).
    pub deferred: u64,
    /// The burst window Pipedrive last reported for the company's token (`x-ratelimit-limit`
    /// of a call that was not a search), in requests per 2 seconds.
    pub burst_limit: Option<u32>,
    /// The POST/PUT requests Pipedrive last reported left today (`x-daily-requests-left`; API
    /// tokens only).
    pub daily_requests_left: Option<u32>,
    /// Set when `daily_requests_left` reached 0: writes are held back until then (midnight UTC).
    pub writes_blocked_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Shared, cheap-to-clone registry of [`CompanyFigures`].
#[derive(Debug, Clone, Default)]
pub struct Figures(Arc<Mutex<HashMap<CompanyId, CompanyFigures>>>);

impl Figures {
    pub(crate) fn update(&self, company: CompanyId, f: impl FnOnce(&mut CompanyFigures)) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(map.entry(company).or_default());
    }

    /// One company's figures (zeros when it made no calls).
    pub fn snapshot(&self, company: CompanyId) -> CompanyFigures {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&company).cloned().unwrap_or_default()
    }

    /// All companies' figures.
    pub fn snapshot_all(&self) -> HashMap<CompanyId, CompanyFigures> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

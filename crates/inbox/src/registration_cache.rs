//! Verified webhook registrations, kept a short while so a delivery costs no lookup round trip.
//! Staleness never lets a delivery in: each one is recorded with a guard that the inbox checks
//! against the stored registration in the transaction that records it (an uninstall or a
//! credential change through any instance refuses it at once). The time limit only bounds how
//! long an entry nobody uses stays in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dealbridge_core::CompanyId;
use dealbridge_storage::{RegistrationGuard, WebhookRegistration};

use crate::credentials::WebhookCredentials;

/// How long a verified registration is reused before it is read again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// Past this many paths the cache starts over rather than growing without bound.
const MAX_ENTRIES: usize = 10_000;

/// A registration whose credentials are opened, and the guard its deliveries are recorded with.
pub(crate) struct Verified {
    pub company_id: CompanyId,
    pub credentials: WebhookCredentials,
    pub guard: RegistrationGuard,
    read_at: Instant,
}

impl Verified {
    pub(crate) fn new(registration: WebhookRegistration, credentials: WebhookCredentials) -> Self {
        Self {
            company_id: registration.company_id,
            credentials,
            guard: RegistrationGuard {
                tenant_id: registration.tenant_id,
                path_token: registration.path_token,
                username: registration.username,
                credentials: registration.credentials,
            },
            read_at: Instant::now(),
        }
    }
}

pub(crate) struct RegistrationCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Arc<Verified>>>,
}

impl RegistrationCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    pub(crate) fn get(&self, path_token: &str) -> Option<Arc<Verified>> {
        let entries = self.entries.lock().ok()?;
        let verified = entries.get(path_token)?;
        (verified.read_at.elapsed() < self.ttl).then(|| verified.clone())
    }

    pub(crate) fn put(&self, verified: Arc<Verified>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(verified.guard.path_token.clone(), verified);
        }
    }

    pub(crate) fn forget(&self, path_token: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(path_token);
        }
    }
}

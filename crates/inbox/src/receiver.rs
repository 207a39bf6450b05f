//! The Pipedrive webhook receiver's pipeline, without HTTP: find the tenant by the path token,
//! check the Basic credentials, read the payload, check the company, record the event with its
//! job. Only an `Ok` may be acknowledged with a 2xx; every error says which status fits.

use std::sync::Arc;
use std::time::Duration;

use dealbridge_core::event::NewEvent;
use dealbridge_core::TenantId;
use dealbridge_crypto::KeyRing;
use dealbridge_storage::{InboxEntry, Lane, NewJob, Recorded, Store, StoreError};
use uuid::Uuid;

use crate::credentials::WebhookCredentials;
use crate::payload::{parse_pipedrive, PayloadError};
use crate::registration_cache::{RegistrationCache, Verified, DEFAULT_TTL};
use crate::writer::{InboxWriter, WriteError};

/// The job each accepted Pipedrive event becomes; its payload names the inbox row.
pub const EVENT_JOB_KIND: &str = "event.pipedrive";

/// Pipedrive gives up after 10 s; answering 503 well before that lets its retry find us again.
const RECORD_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// 404: no registration has this path.
    #[error("unknown webhook")]
    UnknownPath,
    /// 401: missing or wrong Basic credentials.
    #[error("wrong credentials")]
    Unauthorized,
    /// 403: the payload names another company than the path's tenant.
    #[error("the event belongs to another company")]
    ForeignCompany,
    /// 400.
    #[error(transparent)]
    Malformed(#[from] PayloadError),
    /// 503: the event was not recorded; the sender should retry.
    #[error("the inbox is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for ReceiveError {
    fn from(err: StoreError) -> Self {
        Self::Unavailable(Box::new(err))
    }
}

impl From<WriteError> for ReceiveError {
    fn from(err: WriteError) -> Self {
        Self::Unavailable(Box::new(err))
    }
}

#[derive(Clone)]
pub struct PipedriveReceiver {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    /// `None`: each event is committed on its own after a fresh lookup (the naive path the
    /// benchmark compares with).
    writer: Option<InboxWriter>,
    cache: Arc<RegistrationCache>,
}

/// Path tokens are 43 URL-safe characters; anything else cannot be one and costs no query.
fn plausible_token(token: &str) -> bool {
    (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Past this many re-verifications in one delivery, the registration is changing faster than we
/// can record: 503, and the sender retries.
const ATTEMPTS: usize = 3;

impl PipedriveReceiver {
    /// Records through group commit, reusing verified registrations (see `registration_ttl`).
    pub fn new(store: Arc<dyn Store>, keys: Arc<KeyRing>, writer: InboxWriter) -> Self {
        Self {
            store,
            keys,
            writer: Some(writer),
            cache: Arc::new(RegistrationCache::new(DEFAULT_TTL)),
        }
    }

    /// Looks the registration up and records each event in its own transaction.
    pub fn one_by_one(store: Arc<dyn Store>, keys: Arc<KeyRing>) -> Self {
        Self {
            store,
            keys,
            writer: None,
            cache: Arc::new(RegistrationCache::new(Duration::ZERO)),
        }
    }

    /// How long a verified registration is reused (zero: never). Safe at any length: every
    /// delivery is recorded only if its registration is still the stored one.
    pub fn registration_ttl(mut self, ttl: Duration) -> Self {
        self.cache = Arc::new(RegistrationCache::new(ttl));
        self
    }

    pub async fn receive(
        &self,
        path_token: &str,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<Recorded, ReceiveError> {
        if !plausible_token(path_token) {
            return Err(ReceiveError::UnknownPath);
        }
        let Some(writer) = &self.writer else {
            return self.receive_one(path_token, authorization, body).await;
        };
        let mut hook = None;
        for attempt in 0..ATTEMPTS {
            // A cached registration that refuses the delivery is read again before refusing.
            let verified = self.verify(path_token, authorization, attempt == 0).await?;
            let hook = match &hook {
                Some(hook) => hook,
                None => hook.insert(parse_pipedrive(body)?),
            };
            if hook.company_id != verified.company_id {
                return Err(ReceiveError::ForeignCompany);
            }
            let entry = entry(verified.guard.tenant_id, hook.event.clone());
            let record = writer.record_guarded(entry, Some(verified.guard.clone()));
            match tokio::time::timeout(RECORD_TIMEOUT, record).await {
                Err(elapsed) => return Err(ReceiveError::Unavailable(Box::new(elapsed))),
                Ok(Err(WriteError::RegistrationChanged)) => self.cache.forget(path_token),
                Ok(outcome) => return Ok(outcome?),
            }
        }
        Err(ReceiveError::Unavailable(
            "the webhook registration kept changing".into(),
        ))
    }

    /// The naive path: a fresh lookup, then one transaction for the event.
    async fn receive_one(
        &self,
        path_token: &str,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<Recorded, ReceiveError> {
        let verified = self.verify(path_token, authorization, false).await?;
        let hook = parse_pipedrive(body)?;
        if hook.company_id != verified.company_id {
            return Err(ReceiveError::ForeignCompany);
        }
        let entry = entry(verified.guard.tenant_id, hook.event);
        tokio::time::timeout(RECORD_TIMEOUT, self.store.record_event(&entry))
            .await
            .map_err(|e| ReceiveError::Unavailable(Box::new(e)))?
            .map_err(ReceiveError::from)
    }

    /// The registration of the path, its credentials checked (in constant time) against the
    /// delivery's: from the cache if `use_cache` and the cached one accepts them, else read.
    async fn verify(
        &self,
        path_token: &str,
        authorization: Option<&str>,
        use_cache: bool,
    ) -> Result<Arc<Verified>, ReceiveError> {
        if use_cache {
            if let Some(cached) = self.cache.get(path_token) {
                if cached.credentials.accepts(authorization) {
                    return Ok(cached);
                }
            }
        }
        let read = tokio::time::timeout(
            RECORD_TIMEOUT,
            self.store.webhook_registration_by_path(path_token),
        )
        .await
        .map_err(|e| ReceiveError::Unavailable(Box::new(e)))??;
        let Some(registration) = read else {
            self.cache.forget(path_token);
            return Err(ReceiveError::UnknownPath);
        };
        let credentials = WebhookCredentials::open(
            &self.keys,
            registration.tenant_id,
            &registration.username,
            &registration.credentials,
        )
        .map_err(|e| ReceiveError::Unavailable(Box::new(e)))?;
        let verified = Arc::new(Verified::new(registration, credentials));
        self.cache.put(verified.clone());
        if !verified.credentials.accepts(authorization) {
            return Err(ReceiveError::Unauthorized);
        }
        Ok(verified)
    }
}

/// The inbox entry of an accepted event, with its job; the id (UUIDv7) names the row in the job.
fn entry(tenant_id: TenantId, event: NewEvent) -> InboxEntry {
    let id = Uuid::now_v7();
    InboxEntry {
        id,
        tenant_id,
        job: NewJob::new(EVENT_JOB_KIND, serde_json::json!({ "event_id": id }))
            .lane(Lane::Realtime),
        event,
    }
}

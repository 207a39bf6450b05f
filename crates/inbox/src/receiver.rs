//! The Pipedrive webhook receiver's pipeline, without HTTP: find the tenant by the path token,
//! check the Basic credentials, read the payload, check the company, record the event with its
//! job. Only an `Ok` may be acknowledged with a 2xx; every error says which status fits.

use std::sync::Arc;
use std::time::Duration;

use dealbridge_crypto::KeyRing;
use dealbridge_storage::{InboxEntry, Lane, NewJob, Recorded, Store, StoreError};
use uuid::Uuid;

use crate::credentials::WebhookCredentials;
use crate::payload::{parse_pipedrive, PayloadError};
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
    /// `None`: each event is committed on its own (the naive path the benchmark compares with).
    writer: Option<InboxWriter>,
}

/// Path tokens are 43 URL-safe characters; anything else cannot be one and costs no query.
fn plausible_token(token: &str) -> bool {
    (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl PipedriveReceiver {
    /// Records through group commit.
    pub fn new(store: Arc<dyn Store>, keys: Arc<KeyRing>, writer: InboxWriter) -> Self {
        Self {
            store,
            keys,
            writer: Some(writer),
        }
    }

    /// Records each event in its own transaction.
    pub fn one_by_one(store: Arc<dyn Store>, keys: Arc<KeyRing>) -> Self {
        Self {
            store,
            keys,
            writer: None,
        }
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
        let registration = tokio::time::timeout(
            RECORD_TIMEOUT,
            self.store.webhook_registration_by_path(path_token),
        )
        .await
        .map_err(|e| ReceiveError::Unavailable(Box::new(e)))??
        .ok_or(ReceiveError::UnknownPath)?;
        let credentials = WebhookCredentials::open(
            &self.keys,
            registration.tenant_id,
            &registration.username,
            &registration.credentials,
        )
        .map_err(|e| ReceiveError::Unavailable(Box::new(e)))?;
        if !credentials.accepts(authorization) {
            return Err(ReceiveError::Unauthorized);
        }
        let hook = parse_pipedrive(body)?;
        if hook.company_id != registration.company_id {
            return Err(ReceiveError::ForeignCompany);
        }
        let id = Uuid::now_v7();
        let entry = InboxEntry {
            id,
            tenant_id: registration.tenant_id,
            job: NewJob::new(EVENT_JOB_KIND, serde_json::json!({ "event_id": id }))
                .lane(Lane::Realtime),
            event: hook.event,
        };
        let record = async {
            match &self.writer {
                Some(writer) => Ok(writer.record(entry).await?),
                None => Ok(self.store.record_event(&entry).await?),
            }
        };
        tokio::time::timeout(RECORD_TIMEOUT, record)
            .await
            .map_err(|e| ReceiveError::Unavailable(Box::new(e)))?
    }
}

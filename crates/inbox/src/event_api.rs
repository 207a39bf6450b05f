//! The signed event API's pipeline, without HTTP: the tenant named by the `dealbridge-tenant`
//! header, its active signing secrets, the Standard Webhooks check and the typed payload (the
//! events crate), then the event and its job recorded through group commit.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;
use dealbridge_crypto::KeyRing;
use dealbridge_events::{event_api, FieldError, Headers, IngestError};
use dealbridge_storage::{Recorded, Store};

use crate::sealing::{open, SecretRole};
use crate::source_error::{bounded, record, tenant_takes_events, SourceError};
use crate::writer::InboxWriter;

/// The header naming the tenant an event is for (its id, shown on the dashboard). The signature,
/// not this header, proves who sent it.
pub const TENANT_HEADER: &str = "dealbridge-tenant";

#[derive(Clone)]
pub struct EventApiReceiver {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    writer: InboxWriter,
}

impl EventApiReceiver {
    pub fn new(store: Arc<dyn Store>, keys: Arc<KeyRing>, writer: InboxWriter) -> Self {
        Self {
            store,
            keys,
            writer,
        }
    }

    pub async fn receive(
        &self,
        headers: &Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Recorded, SourceError> {
        let Some(tenant) = headers.get(TENANT_HEADER).filter(|t| !t.is_empty()) else {
            return Err(IngestError::Invalid(vec![FieldError::new(
                format!("header:{TENANT_HEADER}"),
                "is required: the tenant id shown on the dashboard",
            )])
            .into());
        };
        let tenant_id: TenantId = tenant.parse().map_err(|_| SourceError::Unknown)?;
        if !tenant_takes_events(self.store.as_ref(), tenant_id).await? {
            return Err(SourceError::Unknown);
        }
        let stored = bounded(self.store.active_event_api_secrets(tenant_id, now)).await?;
        let opened = stored
            .iter()
            .map(|s| {
                open(
                    &self.keys,
                    SecretRole::EventApiSecret,
                    tenant_id,
                    s.id,
                    &s.secret,
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(SourceError::unavailable)?;
        let secrets = event_api::Secrets::new(&opened).map_err(SourceError::unavailable)?;
        let event = event_api::parse(headers, body, &secrets, now)?;
        record(&self.writer, tenant_id, event).await
    }
}

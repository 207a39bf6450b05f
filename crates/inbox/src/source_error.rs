//! Why an event from the event API or a connected store was not recorded, in terms that map
//! one-to-one onto an HTTP answer. Only an `Ok` from a receiver may be answered 2xx.

use std::time::Duration;

use dealbridge_core::event::NewEvent;
use dealbridge_events::IngestError;
use dealbridge_storage::{InboxEntry, Lane, NewJob, Recorded, Store, StoreError};
use uuid::Uuid;

use crate::writer::{InboxWriter, WriteError};

/// Senders time out after a few seconds (Shopify after 5 in all); answering 503 before that lets
/// their retry find us again.
pub(crate) const RECORD_TIMEOUT: Duration = Duration::from_secs(4);

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// 404: no such tenant (event API) or connection (store webhook), or it no longer takes events.
    #[error("unknown event source")]
    Unknown,
    /// 403: a verified delivery from another shop than the connection's (Shopify signs with the
    /// app's secret, which every shop of the app shares).
    #[error("the delivery comes from another shop")]
    ForeignShop,
    /// 400, 401 or 413, as `IngestError::status` says.
    #[error(transparent)]
    Refused(#[from] IngestError),
    /// 503: the event was not recorded; the sender should retry.
    #[error("the inbox is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl SourceError {
    pub(crate) fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(err))
    }
}

impl From<StoreError> for SourceError {
    fn from(err: StoreError) -> Self {
        Self::unavailable(err)
    }
}

impl From<WriteError> for SourceError {
    fn from(err: WriteError) -> Self {
        Self::unavailable(err)
    }
}

/// The job an accepted event becomes: `event.` and the event type's name (`event.signup`,
/// `event.order.created`, ...). Its payload names the inbox row.
pub fn event_job_kind(event: &NewEvent) -> String {
    format!("event.{}", event.kind.name())
}

/// Records the event and its job for the tenant through the group-commit writer, within
/// [`RECORD_TIMEOUT`].
pub(crate) async fn record(
    writer: &InboxWriter,
    tenant_id: dealbridge_core::TenantId,
    event: NewEvent,
) -> Result<Recorded, SourceError> {
    let id = Uuid::now_v7();
    let entry = InboxEntry {
        id,
        tenant_id,
        job: NewJob::new(
            event_job_kind(&event),
            serde_json::json!({ "event_id": id }),
        )
        .lane(Lane::Realtime),
        event,
    };
    tokio::time::timeout(RECORD_TIMEOUT, writer.record(entry))
        .await
        .map_err(SourceError::unavailable)?
        .map_err(SourceError::from)
}

/// A store lookup within [`RECORD_TIMEOUT`]: a stalled database is a 503, not a hung request.
pub(crate) async fn bounded<T>(
    lookup: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, SourceError> {
    tokio::time::timeout(RECORD_TIMEOUT, lookup)
        .await
        .map_err(SourceError::unavailable)?
        .map_err(SourceError::from)
}

/// Whether a tenant takes events: it exists and is installed. A tenant support paused still
/// takes them: only its jobs wait, so nothing sent meanwhile is lost.
pub(crate) async fn tenant_takes_events(
    store: &dyn Store,
    tenant_id: dealbridge_core::TenantId,
) -> Result<bool, SourceError> {
    let tenant = bounded(store.tenant(tenant_id)).await?;
    Ok(tenant.is_some_and(|t| t.status != dealbridge_core::tenant::TenantStatus::Uninstalled))
}

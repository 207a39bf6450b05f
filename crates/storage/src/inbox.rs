//! The inbox: every event Dealbridge accepted, one row each, recorded together with the job that
//! will act on it. A sender's retry is recognised by its dedupe key and recorded once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::event::{EventSource, NewEvent};
use dealbridge_core::outcome::EventOutcome;
use dealbridge_core::TenantId;
use uuid::Uuid;

use crate::{NewJob, StoreResult};

/// Where an event stands. `Stale` events are kept (the sender did send them) but carry nothing
/// newer than what is already recorded for their entity, so no job is queued for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InboxState {
    Pending,
    Processed,
    Failed,
    Stale,
}

impl InboxState {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Processed, Self::Failed, Self::Stale];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processed => "processed",
            Self::Failed => "failed",
            Self::Stale => "stale",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// One event to record for a tenant, with the job that will act on it. The caller picks the id
/// (UUIDv7) so the job's payload can name the event before the row exists.
#[derive(Debug, Clone)]
pub struct InboxEntry {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub event: NewEvent,
    /// Queued in the same transaction as the row, unless the event is a duplicate or stale.
    pub job: NewJob,
}

/// What recording an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new row, and its job queued.
    New,
    /// A new row for an event older than one already recorded for its entity: kept, no job.
    Stale,
    /// The same (source, dedupe key) was recorded before: nothing written.
    Duplicate,
}

/// A recorded event, as the dashboard and the event jobs read it.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEvent {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub source: EventSource,
    /// The event type's name (`pipedrive.deal.change`, `order.created`, ...).
    pub kind: String,
    pub dedupe_key: String,
    pub entity_key: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub state: InboxState,
    pub payload: serde_json::Value,
    /// What a workflow made of it; `None` until one finished with it (and for the mirror's own
    /// `pipedrive.*` events, which change no Pipedrive record).
    pub outcome: Option<EventOutcome>,
}

/// A tenant's events on one UTC day: how many were received (duplicates not counted) and how
/// many runs of an event failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventDay {
    pub day: chrono::NaiveDate,
    pub received: i64,
    pub failed: i64,
}

/// Which of a tenant's events a list shows; each part that is set narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub source: Option<EventSource>,
    /// The event type's name, as in [`InboxEvent::kind`].
    pub kind: Option<String>,
    pub state: Option<InboxState>,
    /// Received at or after.
    pub from: Option<DateTime<Utc>>,
    /// Received before.
    pub until: Option<DateTime<Utc>>,
    /// The page after this event: only events listed after it, newest first (received time,
    /// then id).
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

#[async_trait]
pub trait Inbox: Send + Sync + 'static {
    /// Records the event and queues its job in one transaction: both exist or neither does. A
    /// duplicate is not an error: it writes nothing and reports `Recorded::Duplicate`.
    async fn record_event(&self, entry: &InboxEntry) -> StoreResult<Recorded>;

    /// Records many entries in one transaction (group commit): one result per entry, in order.
    /// If the transaction fails, nothing of the batch is recorded.
    async fn record_events(&self, entries: &[InboxEntry]) -> StoreResult<Vec<Recorded>>;

    async fn inbox_event(&self, tenant_id: TenantId, id: Uuid) -> StoreResult<Option<InboxEvent>>;

    /// Sets the state of one of the tenant's events. `NotFound` if the tenant has no such event.
    async fn set_event_state(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        state: InboxState,
    ) -> StoreResult<()>;

    /// Sets the state of one of the tenant's events together with what it became. `NotFound` if
    /// the tenant has no such event.
    async fn finish_event(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        state: InboxState,
        outcome: &EventOutcome,
    ) -> StoreResult<()>;

    /// The tenant's events that `filter` lets through, newest first, at most `limit`.
    async fn list_events(
        &self,
        tenant_id: TenantId,
        filter: &EventFilter,
        limit: u32,
    ) -> StoreResult<Vec<InboxEvent>>;

    /// Runs a failed event again: its state becomes pending (what it became before is cleared)
    /// and `job` is queued, in one transaction. False, with nothing done, unless the tenant has
    /// the event and it is failed, so two retries at once queue one job.
    async fn retry_failed_event(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        job: &NewJob,
    ) -> StoreResult<bool>;

    /// The tenant's per-day counts from `from` to `to` (UTC days, both included), oldest first;
    /// days without events are left out.
    async fn event_days(
        &self,
        tenant_id: TenantId,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> StoreResult<Vec<EventDay>>;

    /// The tenant's most recent events from one source, newest first.
    async fn recent_events(
        &self,
        tenant_id: TenantId,
        source: EventSource,
        limit: u32,
    ) -> StoreResult<Vec<InboxEvent>>;
}

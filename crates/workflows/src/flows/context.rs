//! What every workflow run has at hand: the event, the tenant's settings and provisioned field
//! codes, a client acting for the tenant, and the mirror, which it keeps current with what
//! Pipedrive answers.

use chrono::Utc;
use dealbridge_core::event::PipedriveEntity;
use dealbridge_core::fields::FieldPurpose;
use dealbridge_core::outcome::{RecordKind, RecordRef};
use dealbridge_core::workflow_settings::WorkflowSettings;
use dealbridge_core::TenantId;
use dealbridge_pipedrive::CompanyClient;
use dealbridge_storage::{InboxEvent, MirrorLookup, MirrorRecord, Store};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{FlowError, FlowResult};
use super::journal::{Journal, Lookup};
use crate::pipedrive_events::api_time;

pub(crate) struct Flow<'a> {
    pub store: &'a dyn Store,
    pub client: CompanyClient,
    pub event: &'a InboxEvent,
    pub settings: WorkflowSettings,
    /// Who owns what the workflows create: the settings' owner, else the installing user.
    pub owner_id: u64,
    /// The provisioned codes of the app's custom deal fields, by purpose.
    pub fields: Vec<(FieldPurpose, String)>,
    /// What the event became so far, in order.
    pub records: Vec<RecordRef>,
}

impl<'a> Flow<'a> {
    pub fn tenant_id(&self) -> TenantId {
        self.event.tenant_id
    }

    /// The event's own id: the key of its own steps, and what its notes and activities carry.
    pub fn event_key(&self) -> String {
        self.event.id.to_string()
    }

    /// The journal of this event's own steps.
    pub fn journal(&self) -> Journal<'a> {
        Journal::new(
            self.store,
            self.tenant_id(),
            self.event_key(),
            &self.event_key(),
        )
    }

    /// The journal of a record other events may write too (`person:{email}`, `order:{id}`).
    pub fn shared_journal(&self, key: String) -> Journal<'a> {
        Journal::new(self.store, self.tenant_id(), key, &self.event_key())
    }

    /// The event's payload as `T`; one that does not read is refused (the receiver validated it,
    /// so this is a bug or an old row, and retrying cannot help).
    pub fn payload<T: DeserializeOwned>(&self) -> FlowResult<T> {
        serde_json::from_value(self.event.payload.clone())
            .map_err(|_| FlowError::Refused("the event's payload does not read"))
    }

    pub fn field(&self, purpose: FieldPurpose) -> FlowResult<&str> {
        self.fields
            .iter()
            .find(|(p, _)| *p == purpose)
            .map(|(_, code)| code.as_str())
            .ok_or(FlowError::Refused(
                "Dealbridge's custom deal fields are not provisioned yet",
            ))
    }

    pub fn became(&mut self, kind: RecordKind, id: u64) {
        let record = RecordRef { kind, id };
        if !self.records.contains(&record) {
            self.records.push(record);
        }
    }

    /// The first live mirror record the lookup finds.
    pub async fn mirrored(&self, lookup: MirrorLookup<'_>) -> FlowResult<Option<u64>> {
        let found = self.mirrored_record(lookup).await?;
        Ok(found.and_then(|record| u64::try_from(record.record_id).ok()))
    }

    /// The mirror's first record for `lookup`, with the data it holds.
    pub async fn mirrored_record(
        &self,
        lookup: MirrorLookup<'_>,
    ) -> FlowResult<Option<MirrorRecord>> {
        let found = self.store.find_mirror(self.tenant_id(), lookup).await?;
        Ok(found.into_iter().next())
    }

    /// Whether a miss in the mirror means Pipedrive holds no such `entity` record, so it may be
    /// created without a search (see [`crate::coverage`]).
    pub async fn mirror_complete(&self, entity: PipedriveEntity) -> FlowResult<bool> {
        let coverage = self.store.mirror_coverage(self.tenant_id()).await?;
        Ok(crate::coverage::mirror_complete(
            coverage.as_ref(),
            entity,
            Utc::now(),
        ))
    }

    /// How a find-or-create step for `entity` looks its record up: only when resuming a step that
    /// may have written already if the mirror is complete (a miss there is final), else always.
    pub async fn lookup_for(&self, entity: PipedriveEntity) -> FlowResult<Lookup> {
        Ok(if self.mirror_complete(entity).await? {
            Lookup::OnResume
        } else {
            Lookup::Always
        })
    }

    /// Keeps the mirror current with a record Pipedrive just answered with, so the next event
    /// finds it without a call. Its `update_time` orders it among webhook deliveries; a record
    /// without one is left to the webhooks.
    pub async fn remember<T: Serialize>(
        &self,
        entity: PipedriveEntity,
        id: u64,
        keys: MirrorKeys,
        update_time: Option<&str>,
        record: &T,
    ) -> FlowResult<()> {
        let (Some(changed_at), Ok(record_id)) = (api_time(update_time), i64::try_from(id)) else {
            return Ok(());
        };
        let data = serde_json::to_value(record).unwrap_or_default();
        let mirror = MirrorRecord {
            entity,
            record_id,
            name: keys.name,
            email: keys.email,
            domain: keys.domain,
            order_id: keys.order_id,
            changed_at,
            data,
        };
        self.store.upsert_mirror(self.tenant_id(), &mirror).await?;
        Ok(())
    }
}

/// The lookup keys of a record for the mirror.
#[derive(Debug, Default)]
pub(crate) struct MirrorKeys {
    pub name: Option<String>,
    pub email: Option<String>,
    pub domain: Option<String>,
    pub order_id: Option<String>,
}

/// Keeps what a write step answered, for the mirror (the step's closure can only return the id).
pub(crate) fn put<T>(slot: &std::sync::Mutex<Option<T>>, value: T) {
    if let Ok(mut held) = slot.lock() {
        *held = Some(value);
    }
}

/// Escapes text for a note's HTML content.
pub(crate) fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The line a note or activity carries so a retry can find it again: the key of the step that
/// wrote it (an event id or a shared key), never the event's content.
pub(crate) fn marker(key: &str) -> String {
    format!("Dealbridge ref: {key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipedrive_times_of_both_versions_parse() {
        assert!(api_time(Some("2026-01-05T09:00:00Z")).is_some());
        assert!(api_time(Some("2026-01-05 09:00:00")).is_some());
        assert!(api_time(Some("yesterday")).is_none());
        assert!(api_time(None).is_none());
    }

    #[test]
    fn note_text_is_escaped() {
        assert_eq!(html("<b>A & B</b>"), "&lt;b&gt;A &amp; B&lt;/b&gt;");
    }
}

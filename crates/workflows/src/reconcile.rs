//! `pipedrive.reconcile` (per tenant, bulk lane, fanned out by the periodic
//! `pipedrive.reconcile_all`): fills the gaps webhooks leave (a ban, an outage, a webhook
//! Pipedrive deleted) by listing the deals, persons and organizations changed since the last
//! watermark and feeding each into the same inbox the webhooks write to.
//!
//! Each record becomes an event with the dedupe key `reconcile:{entity}:{id}:{update_time}`: a
//! record version is recorded once however many sweeps see it. A webhook for the same change is
//! stamped at or after the record's `update_time`, so when the webhook came first the reconcile
//! copy is either stale at the inbox (strictly older) or found not newer than the mirror by the
//! event job (same second) and marked stale there; either way it changes nothing twice.
//!
//! Each page is brought into the mirror by the sweep itself (see `mirror_page`), and an entity whose list was read to
//! its end is marked listed as of the sweep's start: what the workflows' completeness rule
//! (`coverage`) reads to skip searches on mirror misses.
//!
//! The watermark moves only after a page's events are committed, to the newest `update_time`
//! on that page (lists are sorted by it, ascending; `updated_since` is inclusive, so a record
//! sharing that second is listed again and recognised as a duplicate). A crash between the two
//! repeats at most one page. When the budget ledger says wait, the job stops and is retried at
//! the time the ledger gave, resuming from the watermark.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use dealbridge_core::event::{ChangeAction, EventSource, EventType, NewEvent, PipedriveEntity};
use dealbridge_core::TenantId;
use dealbridge_inbox::EVENT_JOB_KIND;
use dealbridge_jobs::{JobContext, JobError};
use dealbridge_pipedrive::models::{CursorPage, ListQuery};
use dealbridge_pipedrive::CompanyClient;
use dealbridge_storage::{InboxEntry, Lane, NewJob, Recorded};
use serde::Serialize;
use uuid::Uuid;

use crate::errors::{job_error, store_error};
use crate::pipedrive_events::{apply_pending, mirror_record};
use crate::tenant_jobs::{acting_user, fan_out};
use crate::Workflows;
use dealbridge_budget::ledger_lane;

pub const RECONCILE_KIND: &str = "pipedrive.reconcile";
pub const RECONCILE_ALL_KIND: &str = "pipedrive.reconcile_all";

/// Often enough that a missed webhook shows within the quarter hour; each sweep costs one list
/// call per entity when nothing changed.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(15 * 60);

/// Budget waits count as attempts; a sweep that resumes from its watermark each time may wait
/// many times before it is done.
const RECONCILE_ATTEMPTS: u32 = 50;

/// Pipedrive's largest page.
const PAGE_SIZE: u32 = 500;

/// Pages per entity per run: the rest waits for the next run, from the watermark.
const MAX_PAGES: usize = 20;

/// One listed record, as the event job reads it.
struct Listed {
    id: i64,
    update_time: DateTime<Utc>,
    data: serde_json::Value,
}

fn listed<T: Serialize>(page: CursorPage<T>) -> Result<(Vec<Listed>, Option<String>), JobError> {
    let mut records = Vec::with_capacity(page.items.len());
    for item in page.items {
        let data = serde_json::to_value(item).map_err(JobError::permanent)?;
        let id = data.get("id").and_then(serde_json::Value::as_i64);
        let time = data
            .get("update_time")
            .and_then(serde_json::Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        // A record without an id or update time cannot be ordered; the webhooks still cover it.
        if let (Some(id), Some(time)) = (id, time) {
            records.push(Listed {
                id,
                update_time: time.with_timezone(&Utc),
                data,
            });
        }
    }
    Ok((records, page.next_cursor))
}

async fn list_page(
    client: &CompanyClient,
    entity: PipedriveEntity,
    query: ListQuery,
) -> Result<(Vec<Listed>, Option<String>), JobError> {
    match entity {
        PipedriveEntity::Deal => listed(client.deals().list(query).await.map_err(job_error)?),
        PipedriveEntity::Person => listed(client.persons().list(query).await.map_err(job_error)?),
        PipedriveEntity::Organization => listed(
            client
                .organizations()
                .list(query)
                .await
                .map_err(job_error)?,
        ),
    }
}

/// The inbox entry for one listed record; its job is the same as a webhook's.
fn entry(tenant_id: TenantId, entity: PipedriveEntity, record: Listed) -> InboxEntry {
    let stamp = record
        .update_time
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let id = Uuid::now_v7();
    InboxEntry {
        id,
        tenant_id,
        job: NewJob::new(EVENT_JOB_KIND, serde_json::json!({ "event_id": id })),
        event: NewEvent {
            source: EventSource::Pipedrive,
            kind: EventType::pipedrive(entity, ChangeAction::Change),
            dedupe_key: format!("reconcile:{}:{}:{stamp}", entity.as_str(), record.id),
            entity_key: Some(format!("{}:{}", entity.as_str(), record.id)),
            occurred_at: record.update_time,
            payload: serde_json::json!({
                "meta": {
                    "origin": "reconcile", "action": "change", "entity": entity.as_str(),
                    "entity_id": record.id.to_string(), "timestamp": stamp,
                },
                "data": record.data,
                "previous": null,
            }),
        },
    }
}

/// One tenant's reconcile, as the periodic fan-out queues it (support can ask for one too).
pub fn reconcile_job(tenant_id: TenantId) -> NewJob {
    crate::tenant_job(RECONCILE_KIND, Lane::Bulk, RECONCILE_ATTEMPTS, tenant_id)
}

impl Workflows {
    pub(crate) async fn reconcile_all(&self) -> Result<(), JobError> {
        let queued = fan_out(
            self.store.as_ref(),
            RECONCILE_KIND,
            Lane::Bulk,
            RECONCILE_ATTEMPTS,
        )
        .await?;
        tracing::info!(tenants = queued, "reconciles queued");
        Ok(())
    }

    pub(crate) async fn reconcile(&self, ctx: JobContext) -> Result<(), JobError> {
        let tenant_id = ctx
            .tenant_id()
            .ok_or_else(|| JobError::permanent("pipedrive.reconcile needs a tenant"))?;
        if self
            .store
            .webhook_registration(tenant_id)
            .await
            .map_err(store_error)?
            .is_none()
        {
            return Ok(()); // uninstalled since the fan-out
        }
        let Some(user) = acting_user(self.store.as_ref(), tenant_id).await? else {
            return Ok(());
        };
        let client = self
            .company_client(tenant_id, user, ledger_lane(ctx.job.lane))
            .await?;
        let mut marks = self
            .store
            .reconcile_watermarks(tenant_id)
            .await
            .map_err(store_error)?;
        // Everything changed before this moment is listed once an entity's list reaches its end.
        let started = Utc::now();
        let mut fed = 0usize;
        for entity in PipedriveEntity::ALL {
            let (count, to_the_end) = self
                .reconcile_entity(&client, tenant_id, entity, &mut marks)
                .await?;
            fed += count;
            if to_the_end {
                self.store
                    .mark_mirror_listed(tenant_id, entity.as_str(), started)
                    .await
                    .map_err(store_error)?;
            }
        }
        tracing::info!(tenant = %tenant_id, records = fed, "reconciled");
        Ok(())
    }

    /// Feeds one entity's changes page by page, writing each record into the mirror as well and
    /// moving its watermark after each page. Returns how many were listed, and whether the list
    /// was read to its end (else the next run goes on from the watermark).
    async fn reconcile_entity(
        &self,
        client: &CompanyClient,
        tenant_id: TenantId,
        entity: PipedriveEntity,
        marks: &mut BTreeMap<String, DateTime<Utc>>,
    ) -> Result<(usize, bool), JobError> {
        let since = marks.get(entity.as_str()).copied();
        let mut cursor: Option<String> = None;
        let mut fed = 0;
        for _ in 0..MAX_PAGES {
            let mut query = ListQuery::new()
                .limit(PAGE_SIZE)
                .filter("sort_by", "update_time")
                .filter("sort_direction", "asc");
            if let Some(since) = since {
                query = query.filter(
                    "updated_since",
                    since.to_rfc3339_opts(SecondsFormat::Secs, true),
                );
            }
            if let Some(cursor) = cursor.take() {
                query = query.cursor(cursor);
            }
            let (records, next) = list_page(client, entity, query).await?;
            let newest = records.iter().map(|r| r.update_time).max();
            fed += records.len();
            let entries: Vec<InboxEntry> = records
                .into_iter()
                .map(|r| entry(tenant_id, entity, r))
                .collect();
            if !entries.is_empty() {
                let recorded = self
                    .store
                    .record_events(&entries)
                    .await
                    .map_err(store_error)?;
                self.mirror_page(tenant_id, entity, &entries, &recorded)
                    .await?;
            }
            if let Some(newest) = newest {
                let mark = marks.entry(entity.as_str().to_owned()).or_insert(newest);
                *mark = (*mark).max(newest);
                self.store
                    .set_reconcile_watermarks(tenant_id, marks)
                    .await
                    .map_err(store_error)?;
            }
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok((fed, true)),
            }
        }
        Ok((fed, false))
    }

    /// Brings a recorded page into the mirror at once, so a list read to its end is in the
    /// mirror: a new copy is applied as its event job would apply it (the job then finds it
    /// applied); a copy recorded before (by a sweep that stopped early) is written into the
    /// mirror directly, unless the mirror holds that change or a newer one.
    async fn mirror_page(
        &self,
        tenant_id: TenantId,
        entity: PipedriveEntity,
        entries: &[InboxEntry],
        recorded: &[Recorded],
    ) -> Result<(), JobError> {
        let store = self.store.as_ref();
        for (entry, recorded) in entries.iter().zip(recorded) {
            if *recorded == Recorded::New {
                apply_pending(store, tenant_id, entry.id).await?;
                continue;
            }
            let data = &entry.event.payload["data"];
            let Some(record_id) = data.get("id").and_then(serde_json::Value::as_i64) else {
                continue;
            };
            let at = entry.event.occurred_at;
            let mirrored = mirror_record(store, tenant_id, entity, record_id, at, data)
                .await
                .map_err(store_error)?;
            store
                .upsert_mirror(tenant_id, &mirrored)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }
}

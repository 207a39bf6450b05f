//! The inbox: an event's row and its job in one transaction, duplicates recognised by the
//! `inbox_events_dedupe_key` constraint, and events older than their entity's newest kept as stale.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use dealbridge_core::event::EventSource;
use dealbridge_core::outcome::EventOutcome;
use dealbridge_core::TenantId;
use dealbridge_storage::{
    EventDay, EventFilter, Inbox, InboxEntry, InboxEvent, InboxState, JobId, NewJob, Recorded,
    StoreError, StoreResult,
};
use uuid::Uuid;

use super::jobs::insert_jobs;
use crate::backend::Backend;
use crate::statement::sql;
use crate::values::{day_from_iso, iso_day, Batch, Id, QueueTime};
use crate::{commit, SqlStore};

const COLUMNS: &str = "tenant_id, id, source, kind, dedupe_key, entity_key, occurred_at,
    received_at, state, payload, outcome";

/// Whether the entity has an event newer than the arriving one (stale ones do not count: they
/// were older than something else already).
const NEWER: &str = "select count(*) as n from inbox_events
    where tenant_id = $1 and source = $2 and entity_key = $3 and occurred_at > $4
        and state <> 'stale'";

const INSERT: &str = "insert into inbox_events (tenant_id, id, source, kind, dedupe_key,
        entity_key, occurred_at, received_at, state, payload, updated_at)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $8)
    on conflict (tenant_id, source, dedupe_key) do nothing";

/// The batch `$1`..`$8` recorded at `$9`, in order: an entry is stale when the table holds a
/// newer event of its entity (as `NEWER` asks) or an earlier entry of the batch is newer; a
/// duplicate of the table or of an earlier entry is not inserted. Returns the inserted rows.
fn insert_batch_sql<B: Backend>() -> String {
    let same_entity = "b.tenant_id = a.tenant_id and b.source = a.source
        and b.entity_key = a.entity_key and b.occurred_at > a.occurred_at";
    format!(
        "with arriving as (select * from {rows}),
         judged as (
             select a.*, case when a.entity_key is not null and (
                 exists (select 1 from inbox_events b where {same_entity} and b.state <> 'stale')
                 or exists (select 1 from arriving b where b.n < a.n and {same_entity}))
                 then 'stale' else 'pending' end as state
             from arriving a)
         insert into inbox_events (tenant_id, id, source, kind, dedupe_key, entity_key,
             occurred_at, received_at, state, payload, updated_at)
         select tenant_id, id, source, kind, dedupe_key, entity_key, occurred_at, $9, state,
             payload, $9
         from judged where true order by n
         on conflict (tenant_id, source, dedupe_key) do nothing
         returning id, state",
        rows = B::ARRIVING_EVENTS
    )
}

/// Adds `$3` received and `$4` failed to the tenant's (`$1`) day (`$2`, `YYYY-MM-DD`), in shard
/// `$5`.
const ADD_TO_DAY: &str = "insert into event_days as d (tenant_id, day, received, failed, shard)
    values ($1, $2, $3, $4, $5)
    on conflict (tenant_id, day, shard) do update set
        received = d.received + $3, failed = d.failed + $4";

/// The shard of a day's counts that a write about event `id` adds to: UUIDv7's last bits are
/// random, so concurrent writers spread over the 16 rows.
fn shard(id: Uuid) -> i32 {
    i32::from(id.as_bytes()[15] % 16)
}

pub(super) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("inbox {what} {value:?}"))
}

fn event_from_row<B: Backend>(row: &B::Row) -> StoreResult<InboxEvent> {
    let (tenant, id): (Id, Id) = (B::get(row, "tenant_id")?, B::get(row, "id")?);
    let (source, state): (String, String) = (B::get(row, "source")?, B::get(row, "state")?);
    let time = |name: &str| B::get(row, name).map(|t: QueueTime| t.0);
    Ok(InboxEvent {
        id: id.0,
        tenant_id: TenantId::from_uuid(tenant.0),
        source: EventSource::parse(&source).ok_or_else(|| corrupt("source", &source))?,
        kind: B::get(row, "kind")?,
        dedupe_key: B::get(row, "dedupe_key")?,
        entity_key: B::get(row, "entity_key")?,
        occurred_at: time("occurred_at")?,
        received_at: time("received_at")?,
        state: InboxState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        payload: B::get(row, "payload")?,
        outcome: outcome_from(B::get(row, "outcome")?)?,
    })
}

/// JSON null (the column's default) is an event no workflow finished with yet.
pub(super) fn outcome_from(stored: serde_json::Value) -> StoreResult<Option<EventOutcome>> {
    if stored.is_null() {
        return Ok(None);
    }
    serde_json::from_value(stored)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("inbox outcome: {e}")))
}

impl<B: Backend> SqlStore<B> {
    /// Counts `received` new events and `failed` failed runs on today's row of each tenant.
    async fn add_to_days(
        conn: &mut B::Connection,
        counts: &BTreeMap<TenantId, (i64, i64)>,
        shard: i32,
    ) -> StoreResult<()> {
        let today = iso_day(Utc::now().date_naive());
        for (tenant, (received, failed)) in counts {
            let values = (
                Id(tenant.as_uuid()),
                today.as_str(),
                *received,
                *failed,
                shard,
            );
            sql::<B>(ADD_TO_DAY).binds(values).execute(conn).await?;
        }
        Ok(())
    }

    /// A failed run of one of the tenant's events, on today's count.
    async fn count_failure(&self, tenant_id: TenantId, id: Uuid) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let counts = BTreeMap::from([(tenant_id, (0, 1))]);
        Self::add_to_days(&mut conn, &counts, shard(id)).await
    }

    /// Records one entry inside the caller's transaction.
    async fn record_in(conn: &mut B::Connection, entry: &InboxEntry) -> StoreResult<Recorded> {
        let event = &entry.event;
        let tenant = Id(entry.tenant_id.as_uuid());
        let occurred = QueueTime(event.occurred_at);
        let stale = match &event.entity_key {
            Some(entity) => {
                let newer =
                    sql::<B>(NEWER).binds((tenant, event.source.as_str(), entity, occurred));
                let n: i64 = B::get(&newer.fetch_one(conn).await?, "n")?;
                n > 0
            }
            None => false,
        };
        let state = if stale {
            InboxState::Stale
        } else {
            InboxState::Pending
        };
        let kind = event.kind.name();
        let insert = sql::<B>(INSERT).binds((
            tenant,
            Id(entry.id),
            event.source.as_str(),
            kind.as_str(),
            &event.dedupe_key,
            &event.entity_key,
            occurred,
            QueueTime(Utc::now()),
            state.as_str(),
            &event.payload,
        ));
        if insert.execute(conn).await? == 0 {
            return Ok(Recorded::Duplicate);
        }
        if stale {
            return Ok(Recorded::Stale);
        }
        Self::enqueue_in(conn, &entry.job.clone().tenant(entry.tenant_id)).await?;
        Ok(Recorded::New)
    }

    /// Records a batch inside the caller's transaction with two statements, the rows and then the
    /// jobs of the new ones, where `record_in` takes three per entry: a receiver's group commit
    /// then spends its transaction on the database's work, not on round trips.
    async fn record_batch_in(
        conn: &mut B::Connection,
        entries: &[InboxEntry],
    ) -> StoreResult<Vec<Recorded>> {
        // A unique job key may name a job that is already open; `enqueue_in` reports that holder,
        // which a batch insert cannot. Inbox jobs carry none, so this is the exception.
        if entries.iter().any(|e| e.job.unique_key.is_some()) {
            let mut recorded = Vec::with_capacity(entries.len());
            for entry in entries {
                recorded.push(Self::record_in(conn, entry).await?);
            }
            return Ok(recorded);
        }
        let kinds: Vec<String> = entries.iter().map(|e| e.event.kind.name()).collect();
        let rows = (
            Batch::of(entries, |e| Id(e.tenant_id.as_uuid())),
            Batch::of(entries, |e| Id(e.id)),
            Batch::of(entries, |e| e.event.source.as_str()),
            Batch::of(&kinds, String::as_str),
            Batch::of(entries, |e| e.event.dedupe_key.as_str()),
            Batch::of(entries, |e| e.event.entity_key.as_deref()),
            Batch::of(entries, |e| QueueTime(e.event.occurred_at)),
            Batch::of(entries, |e| &e.event.payload),
            QueueTime(Utc::now()),
        );
        let statement = insert_batch_sql::<B>();
        let inserted = sql::<B>(&statement).binds(rows).fetch_all(conn).await?;
        let mut states = HashMap::with_capacity(inserted.len());
        for row in &inserted {
            let (id, state): (Id, String) = (B::get(row, "id")?, B::get(row, "state")?);
            states.insert(id.0, state == InboxState::Stale.as_str());
        }
        let recorded: Vec<Recorded> = entries
            .iter()
            .map(|e| match states.get(&e.id) {
                None => Recorded::Duplicate,
                Some(true) => Recorded::Stale,
                Some(false) => Recorded::New,
            })
            .collect();
        let jobs: Vec<NewJob> = entries
            .iter()
            .zip(&recorded)
            .filter(|(_, r)| **r == Recorded::New)
            .map(|(e, _)| e.job.clone().tenant(e.tenant_id))
            .collect();
        if !jobs.is_empty() {
            let ids: Vec<JobId> = jobs.iter().map(|_| JobId::new()).collect();
            insert_jobs::<B>(conn, &jobs, &ids).await?;
            B::wake_local_workers();
        }
        Ok(recorded)
    }
}

#[async_trait]
impl<B: Backend> Inbox for SqlStore<B> {
    async fn record_event(&self, entry: &InboxEntry) -> StoreResult<Recorded> {
        let mut tx = self.begin_write().await?;
        let recorded = Self::record_in(&mut tx, entry).await?;
        if recorded != Recorded::Duplicate {
            let counts = BTreeMap::from([(entry.tenant_id, (1, 0))]);
            Self::add_to_days(&mut tx, &counts, shard(entry.id)).await?;
        }
        commit(tx).await?;
        Ok(recorded)
    }

    async fn record_events(&self, entries: &[InboxEntry]) -> StoreResult<Vec<Recorded>> {
        let mut tx = self.begin_write().await?;
        let mut recorded = Vec::with_capacity(entries.len());
        // The same bound as the queue's batches: SQLite re-parses a JSON column per row beyond it.
        for chunk in entries.chunks(B::ENQUEUE_ROWS) {
            recorded.extend(Self::record_batch_in(&mut tx, chunk).await?);
        }
        // One count per tenant for the whole batch, not one per event.
        let mut counts: BTreeMap<TenantId, (i64, i64)> = BTreeMap::new();
        for (entry, result) in entries.iter().zip(&recorded) {
            if *result != Recorded::Duplicate {
                counts.entry(entry.tenant_id).or_default().0 += 1;
            }
        }
        if let Some(first) = entries.first() {
            Self::add_to_days(&mut tx, &counts, shard(first.id)).await?;
        }
        commit(tx).await?;
        Ok(recorded)
    }

    async fn inbox_event(&self, tenant_id: TenantId, id: Uuid) -> StoreResult<Option<InboxEvent>> {
        let statement =
            format!("select {COLUMNS} from inbox_events where tenant_id = $1 and id = $2");
        let values = (Id(tenant_id.as_uuid()), Id(id));
        self.fetch_optional(&statement, values, event_from_row::<B>)
            .await
    }

    async fn set_event_state(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        state: InboxState,
    ) -> StoreResult<()> {
        let statement = "update inbox_events set state = $1, updated_at = $2
            where tenant_id = $3 and id = $4";
        let values = (
            state.as_str(),
            QueueTime(Utc::now()),
            Id(tenant_id.as_uuid()),
            Id(id),
        );
        match self.execute(statement, values).await? {
            0 => Err(StoreError::NotFound("inbox event")),
            _ if state == InboxState::Failed => self.count_failure(tenant_id, id).await,
            _ => Ok(()),
        }
    }

    async fn finish_event(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        state: InboxState,
        outcome: &EventOutcome,
    ) -> StoreResult<()> {
        let statement = "update inbox_events set state = $1, outcome = $2, updated_at = $3
            where tenant_id = $4 and id = $5";
        let outcome = serde_json::to_value(outcome)
            .map_err(|e| StoreError::Corrupt(format!("inbox outcome: {e}")))?;
        let values = (
            state.as_str(),
            &outcome,
            QueueTime(Utc::now()),
            Id(tenant_id.as_uuid()),
            Id(id),
        );
        match self.execute(statement, values).await? {
            0 => Err(StoreError::NotFound("inbox event")),
            _ if state == InboxState::Failed => self.count_failure(tenant_id, id).await,
            _ => Ok(()),
        }
    }

    async fn event_days(
        &self,
        tenant_id: TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<EventDay>> {
        let statement = "select day, cast(sum(received) as bigint) as received,
                cast(sum(failed) as bigint) as failed
            from event_days where tenant_id = $1 and day >= $2 and day <= $3
            group by day order by day";
        let (from, to) = (iso_day(from), iso_day(to));
        let values = (Id(tenant_id.as_uuid()), from.as_str(), to.as_str());
        let read = |row: &B::Row| {
            let text: String = B::get(row, "day")?;
            Ok(EventDay {
                day: day_from_iso(&text).ok_or_else(|| corrupt("day", &text))?,
                received: B::get(row, "received")?,
                failed: B::get(row, "failed")?,
            })
        };
        self.fetch_all(statement, values, read).await
    }

    async fn list_events(
        &self,
        tenant_id: TenantId,
        filter: &EventFilter,
        limit: u32,
    ) -> StoreResult<Vec<InboxEvent>> {
        // Each filter is off when its value is null, so one statement serves every combination.
        let statement = format!(
            "select {COLUMNS} from inbox_events where tenant_id = $1
                 and ($2 is null or source = $2) and ($3 is null or kind = $3)
                 and ($4 is null or state = $4)
                 and ($5 is null or received_at >= $5) and ($6 is null or received_at < $6)
                 and ($7 is null or received_at < $7 or (received_at = $7 and id < $8))
             order by received_at desc, id desc limit $9"
        );
        let (after_time, after_id) = filter.after.unzip();
        let values = (
            Id(tenant_id.as_uuid()),
            filter.source.map(|s| s.as_str()),
            filter.kind.as_deref(),
            filter.state.map(|s| s.as_str()),
            filter.from.map(QueueTime),
            filter.until.map(QueueTime),
            after_time.map(QueueTime),
            after_id.map(Id),
            i64::from(limit),
        );
        self.fetch_all(&statement, values, event_from_row::<B>)
            .await
    }

    async fn retry_failed_event(
        &self,
        tenant_id: TenantId,
        id: Uuid,
        job: &NewJob,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let reopen = "update inbox_events set state = 'pending', outcome = $1, updated_at = $2
            where tenant_id = $3 and id = $4 and state = 'failed'";
        let cleared = serde_json::Value::Null;
        let values = (
            &cleared,
            QueueTime(Utc::now()),
            Id(tenant_id.as_uuid()),
            Id(id),
        );
        if sql::<B>(reopen).binds(values).execute(&mut tx).await? == 0 {
            return Ok(false);
        }
        Self::enqueue_in(&mut tx, &job.clone().tenant(tenant_id)).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn recent_events(
        &self,
        tenant_id: TenantId,
        source: EventSource,
        limit: u32,
    ) -> StoreResult<Vec<InboxEvent>> {
        let statement = format!(
            "select {COLUMNS} from inbox_events where tenant_id = $1 and source = $2
             order by received_at desc, id desc limit $3"
        );
        let values = (Id(tenant_id.as_uuid()), source.as_str(), i64::from(limit));
        self.fetch_all(&statement, values, event_from_row::<B>)
            .await
    }
}

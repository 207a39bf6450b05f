//! Group commit's batch: one lookup of what is stored for the whole batch (recorded dedupe keys,
//! each entity's newest event, the registrations its entries were verified against), the
//! outcome of each entry decided here in order, then one insert of the rows and one of their
//! jobs. A batch costs three statements whatever its size (Postgres; SQLite takes its rows a
//! few dozen at a time), all in the caller's transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use dealbridge_storage::{
    Guarded, GuardedEntry, InboxEntry, InboxState, JobId, NewJob, Recorded, RegistrationGuard,
    StoreResult,
};
use uuid::Uuid;

use crate::areas::jobs::insert_jobs;
use crate::backend::Backend;
use crate::statement::sql;
use crate::values::{Batch, Id, QueueTime};

/// (tenant, source, key): a dedupe key or an entity key of one tenant's source.
type Key = (Uuid, String, String);

/// What the lookup found stored for a batch.
#[derive(Default)]
struct Stored {
    duplicates: HashSet<Key>,
    newest: HashMap<Key, DateTime<Utc>>,
    /// (tenant, path token) to (username, sealed credentials).
    registrations: HashMap<(Uuid, String), (String, Vec<u8>)>,
}

fn key(entry: &InboxEntry, value: &str) -> Key {
    let source = entry.event.source.as_str().to_owned();
    (entry.tenant_id.as_uuid(), source, value.to_owned())
}

fn still_stored(stored: &Stored, guard: &RegistrationGuard) -> bool {
    let at = (guard.tenant_id.as_uuid(), guard.path_token.clone());
    stored
        .registrations
        .get(&at)
        .is_some_and(|(username, sealed)| {
            *username == guard.username && *sealed == guard.credentials
        })
}

async fn lookup<B: Backend>(
    conn: &mut B::Connection,
    batch: &[GuardedEntry],
) -> StoreResult<Stored> {
    let mut guards: Vec<&RegistrationGuard> = Vec::new();
    for guard in batch.iter().filter_map(|g| g.guard.as_ref()) {
        if !guards
            .iter()
            .any(|known| known.path_token == guard.path_token)
        {
            guards.push(guard);
        }
    }
    let rows = sql::<B>(B::INBOX_LOOKUP)
        .binds((
            Batch::of(batch, |g| Id(g.entry.tenant_id.as_uuid())),
            Batch::of(batch, |g| g.entry.event.source.as_str()),
            Batch::of(batch, |g| g.entry.event.dedupe_key.as_str()),
            Batch::of(batch, |g| g.entry.event.entity_key.as_deref()),
            Batch::of(&guards, |g| Id(g.tenant_id.as_uuid())),
            Batch::of(&guards, |g| g.path_token.as_str()),
        ))
        .fetch_all(conn)
        .await?;
    let mut stored = Stored::default();
    for row in &rows {
        let what: String = B::get(row, "what")?;
        let tenant: Id = B::get(row, "tenant_id")?;
        let key: String = B::get(row, "key")?;
        let source = || B::get(row, "source").map(|s: Option<String>| s.unwrap_or_default());
        match what.as_str() {
            "duplicate" => {
                stored.duplicates.insert((tenant.0, source()?, key));
            }
            "newest" => {
                let at: Option<QueueTime> = B::get(row, "at")?;
                if let Some(at) = at {
                    stored.newest.insert((tenant.0, source()?, key), at.0);
                }
            }
            _ => {
                let username: Option<String> = B::get(row, "username")?;
                let sealed: Option<Vec<u8>> = B::get(row, "sealed")?;
                let value = (username.unwrap_or_default(), sealed.unwrap_or_default());
                stored.registrations.insert((tenant.0, key), value);
            }
        }
    }
    Ok(stored)
}

/// Decides each entry in order, as one-by-one recording would: a dedupe key recorded before (or
/// earlier in the batch) is a duplicate; an event older than its entity's newest non-stale one
/// (stored, or earlier in the batch) is stale. `Ok`: insert the entry's row in that state.
fn decide(batch: &[GuardedEntry], mut stored: Stored) -> Vec<Result<InboxState, Guarded>> {
    let mut decided = Vec::with_capacity(batch.len());
    for GuardedEntry { entry, guard } in batch {
        if guard.as_ref().is_some_and(|g| !still_stored(&stored, g)) {
            decided.push(Err(Guarded::RegistrationChanged));
            continue;
        }
        if !stored
            .duplicates
            .insert(key(entry, &entry.event.dedupe_key))
        {
            decided.push(Err(Guarded::Recorded(Recorded::Duplicate)));
            continue;
        }
        let occurred = entry.event.occurred_at;
        let Some(entity) = entry.event.entity_key.as_deref() else {
            decided.push(Ok(InboxState::Pending));
            continue;
        };
        let newest = stored.newest.entry(key(entry, entity)).or_insert(occurred);
        if *newest > occurred {
            decided.push(Ok(InboxState::Stale));
        } else {
            *newest = occurred;
            decided.push(Ok(InboxState::Pending));
        }
    }
    decided
}

/// Inserts the rows; the ids of those inserted (a concurrent batch may have recorded a dedupe
/// key between our lookup and our insert: its row is not ours).
async fn insert<B: Backend>(
    conn: &mut B::Connection,
    rows: &[(&InboxEntry, InboxState)],
) -> StoreResult<HashSet<Uuid>> {
    let now = QueueTime(Utc::now());
    let kinds: Vec<String> = rows.iter().map(|(e, _)| e.event.kind.name()).collect();
    let columns = (
        Batch::of(rows, |(e, _)| Id(e.tenant_id.as_uuid())),
        Batch::of(rows, |(e, _)| Id(e.id)),
        Batch::of(rows, |(e, _)| e.event.source.as_str()),
        Batch::of(&kinds, String::as_str),
        Batch::of(rows, |(e, _)| e.event.dedupe_key.as_str()),
    );
    let more = (
        Batch::of(rows, |(e, _)| e.event.entity_key.as_deref()),
        Batch::of(rows, |(e, _)| QueueTime(e.event.occurred_at)),
        Batch::of(rows, |(_, state)| state.as_str()),
        Batch::of(rows, |(e, _)| &e.event.payload),
        now,
    );
    let inserted = sql::<B>(B::INBOX_INSERT)
        .binds(columns)
        .binds(more)
        .fetch_all(conn)
        .await?;
    inserted
        .iter()
        .map(|row| B::get(row, "id").map(|id: Id| id.0))
        .collect()
}

/// Records a batch in the caller's transaction: one result per entry, in order.
pub(crate) async fn record_batch<B: Backend>(
    conn: &mut B::Connection,
    batch: &[GuardedEntry],
) -> StoreResult<Vec<Guarded>> {
    let mut outcomes = Vec::with_capacity(batch.len());
    for chunk in batch.chunks(B::INBOX_ROWS.max(1)) {
        let stored = lookup::<B>(conn, chunk).await?;
        let decided = decide(chunk, stored);
        let rows: Vec<(&InboxEntry, InboxState)> = chunk
            .iter()
            .zip(&decided)
            .filter_map(|(g, d)| d.as_ref().ok().map(|state| (&g.entry, *state)))
            .collect();
        let inserted = if rows.is_empty() {
            HashSet::new()
        } else {
            insert::<B>(conn, &rows).await?
        };
        let mut jobs: Vec<NewJob> = Vec::new();
        for (g, decided) in chunk.iter().zip(decided) {
            let outcome = match decided {
                Err(outcome) => outcome,
                Ok(_) if !inserted.contains(&g.entry.id) => Guarded::Recorded(Recorded::Duplicate),
                Ok(InboxState::Stale) => Guarded::Recorded(Recorded::Stale),
                Ok(_) => {
                    jobs.push(g.entry.job.clone().tenant(g.entry.tenant_id));
                    Guarded::Recorded(Recorded::New)
                }
            };
            outcomes.push(outcome);
        }
        for jobs in jobs.chunks(B::ENQUEUE_ROWS) {
            let ids: Vec<JobId> = jobs.iter().map(|_| JobId::new()).collect();
            insert_jobs::<B>(conn, jobs, &ids).await?;
        }
    }
    Ok(outcomes)
}

//! `import.chunk` (bulk lane): the rows of one fixed range of an import, through the journal.
//!
//! Chunk `n` covers rows `n·CHUNK_ROWS + 1 ..= (n+1)·CHUNK_ROWS`. Under `skip` and `update` one
//! strand walks the chunks in row order, a row at a time, so a row finds what every earlier row
//! of the file wrote. Under `create` there is nothing to find, and `STRANDS` strands walk the
//! chunks at once, each taking only the rows whose key hashes to it (no two strands ever hold
//! rows with the same key) in batches of `BATCH_ROWS`, with up to `CONCURRENT_CREATES` writes
//! under way (see `batch`). A chunk job is unique per import, range and strand while queued or
//! running, so no row is ever worked by two jobs at once, whatever runs again after a crash.
//! Each chunk queues its strand's next when it is done with its own range; the last strand out of
//! the last chunk ends the import. A pause or cancel is seen before each row (each batch under
//! `create`): the chunk stops and queues nothing (resume queues every strand again, from the
//! chunk of the first pending row).

use std::sync::Arc;

use dealbridge_budget::ledger_lane;
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::TenantId;
use dealbridge_jobs::{JobContext, JobError};
use dealbridge_pipedrive::models::{FieldEntity, ListQuery};
use dealbridge_pipedrive::CompanyClient;
use dealbridge_storage::{
    DuplicatePolicy, Import, ImportKind, ImportRow, ImportState, Lane, NewJob, RowState, Store,
    StoreError,
};
use dealbridge_workflows::{job_error, Workflows};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::batch::BATCH_ROWS;
use crate::fields::{target_fields, CustomField, CUSTOM_PREFIX};
use crate::journal::{RowContext, RowError};
use crate::mapping::{row_key, Mapping};

pub const CHUNK_KIND: &str = "import.chunk";

/// Rows per chunk job.
pub const CHUNK_ROWS: u64 = 200;

/// Strands of one import under `create`: enough writes under way to keep the bulk lane's share
/// of the burst window busy while a strand writes its journal between batches.
pub const STRANDS: u32 = 4;

/// Budget waits count as attempts, and a large import waits for a reset more than once.
const CHUNK_ATTEMPTS: u32 = 50;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ChunkPayload {
    pub import_id: Uuid,
    pub chunk: u64,
    /// Which strand of how many (jobs queued before strands existed are the one of one).
    #[serde(default)]
    pub strand: u32,
    #[serde(default = "one")]
    pub strands: u32,
}

fn one() -> u32 {
    1
}

/// The job of chunk `chunk` of the import, for an import worked by one strand.
pub fn chunk_job(tenant_id: TenantId, import_id: Uuid, chunk: u64) -> NewJob {
    strand_job(tenant_id, import_id, chunk, 0, 1)
}

/// The job of chunk `chunk` for strand `strand` of `strands`.
pub fn strand_job(
    tenant_id: TenantId,
    import_id: Uuid,
    chunk: u64,
    strand: u32,
    strands: u32,
) -> NewJob {
    let payload = ChunkPayload {
        import_id,
        chunk,
        strand,
        strands,
    };
    let unique = match strands {
        0 | 1 => format!("{CHUNK_KIND}:{import_id}:{chunk}"),
        _ => format!("{CHUNK_KIND}:{import_id}:{chunk}:{strand}"),
    };
    NewJob::new(CHUNK_KIND, serde_json::json!(payload))
        .tenant(tenant_id)
        .lane(Lane::Bulk)
        .max_attempts(CHUNK_ATTEMPTS)
        .unique_key(unique)
}

/// How many strands work an import: several only under `create`, where no row looks for what
/// an earlier one wrote.
pub fn strands_for(policy: DuplicatePolicy) -> u32 {
    match policy {
        DuplicatePolicy::Create => STRANDS,
        DuplicatePolicy::Skip | DuplicatePolicy::Update => 1,
    }
}

/// Every strand's job from chunk `chunk` on.
pub fn strand_jobs(import: &Import, chunk: u64) -> Vec<NewJob> {
    let strands = strands_for(import.policy);
    (0..strands)
        .map(|strand| strand_job(import.tenant_id, import.id, chunk, strand, strands))
        .collect()
}

/// The strand a key belongs to: FNV-1a, fixed across builds and processes, so a row stays in
/// its strand whichever process runs it.
pub fn strand_of(key: &str, strands: u32) -> u32 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    u32::try_from(hash % u64::from(strands.max(1))).unwrap_or(0)
}

/// The chunk holding `row_number`.
pub fn chunk_of(row_number: u64) -> u64 {
    row_number.saturating_sub(1) / CHUNK_ROWS
}

fn store_error(err: StoreError) -> JobError {
    match err {
        StoreError::Backend(_) => JobError::retry(err),
        other => JobError::permanent(other),
    }
}

/// The tenant's custom fields of `kind`, through the budgeted client (one page of 500 is what a
/// company has; more are left out).
pub async fn custom_fields(
    client: &CompanyClient,
    kind: ImportKind,
) -> Result<Vec<CustomField>, dealbridge_pipedrive::Error> {
    let entity = match kind {
        ImportKind::Persons => FieldEntity::Person,
        ImportKind::Organizations => FieldEntity::Organization,
        ImportKind::Deals => FieldEntity::Deal,
    };
    let page = client
        .fields(entity)
        .list(ListQuery {
            limit: Some(500),
            ..ListQuery::default()
        })
        .await?;
    Ok(page
        .items
        .into_iter()
        .filter(|f| f.is_custom_field)
        .map(|f| CustomField {
            code: f.field_code,
            name: f.field_name,
            field_type: f.field_type,
        })
        .collect())
}

/// Registers `import.chunk` on `registry`.
pub fn register(
    registry: dealbridge_jobs::Registry,
    store: Arc<dyn Store>,
    workflows: Workflows,
) -> dealbridge_jobs::Registry {
    registry.handle(CHUNK_KIND, move |ctx: JobContext| {
        let (store, workflows) = (store.clone(), workflows.clone());
        async move { run_chunk(store.as_ref(), &workflows, ctx).await }
    })
}

async fn run_chunk(
    store: &dyn Store,
    workflows: &Workflows,
    ctx: JobContext,
) -> Result<(), JobError> {
    let payload: ChunkPayload = ctx.payload()?;
    let tenant_id = ctx
        .tenant_id()
        .ok_or_else(|| JobError::permanent("an import chunk without a tenant"))?;
    let Some(import) = store
        .import(tenant_id, payload.import_id)
        .await
        .map_err(store_error)?
    else {
        return Ok(()); // deleted meanwhile
    };
    if import.state != ImportState::Running {
        return Ok(());
    }
    let client = workflows
        .company_client(tenant_id, import.user_id, ledger_lane(ctx.job.lane))
        .await?;
    let mapping = Mapping::from_json(&import.mapping);
    // Custom fields are read (one call) only when the mapping uses one.
    let custom = match mapping.0.values().any(|f| f.starts_with(CUSTOM_PREFIX)) {
        true => custom_fields(&client, import.kind)
            .await
            .map_err(job_error)?,
        false => Vec::new(),
    };
    let fields = target_fields(import.kind, &custom);
    // Whether the mirror may answer a lookup's miss is read once for the chunk's rows.
    let coverage = store
        .mirror_coverage(tenant_id)
        .await
        .map_err(store_error)?;
    let rows = RowContext {
        store,
        client: &client,
        import: &import,
        mapping: &mapping,
        fields: &fields,
        coverage,
    };
    let (first, last) = (payload.chunk * CHUNK_ROWS, (payload.chunk + 1) * CHUNK_ROWS);
    let pending = store
        .import_rows(
            tenant_id,
            import.id,
            Some(RowState::Pending),
            first,
            u32::try_from(CHUNK_ROWS).unwrap_or(u32::MAX),
        )
        .await
        .map_err(store_error)?;
    let strands = payload.strands.max(1);
    let mine: Vec<ImportRow> = pending
        .into_iter()
        .filter(|r| r.row_number <= last)
        .filter(|r| {
            strands == 1 || {
                let key = row_key(import.kind, &mapping.values(&r.values));
                strand_of(&key, strands) == payload.strand
            }
        })
        .collect();
    let went_through = match import.policy {
        DuplicatePolicy::Create => in_batches(store, &rows, &mine).await?,
        DuplicatePolicy::Skip | DuplicatePolicy::Update => one_by_one(store, &rows, &mine).await?,
    };
    if !went_through {
        return Ok(());
    }
    if last < import.total_rows {
        let next = payload.chunk + 1;
        store
            .enqueue(&strand_job(
                tenant_id,
                import.id,
                next,
                payload.strand,
                strands,
            ))
            .await
            .map_err(store_error)?;
        return Ok(());
    }
    finish(store, tenant_id, import.id, strands).await
}

/// Rows one at a time, in row order (`skip`, `update`). False when the import stopped running.
async fn one_by_one(
    store: &dyn Store,
    rows: &RowContext<'_>,
    pending: &[ImportRow],
) -> Result<bool, JobError> {
    for row in pending {
        if still_running(store, rows.import).await? != ImportState::Running {
            return Ok(false);
        }
        let outcome = rows.run(row).await.map_err(row_error)?;
        store
            .finish_import_row(
                rows.import.tenant_id,
                rows.import.id,
                row.row_number,
                &outcome,
            )
            .await
            .map_err(store_error)?;
    }
    Ok(true)
}

/// Rows in batches with concurrent creates (`create`). False when the import stopped running.
async fn in_batches(
    store: &dyn Store,
    rows: &RowContext<'_>,
    pending: &[ImportRow],
) -> Result<bool, JobError> {
    for batch in pending.chunks(BATCH_ROWS) {
        if still_running(store, rows.import).await? != ImportState::Running {
            return Ok(false);
        }
        rows.run_create_batch(batch).await.map_err(row_error)?;
    }
    Ok(true)
}

fn row_error(err: RowError) -> JobError {
    match err {
        RowError::Pipedrive(err) => job_error(err),
        RowError::Store(err) => store_error(err),
    }
}

async fn still_running(store: &dyn Store, import: &Import) -> Result<ImportState, JobError> {
    let current = store
        .import(import.tenant_id, import.id)
        .await
        .map_err(store_error)?;
    Ok(current.map_or(ImportState::Cancelled, |i| i.state))
}

/// The last chunk is through: the import is done, with its summary in the activity log. With
/// several strands only the last one through ends it (each looks after its own rows are counted,
/// so the last to count sees no row pending).
async fn finish(
    store: &dyn Store,
    tenant_id: TenantId,
    id: Uuid,
    strands: u32,
) -> Result<(), JobError> {
    if strands > 1 {
        let current = store.import(tenant_id, id).await.map_err(store_error)?;
        if current.is_some_and(|i| i.pending_rows() > 0) {
            return Ok(());
        }
    }
    let moved = store
        .transition_import(tenant_id, id, &[ImportState::Running], ImportState::Done)
        .await
        .map_err(store_error)?;
    let Some(import) = store.import(tenant_id, id).await.map_err(store_error)? else {
        return Ok(());
    };
    if moved {
        store
            .append_audit(&summary_entry(&import, "import.finished", "import"))
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

/// The activity log's entry about an import: its file, kind and counts.
pub fn summary_entry(import: &Import, action: &str, actor: &str) -> NewAuditEntry {
    NewAuditEntry {
        tenant_id: Some(import.tenant_id),
        actor: actor.to_owned(),
        action: action.to_owned(),
        detail: serde_json::json!({
            "import_id": import.id,
            "file_name": import.file_name,
            "kind": import.kind.as_str(),
            "policy": import.policy.as_str(),
            "rows": import.total_rows,
            "done": import.done_rows,
            "failed": import.failed_rows,
            "skipped": import.skipped_rows,
            "tokens_spent": import.tokens_spent,
        }),
    }
}

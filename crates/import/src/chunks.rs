//! `import.chunk` (bulk lane): the rows of one fixed range of an import, through the journal.
//!
//! Chunk `n` covers rows `n·CHUNK_ROWS + 1 ..= (n+1)·CHUNK_ROWS` and is unique per import and
//! range while queued or running, so no row is ever worked by two jobs at once, whatever runs
//! again after a crash. Each chunk queues the next when it is done with its own range; the chunk
//! holding the last row ends the import. A pause or cancel is seen before each row: the chunk
//! stops and queues nothing (resume queues the chunk of the first pending row again).

use std::sync::Arc;

use dealbridge_budget::ledger_lane;
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::TenantId;
use dealbridge_jobs::{JobContext, JobError};
use dealbridge_pipedrive::models::{FieldEntity, ListQuery};
use dealbridge_pipedrive::CompanyClient;
use dealbridge_storage::{
    Import, ImportKind, ImportState, Lane, NewJob, RowState, Store, StoreError,
};
use dealbridge_workflows::{job_error, Workflows};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::fields::{target_fields, CustomField, CUSTOM_PREFIX};
use crate::journal::{RowContext, RowError};
use crate::mapping::Mapping;

pub const CHUNK_KIND: &str = "import.chunk";

/// Rows per chunk job.
pub const CHUNK_ROWS: u64 = 200;

/// Budget waits count as attempts, and a large import waits for a reset more than once.
const CHUNK_ATTEMPTS: u32 = 50;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ChunkPayload {
    pub import_id: Uuid,
    pub chunk: u64,
}

/// The job of chunk `chunk` of the import.
pub fn chunk_job(tenant_id: TenantId, import_id: Uuid, chunk: u64) -> NewJob {
    let payload = ChunkPayload { import_id, chunk };
    NewJob::new(CHUNK_KIND, serde_json::json!(payload))
        .tenant(tenant_id)
        .lane(Lane::Bulk)
        .max_attempts(CHUNK_ATTEMPTS)
        .unique_key(format!("{CHUNK_KIND}:{import_id}:{chunk}"))
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
    let rows = RowContext {
        store,
        client: &client,
        import: &import,
        mapping: &mapping,
        fields: &fields,
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
    for row in pending.iter().filter(|r| r.row_number <= last) {
        if still_running(store, &import).await? != ImportState::Running {
            return Ok(());
        }
        let outcome = match rows.run(row).await {
            Ok(outcome) => outcome,
            Err(RowError::Pipedrive(err)) => return Err(job_error(err)),
            Err(RowError::Store(err)) => return Err(store_error(err)),
        };
        store
            .finish_import_row(tenant_id, import.id, row.row_number, &outcome)
            .await
            .map_err(store_error)?;
    }
    if last < import.total_rows {
        store
            .enqueue(&chunk_job(tenant_id, import.id, payload.chunk + 1))
            .await
            .map_err(store_error)?;
        return Ok(());
    }
    finish(store, tenant_id, import.id).await
}

async fn still_running(store: &dyn Store, import: &Import) -> Result<ImportState, JobError> {
    let current = store
        .import(import.tenant_id, import.id)
        .await
        .map_err(store_error)?;
    Ok(current.map_or(ImportState::Cancelled, |i| i.state))
}

/// The last chunk is through: the import is done, with its summary in the activity log.
async fn finish(store: &dyn Store, tenant_id: TenantId, id: Uuid) -> Result<(), JobError> {
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

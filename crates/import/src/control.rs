//! What a person does with an import: check it (dry run), start, pause, resume, cancel, and
//! watch its progress.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;
use dealbridge_storage::{DuplicatePolicy, Import, ImportState, RowState, Store, StoreError};
use serde::Serialize;
use uuid::Uuid;

use crate::chunks::{chunk_of, strand_jobs, summary_entry};
use crate::fields::TargetField;
use crate::mapping::{row_key, validate, Mapping, MappingError, RowProblem};

/// Rows read at a time by the dry run.
const DRY_RUN_PAGE: u32 = 1_000;

/// Problems listed by a dry run (the rest are counted).
const DRY_RUN_LISTED: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error("the import is {0} and cannot do that now")]
    WrongState(&'static str),
    #[error("no such import")]
    NotFound,
    #[error("the import could not be read or changed")]
    Store(#[from] StoreError),
}

/// One row's problems, as the preview and the dry run show them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowReport {
    pub row_number: u64,
    pub problems: Vec<RowProblem>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryRun {
    pub rows: u64,
    pub valid: u64,
    pub invalid: u64,
    /// Rows whose key an earlier row of the file has (what the duplicate policy will decide).
    pub duplicates_in_file: u64,
    /// The first rows with problems.
    pub problems: Vec<RowReport>,
}

pub async fn load(
    store: &dyn Store,
    tenant_id: TenantId,
    id: Uuid,
) -> Result<Import, ControlError> {
    store
        .import(tenant_id, id)
        .await?
        .ok_or(ControlError::NotFound)
}

/// Checks every row against the mapping without writing anything to Pipedrive, saves the mapping
/// and policy, and makes the import `validated`. Keys are held in memory (a hash of each, 8 bytes
/// a row) to count duplicates inside the file.
pub async fn dry_run(
    store: &dyn Store,
    import: &Import,
    mapping: &Mapping,
    policy: DuplicatePolicy,
    fields: &[TargetField],
) -> Result<DryRun, ControlError> {
    if !matches!(import.state, ImportState::Uploaded | ImportState::Validated) {
        return Err(ControlError::WrongState(import.state.as_str()));
    }
    mapping.check(import.headers.len(), fields)?;
    let mut report = DryRun {
        rows: 0,
        valid: 0,
        invalid: 0,
        duplicates_in_file: 0,
        problems: Vec::new(),
    };
    let mut keys: HashSet<u64> = HashSet::new();
    let mut after = 0;
    loop {
        let rows = store
            .import_rows(import.tenant_id, import.id, None, after, DRY_RUN_PAGE)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.row_number;
        for row in &rows {
            report.rows += 1;
            let values = mapping.values(&row.values);
            let problems = validate(&values, fields);
            if problems.is_empty() {
                report.valid += 1;
                let key = row_key(import.kind, &values);
                if !key.is_empty() && !keys.insert(hash(&key)) {
                    report.duplicates_in_file += 1;
                }
            } else {
                report.invalid += 1;
                if report.problems.len() < DRY_RUN_LISTED {
                    report.problems.push(RowReport {
                        row_number: row.row_number,
                        problems,
                    });
                }
            }
        }
    }
    store
        .set_import_setup(import.tenant_id, import.id, &mapping.to_json(), policy)
        .await?;
    let from = [ImportState::Uploaded, ImportState::Validated];
    store
        .transition_import(import.tenant_id, import.id, &from, ImportState::Validated)
        .await?;
    Ok(report)
}

fn hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// The preview: the first `limit` rows with their problems.
pub async fn preview(
    store: &dyn Store,
    import: &Import,
    mapping: &Mapping,
    fields: &[TargetField],
    limit: u32,
) -> Result<Vec<(Vec<String>, RowReport)>, ControlError> {
    let rows = store
        .import_rows(import.tenant_id, import.id, None, 0, limit)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let problems = validate(&mapping.values(&row.values), fields);
            let report = RowReport {
                row_number: row.row_number,
                problems,
            };
            (row.values, report)
        })
        .collect())
}

/// Queues every strand's job for the chunk of the first pending row (an open job for the same
/// chunk and strand makes that one a no-op).
async fn queue_from_first_pending(store: &dyn Store, import: &Import) -> Result<(), ControlError> {
    let first = store
        .import_rows(import.tenant_id, import.id, Some(RowState::Pending), 0, 1)
        .await?;
    let chunk = first.first().map_or(0, |row| chunk_of(row.row_number));
    for job in strand_jobs(import, chunk) {
        store.enqueue(&job).await?;
    }
    Ok(())
}

/// Starts a validated import.
pub async fn start(store: &dyn Store, import: &Import, actor: &str) -> Result<(), ControlError> {
    transition(
        store,
        import,
        &[ImportState::Validated],
        ImportState::Running,
    )
    .await?;
    queue_from_first_pending(store, import).await?;
    store
        .append_audit(&summary_entry(import, "import.started", actor))
        .await?;
    Ok(())
}

pub async fn pause(store: &dyn Store, import: &Import) -> Result<(), ControlError> {
    transition(store, import, &[ImportState::Running], ImportState::Paused).await
}

pub async fn resume(store: &dyn Store, import: &Import) -> Result<(), ControlError> {
    transition(store, import, &[ImportState::Paused], ImportState::Running).await?;
    queue_from_first_pending(store, import).await
}

/// Stops the import for good; rows not written stay pending (and are not written).
pub async fn cancel(store: &dyn Store, import: &Import, actor: &str) -> Result<(), ControlError> {
    use ImportState::*;
    transition(
        store,
        import,
        &[Uploaded, Validated, Running, Paused],
        Cancelled,
    )
    .await?;
    let current = load(store, import.tenant_id, import.id).await?;
    store
        .append_audit(&summary_entry(&current, "import.cancelled", actor))
        .await?;
    Ok(())
}

async fn transition(
    store: &dyn Store,
    import: &Import,
    from: &[ImportState],
    to: ImportState,
) -> Result<(), ControlError> {
    match store
        .transition_import(import.tenant_id, import.id, from, to)
        .await?
    {
        true => Ok(()),
        false => {
            let current = load(store, import.tenant_id, import.id).await?;
            Err(ControlError::WrongState(current.state.as_str()))
        }
    }
}

/// What the progress bar polls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub state: &'static str,
    pub rows: u64,
    pub done: u64,
    pub failed: u64,
    pub skipped: u64,
    pub pending: u64,
    pub tokens_spent: u64,
    /// Finished share, 0 to 100.
    pub percent: f64,
    /// At the pace since the start; none before the first row or once it is over.
    pub eta: Option<DateTime<Utc>>,
}

pub fn progress(import: &Import, now: DateTime<Utc>) -> Progress {
    let finished = import.done_rows + import.failed_rows + import.skipped_rows;
    let pending = import.pending_rows();
    let eta = match (import.state, import.started_at) {
        (ImportState::Running, Some(started)) if finished > 0 && pending > 0 => {
            let elapsed = (now - started).num_milliseconds().max(1) as f64;
            let per_row = elapsed / finished as f64;
            Some(now + chrono::Duration::milliseconds((per_row * pending as f64) as i64))
        }
        _ => None,
    };
    Progress {
        state: import.state.as_str(),
        rows: import.total_rows,
        done: import.done_rows,
        failed: import.failed_rows,
        skipped: import.skipped_rows,
        pending,
        tokens_spent: import.tokens_spent,
        percent: match import.total_rows {
            0 => 0.0,
            total => (finished as f64 * 1000.0 / total as f64).round() / 10.0,
        },
        eta,
    }
}

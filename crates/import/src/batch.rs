//! The `create` policy's rows in batches: one journal statement for the batch's intents, up to
//! `CONCURRENT_CREATES` creates under way at once, one statement for the batch's outcomes.
//!
//! The journal's promise holds as for a single row. Every row's intent is recorded (and
//! committed) before any of the batch's creates is sent, and its id after; a row found later with
//! an intent but no id was cut off around its write. Such rows are recovered first, one at a time
//! and each finished before the next looks (a recovery never adopts a record another row holds),
//! and before any new create of the batch is sent, so no create of this strand is under way while
//! a recovery looks its key up. Rows sharing a key are always in the same strand (see `chunks`),
//! so no other strand's create is either.

use futures::stream::{self, StreamExt};

use dealbridge_storage::{ImportRow, RowOutcome, RowState};

use crate::journal::{ended, row_failure, Intent, RowContext, RowError};
use crate::mapping::{row_key, validate};
use crate::records::{Lookup, Spent};

/// Rows per batch: one intent statement and one outcome statement each.
pub const BATCH_ROWS: usize = 50;

/// Creates under way at once within a batch.
pub const CONCURRENT_CREATES: usize = 16;

impl RowContext<'_> {
    /// Runs a batch of pending rows under `create` to their outcomes. A refusal that stops the
    /// chunk (limits, outages) is returned after the rows that did end are saved; the rows it
    /// left keep their intent and are recovered when the chunk runs again.
    pub async fn run_create_batch(&self, batch: &[ImportRow]) -> Result<(), RowError> {
        let (tenant, import) = (self.import.tenant_id, self.import.id);
        let (cut_off, fresh): (Vec<&ImportRow>, Vec<&ImportRow>) =
            batch.iter().partition(|row| row.intent.is_some());
        for row in cut_off {
            let outcome = self.run(row).await?;
            self.store
                .finish_import_row(tenant, import, row.row_number, &outcome)
                .await?;
        }

        let mut outcomes: Vec<(u64, RowOutcome)> = Vec::with_capacity(fresh.len());
        let mut writes = Vec::with_capacity(fresh.len());
        for row in fresh {
            let values = self.mapping.values(&row.values);
            let problems = validate(&values, self.fields);
            if problems.is_empty() {
                let key = row_key(self.import.kind, &values);
                writes.push((row.row_number, key, values));
            } else {
                let reason = problems.iter().map(ToString::to_string).collect::<Vec<_>>();
                let failed = ended(
                    RowState::Failed,
                    Some(reason.join("; ")),
                    None,
                    &Spent::default(),
                );
                outcomes.push((row.row_number, failed));
            }
        }
        // Nothing to dedupe against under `create`: the intent names no earlier record.
        let intent = serde_json::to_value(Intent::Create {
            existing: Vec::new(),
        })
        .unwrap_or_default();
        let keyed: Vec<(u64, String)> = writes.iter().map(|(n, k, _)| (*n, k.clone())).collect();
        self.store
            .record_row_intents(tenant, import, &keyed, &intent)
            .await?;

        let results: Vec<_> = stream::iter(writes)
            .map(|(row_number, _, values)| async move {
                let mut spent = Spent::default();
                let result = self.create(&values, Lookup::First, &mut spent).await;
                (row_number, result, spent)
            })
            .buffer_unordered(CONCURRENT_CREATES)
            .collect()
            .await;
        let mut stopped = None;
        for (row_number, result, spent) in results {
            match result {
                Ok(outcome) => outcomes.push((
                    row_number,
                    RowOutcome {
                        tokens: spent.0,
                        ..outcome
                    },
                )),
                Err(RowError::Pipedrive(err)) => match row_failure(err) {
                    Ok(reason) => outcomes.push((
                        row_number,
                        ended(RowState::Failed, Some(reason), None, &spent),
                    )),
                    Err(stop) => stopped = stopped.or(Some(stop)),
                },
                Err(other) => stopped = stopped.or(Some(other)),
            }
        }
        outcomes.sort_by_key(|(row_number, _)| *row_number);
        self.store
            .finish_import_rows(tenant, import, &outcomes)
            .await?;
        match stopped {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

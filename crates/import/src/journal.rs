//! One row, exactly once in effect: the import's own per-row journal, kept in the row.
//!
//! Before a write the row records its key and its intent (`create`, with the ids of the records
//! that already had its key; or `update` of one id). After the write it records the Pipedrive id
//! and ends. A row found with an intent but no id was cut off around its write (a crash, a
//! dropped connection): an `update` is repeated (a PATCH of the same values changes nothing
//! twice); a `create` first looks its key up again (always by an exact-match search: a record
//! created just before the cut-off may not be in the mirror yet) and adopts a record with that key
//! that was not there before the intent and that no other row of the import holds, and creates
//! only when there is none. Keys: a person's email (else its name), an organization's name, a
//! deal's title. A row's first lookup asks the mirror first for the keys it holds (see
//! `records`); a row run again after its intent searches on every miss.
//!
//! This is the find-or-create the workflow engine's step journal will also provide; the logic is
//! kept here, in one place, so it can move onto the engine's once that exists.

use std::collections::BTreeMap;

use dealbridge_pipedrive::{CompanyClient, Error};
use dealbridge_storage::{
    DuplicatePolicy, Import, ImportRow, MirrorCoverage, RowOutcome, RowState, Store,
};
use serde::{Deserialize, Serialize};

use crate::fields::TargetField;
use crate::mapping::{row_key, validate, Mapping};
use crate::records::{self, Lookup, Mirror, Spent};

/// What a row was about to do, as recorded before the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Intent {
    /// Create a record; `existing` had the row's key before (never adopted as this row's).
    Create {
        existing: Vec<u64>,
    },
    Update {
        id: u64,
    },
}

/// Why a row's work stopped for now (the row stays pending and runs again).
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error(transparent)]
    Pipedrive(Error),
    #[error(transparent)]
    Store(#[from] dealbridge_storage::StoreError),
}

/// Everything one import's rows share.
pub struct RowContext<'a> {
    pub store: &'a dyn Store,
    pub client: &'a CompanyClient,
    pub import: &'a Import,
    pub mapping: &'a Mapping,
    pub fields: &'a [TargetField],
    /// The tenant's mirror coverage, read once per chunk (`None`: no webhooks registered).
    pub coverage: Option<MirrorCoverage>,
}

pub(crate) fn ended(
    state: RowState,
    reason: Option<String>,
    id: Option<u64>,
    spent: &Spent,
) -> RowOutcome {
    RowOutcome {
        state,
        reason,
        pipedrive_id: id.and_then(|id| i64::try_from(id).ok()),
        tokens: spent.0,
    }
}

/// A Pipedrive refusal that concerns this row only (its values) fails the row; anything else
/// (limits, outages, lost authorisation) stops the chunk so it runs again later.
pub(crate) fn row_failure(err: Error) -> Result<String, RowError> {
    match err {
        Error::Invalid { message, .. } => Ok(format!("Pipedrive refused the row: {message}")),
        Error::NotFound { message } => Ok(format!("Pipedrive could not find a record: {message}")),
        other => Err(RowError::Pipedrive(other)),
    }
}

impl RowContext<'_> {
    /// The tenant's mirror, as this chunk sees it.
    pub fn mirror(&self) -> Mirror<'_> {
        Mirror {
            store: self.store,
            tenant: self.import.tenant_id,
            coverage: self.coverage.as_ref(),
        }
    }

    /// Runs one pending row to its outcome.
    pub async fn run(&self, row: &ImportRow) -> Result<RowOutcome, RowError> {
        let mut spent = Spent::default();
        match self.write(row, &mut spent).await {
            Ok(outcome) => Ok(RowOutcome {
                tokens: spent.0,
                ..outcome
            }),
            Err(RowError::Pipedrive(err)) => {
                let reason = row_failure(err)?;
                Ok(ended(RowState::Failed, Some(reason), None, &spent))
            }
            Err(other) => Err(other),
        }
    }

    async fn write(&self, row: &ImportRow, spent: &mut Spent) -> Result<RowOutcome, RowError> {
        let values = self.mapping.values(&row.values);
        let problems = validate(&values, self.fields);
        if !problems.is_empty() {
            let reason = problems.iter().map(ToString::to_string).collect::<Vec<_>>();
            return Ok(ended(
                RowState::Failed,
                Some(reason.join("; ")),
                None,
                spent,
            ));
        }
        let kind = self.import.kind;
        let key = row_key(kind, &values);
        let intent = row
            .intent
            .clone()
            .and_then(|i| serde_json::from_value::<Intent>(i).ok());
        match intent {
            Some(Intent::Update { id }) => self.update(id, &values, Lookup::Resumed, spent).await,
            Some(Intent::Create { existing }) => {
                match self.recover(row, &key, &existing, spent).await? {
                    Some(id) => Ok(ended(RowState::Done, None, Some(id), spent)),
                    None => self.create(&values, Lookup::Resumed, spent).await,
                }
            }
            None => self.first_attempt(row, &key, &values, spent).await,
        }
    }

    async fn first_attempt(
        &self,
        row: &ImportRow,
        key: &str,
        values: &BTreeMap<String, String>,
        spent: &mut Spent,
    ) -> Result<RowOutcome, RowError> {
        let policy = self.import.policy;
        let (tenant, import) = (self.import.tenant_id, self.import.id);
        // A duplicate inside the file: the record an earlier row wrote, from the journal, free.
        let earlier = match key.is_empty() {
            true => None,
            false => {
                self.store
                    .earlier_row_with_key(tenant, import, key, row.row_number)
                    .await?
            }
        };
        let (existing, described) = match (&earlier, policy) {
            (_, DuplicatePolicy::Create) => (Vec::new(), String::new()),
            (Some(earlier), _) => (
                earlier
                    .pipedrive_id
                    .and_then(|id| u64::try_from(id).ok())
                    .into_iter()
                    .collect(),
                format!("duplicate of row {} in this file", earlier.row_number),
            ),
            (None, _) => {
                let (mirror, kind) = (self.mirror(), self.import.kind);
                let found =
                    records::find_existing(&mirror, self.client, kind, key, Lookup::First, spent)
                        .await?;
                (found, "already in Pipedrive".to_owned())
            }
        };
        match (existing.first(), policy) {
            (Some(id), DuplicatePolicy::Skip) => Ok(ended(
                RowState::Skipped,
                Some(format!("{described} (id {id})")),
                Some(*id),
                spent,
            )),
            (Some(id), DuplicatePolicy::Update) => {
                let intent = Intent::Update { id: *id };
                self.record(row, key, &intent).await?;
                self.update(*id, values, Lookup::First, spent).await
            }
            _ => {
                self.record(row, key, &Intent::Create { existing }).await?;
                self.create(values, Lookup::First, spent).await
            }
        }
    }

    async fn record(&self, row: &ImportRow, key: &str, intent: &Intent) -> Result<(), RowError> {
        let json = serde_json::to_value(intent).unwrap_or_default();
        let (tenant, import) = (self.import.tenant_id, self.import.id);
        self.store
            .record_row_intent(tenant, import, row.row_number, key, &json)
            .await?;
        Ok(())
    }

    /// After a cut-off create: the record with the row's key that appeared since the intent and
    /// that no other row holds (the newest, should there be several).
    async fn recover(
        &self,
        row: &ImportRow,
        key: &str,
        existing: &[u64],
        spent: &mut Spent,
    ) -> Result<Option<u64>, RowError> {
        let found = records::find_by_key(self.client, self.import.kind, key, spent)
            .await
            .map_err(RowError::Pipedrive)?;
        let fresh: Vec<u64> = found
            .into_iter()
            .filter(|id| !existing.contains(id))
            .collect();
        if fresh.is_empty() {
            return Ok(None);
        }
        let as_i64: Vec<i64> = fresh
            .iter()
            .filter_map(|id| i64::try_from(*id).ok())
            .collect();
        let (tenant, import) = (self.import.tenant_id, self.import.id);
        let claimed = self
            .store
            .claimed_pipedrive_ids(tenant, import, &as_i64)
            .await?;
        tracing::debug!(
            row = row.row_number,
            "recovering a row whose write was cut off"
        );
        let adopted = fresh
            .into_iter()
            .rev()
            .find(|id| i64::try_from(*id).map_or(true, |id| !claimed.contains(&id)));
        if let Some(id) = adopted {
            // Its create's answer was lost, so the mirror may not hold it yet.
            let kind = self.import.kind;
            self.mirror().hold(self.client, kind, id, spent).await?;
        }
        Ok(adopted)
    }

    pub(crate) async fn create(
        &self,
        values: &BTreeMap<String, String>,
        lookup: Lookup,
        spent: &mut Spent,
    ) -> Result<RowOutcome, RowError> {
        let (kind, mirror) = (self.import.kind, self.mirror());
        let links =
            records::resolve_links(&mirror, self.client, kind, values, lookup, spent).await?;
        let made = records::create(self.client, kind, values, self.fields, links, spent)
            .await
            .map_err(RowError::Pipedrive)?;
        // So the next row finds it before its webhook arrives.
        mirror
            .remember(records::entity_of(kind), &made.record)
            .await?;
        let id = made.id;
        Ok(ended(RowState::Done, None, Some(id), spent))
    }

    async fn update(
        &self,
        id: u64,
        values: &BTreeMap<String, String>,
        lookup: Lookup,
        spent: &mut Spent,
    ) -> Result<RowOutcome, RowError> {
        let (kind, mirror) = (self.import.kind, self.mirror());
        let links =
            records::resolve_links(&mirror, self.client, kind, values, lookup, spent).await?;
        let answer = records::update(self.client, kind, id, values, self.fields, links, spent)
            .await
            .map_err(RowError::Pipedrive)?;
        // So a later lookup by a name the row changed finds the record at once.
        mirror
            .remember(records::entity_of(kind), &answer.record)
            .await?;
        Ok(ended(RowState::Done, None, Some(id), spent))
    }
}

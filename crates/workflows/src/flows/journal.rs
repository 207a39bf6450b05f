//! The step journal as the workflows use it (DESIGN §2): journal a step's intent before its
//! write and its result after, so a retried job skips finished steps, and a step interrupted
//! between the two looks its record up by its key before writing again.

use std::future::Future;

use chrono::Utc;
use dealbridge_core::TenantId;
use dealbridge_jobs::JobError;
use dealbridge_storage::{JournalStep, Store};
use serde_json::{json, Value};

use super::error::{FlowError, FlowResult};

/// How long an unfinished step journalled by *another* job is trusted to be in progress before
/// this job looks the record up and, when absent, writes it itself.
const OTHER_WRITER_GRACE: chrono::Duration = chrono::Duration::seconds(30);

/// When a step looks its record up before writing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    OnResume,
    Always,
}

/// Where a step stands when a job reaches it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Begin {
    /// Finished by an earlier run: its result.
    Done(Value),
    /// Journalled by an earlier run that may have written before it stopped: look up first.
    Resume,
    /// First time: write without looking up.
    Fresh,
}

/// The journal of one job key: an event's own steps (key = the event id), or a record several
/// events share (key = `person:{email}`, `order:{id}`, ...).
pub(crate) struct Journal<'a> {
    store: &'a dyn Store,
    tenant_id: TenantId,
    key: String,
    /// The event running now: who owns an intent on a shared key.
    owner: String,
}

impl<'a> Journal<'a> {
    pub(crate) fn new(store: &'a dyn Store, tenant_id: TenantId, key: String, owner: &str) -> Self {
        Self {
            store,
            tenant_id,
            key,
            owner: owner.to_owned(),
        }
    }

    /// Journals the step's intent (the event running now) unless it is journalled already.
    pub(crate) async fn begin(&self, step: &str) -> FlowResult<Begin> {
        let entry = self
            .store
            .journal_intent(self.tenant_id, &self.key, step, &self.owner)
            .await?;
        if let Some(result) = entry.result {
            return Ok(Begin::Done(result));
        }
        if entry.intent == self.owner {
            // Ours: new unless an earlier run of this job journalled it (updated before now).
            return Ok(if entry.first {
                Begin::Fresh
            } else {
                Begin::Resume
            });
        }
        if Utc::now() - entry.updated_at < OTHER_WRITER_GRACE {
            return Err(FlowError::Wait(
                "another job kept writing the same record",
                busy(&entry),
            ));
        }
        Ok(Begin::Resume)
    }

    pub(crate) async fn finish(&self, step: &str, result: &Value) -> FlowResult<()> {
        self.store
            .journal_result(self.tenant_id, &self.key, step, result)
            .await?;
        Ok(())
    }

    /// One write step, once in effect: the journalled id, else the id `find` looks up, else the
    /// id `write` creates. With [`Lookup::OnResume`] `find` is only asked when an earlier run was
    /// interrupted (the record carries a key only we write, so a first run has nothing to find);
    /// with [`Lookup::Always`] also on a first run (a natural key the customer may have used).
    pub(crate) async fn once<F, FF, W, WF>(
        &self,
        step: &str,
        lookup: Lookup,
        find: F,
        write: W,
    ) -> FlowResult<u64>
    where
        F: FnOnce() -> FF,
        FF: Future<Output = FlowResult<Option<u64>>>,
        W: FnOnce() -> WF,
        WF: Future<Output = FlowResult<u64>>,
    {
        let begin = self.begin(step).await?;
        let look = match begin {
            Begin::Done(result) => return id_of(&result),
            Begin::Resume => true,
            Begin::Fresh => lookup == Lookup::Always,
        };
        let found = if look { find().await? } else { None };
        let id = match found {
            Some(id) => id,
            None => write().await?,
        };
        self.finish(step, &json!({ "id": id })).await?;
        Ok(id)
    }

    /// A step whose write sets a target state (a PATCH), so repeating it after an interruption
    /// is harmless: it runs unless an earlier run finished it, and journals `id` as its result.
    pub(crate) async fn repeatable<W, WF>(&self, step: &str, id: u64, write: W) -> FlowResult<()>
    where
        W: FnOnce() -> WF,
        WF: Future<Output = FlowResult<()>>,
    {
        if let Begin::Done(_) = self.begin(step).await? {
            return Ok(());
        }
        write().await?;
        self.finish(step, &json!({ "id": id })).await
    }
}

/// The `id` of a journalled result.
pub(crate) fn id_of(result: &Value) -> FlowResult<u64> {
    result["id"]
        .as_u64()
        .ok_or(FlowError::Refused("a journalled step holds no record id"))
}

fn busy(entry: &JournalStep) -> JobError {
    #[derive(Debug, thiserror::Error)]
    #[error("another job is writing the same record (step {0})")]
    struct Busy(String);
    JobError::retry_at(
        Busy(entry.step.clone()),
        entry.updated_at + OTHER_WRITER_GRACE,
    )
}

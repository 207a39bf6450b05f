//! The step journal: a step's intent is inserted once (a retried job's second insert keeps the
//! first), its result set once the write is done.

use async_trait::async_trait;
use chrono::Utc;
use dealbridge_core::TenantId;
use dealbridge_storage::{JournalStep, StepJournal, StoreError, StoreResult};

use crate::backend::Backend;
use crate::values::{Id, QueueTime};
use crate::SqlStore;

const COLUMNS: &str = "job_key, step, intent, result, updated_at";

const INSERT: &str = "insert into step_journal (tenant_id, job_key, step, intent, result,
        created_at, updated_at)
    values ($1, $2, $3, $4, $5, $6, $6)
    on conflict (tenant_id, job_key, step) do nothing";

fn step_from_row<B: Backend>(row: &B::Row) -> StoreResult<JournalStep> {
    let result: serde_json::Value = B::get(row, "result")?;
    Ok(JournalStep {
        job_key: B::get(row, "job_key")?,
        step: B::get(row, "step")?,
        intent: B::get(row, "intent")?,
        result: (!result.is_null()).then_some(result),
        updated_at: B::get(row, "updated_at").map(|t: QueueTime| t.0)?,
        first: false,
    })
}

#[async_trait]
impl<B: Backend> StepJournal for SqlStore<B> {
    async fn journal_intent(
        &self,
        tenant_id: TenantId,
        job_key: &str,
        step: &str,
        intent: &str,
    ) -> StoreResult<JournalStep> {
        let tenant = Id(tenant_id.as_uuid());
        let unfinished = serde_json::Value::Null;
        let values = (
            tenant,
            job_key,
            step,
            intent,
            &unfinished,
            QueueTime(Utc::now()),
        );
        let first = self.execute(INSERT, values).await? > 0;
        let statement = format!(
            "select {COLUMNS} from step_journal
             where tenant_id = $1 and job_key = $2 and step = $3"
        );
        let step = self
            .fetch_one(&statement, (tenant, job_key, step), step_from_row::<B>)
            .await?;
        Ok(JournalStep { first, ..step })
    }

    async fn journal_result(
        &self,
        tenant_id: TenantId,
        job_key: &str,
        step: &str,
        result: &serde_json::Value,
    ) -> StoreResult<()> {
        let statement = "update step_journal set result = $1, updated_at = $2
            where tenant_id = $3 and job_key = $4 and step = $5";
        let values = (
            result,
            QueueTime(Utc::now()),
            Id(tenant_id.as_uuid()),
            job_key,
            step,
        );
        match self.execute(statement, values).await? {
            0 => Err(StoreError::NotFound("journal step")),
            _ => Ok(()),
        }
    }

    async fn journal_steps(
        &self,
        tenant_id: TenantId,
        job_key: &str,
    ) -> StoreResult<Vec<JournalStep>> {
        let statement = format!(
            "select {COLUMNS} from step_journal where tenant_id = $1 and job_key = $2
             order by created_at, step"
        );
        self.fetch_all(
            &statement,
            (Id(tenant_id.as_uuid()), job_key),
            step_from_row::<B>,
        )
        .await
    }
}

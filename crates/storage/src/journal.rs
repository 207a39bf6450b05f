//! The step journal: what a workflow job has done so far in Pipedrive, so a retried job skips
//! finished steps and reuses their ids instead of writing twice.
//!
//! Each step is journalled twice: its *intent* (the key the record will carry, such as an email or
//! an order id) before the write, and its *result* (the Pipedrive ids it produced) after. A step
//! with an intent but no result was interrupted between the two: the write may or may not have
//! happened, so the workflow looks the record up by the intent's key before writing again.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;

use crate::StoreResult;

/// One journalled step of one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalStep {
    /// The job's key: the inbox event's id, or a key several events share (a day's usage note).
    pub job_key: String,
    pub step: String,
    /// The key the step's record carries, as journalled before the write.
    pub intent: String,
    /// What the step produced (`{"id": 42}`, ...); `None` while it has not finished.
    pub result: Option<serde_json::Value>,
    pub updated_at: DateTime<Utc>,
    /// True when the call that returned this step journalled its intent (no earlier call had).
    pub first: bool,
}

#[async_trait]
pub trait StepJournal: Send + Sync + 'static {
    /// Journals the intent of a step, unless the step is journalled already; returns the step as
    /// it now stands (an earlier run's intent and result are kept, never replaced).
    async fn journal_intent(
        &self,
        tenant_id: TenantId,
        job_key: &str,
        step: &str,
        intent: &str,
    ) -> StoreResult<JournalStep>;

    /// Records what the step produced. `NotFound` if its intent was never journalled (a step
    /// records its intent before its write).
    async fn journal_result(
        &self,
        tenant_id: TenantId,
        job_key: &str,
        step: &str,
        result: &serde_json::Value,
    ) -> StoreResult<()>;

    /// Every journalled step of the job, in the order they were first journalled.
    async fn journal_steps(
        &self,
        tenant_id: TenantId,
        job_key: &str,
    ) -> StoreResult<Vec<JournalStep>>;
}

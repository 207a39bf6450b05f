//! What the dashboard and the support console show about a company's work: job counts, dead jobs,
//! today's API budget and the cumulative figures, shaped for the templates.

use chrono::{DateTime, Utc};
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_storage::{Job, JobCounts, JobId, COUNT_CAP};
use serde::Serialize;

use crate::services::console::capped;
use crate::{AppError, AppState};

/// Job counts as shown: with separators, "10,000+" past `COUNT_CAP` (as in the console's list).
#[derive(Debug, Serialize)]
pub struct CountsView {
    pub queued: String,
    pub running: String,
    pub dead: String,
    /// Exactly one job queued (the sentence about it is then singular).
    pub one_queued: bool,
}

impl From<JobCounts> for CountsView {
    fn from(counts: JobCounts) -> Self {
        Self {
            queued: capped(counts.queued),
            running: capped(counts.running),
            dead: capped(counts.dead),
            one_queued: counts.queued == 1,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    pub lane: &'static str,
    pub attempts: u32,
    pub max_attempts: u32,
    pub last_error: Option<String>,
    pub failed_at: String,
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        Self {
            id: job.id.to_string(),
            kind: job.kind.clone(),
            lane: job.lane.as_str(),
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            last_error: job.last_error.clone(),
            failed_at: when(job.updated_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct BudgetView {
    pub spent: u64,
    pub daily_limit: Option<u64>,
    /// What is left of the limit today, when one is known.
    pub left: Option<u64>,
    /// The limit was learned from Pipedrive's refusal, not configured.
    pub learned: bool,
    pub resets_at: String,
    /// Set while the company's work waits for the reset.
    pub exhausted_until: Option<String>,
    /// The token's burst window as Pipedrive last reported it to this instance.
    pub burst_limit: Option<u32>,
    /// Whether Pipedrive reported the writes left today (API tokens only).
    pub writes_reported: bool,
    pub daily_requests_left: Option<u32>,
    /// Set while the API token's writes for the UTC day are spent.
    pub writes_blocked_until: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct FiguresView {
    pub calls: i64,
    pub tokens_spent: i64,
    pub rate_limited: i64,
    pub waited_seconds: i64,
    pub deferred: i64,
    pub unauthorized: i64,
}

/// Times as support and customers read them, always in UTC.
/// A custom field Dealbridge keeps in the company's Pipedrive.
#[derive(Debug, Serialize)]
pub struct FieldView {
    /// The name it was created with (an admin may have renamed it since; the code is what counts).
    pub name: &'static str,
    pub entity: &'static str,
    pub field_code: String,
    pub recorded_at: String,
}

pub async fn fields(state: &AppState, tenant: TenantId) -> Result<Vec<FieldView>, AppError> {
    Ok(state
        .store
        .provisioned_fields(tenant)
        .await?
        .into_iter()
        .map(|f| FieldView {
            name: f.purpose.spec().name,
            entity: f.entity.as_str(),
            field_code: f.field_code,
            recorded_at: when(f.recorded_at),
        })
        .collect())
}

pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Counts stop at `COUNT_CAP`: a tenant with a million jobs costs a page no more than one with
/// ten thousand.
pub async fn counts(state: &AppState, tenant: Option<TenantId>) -> Result<CountsView, AppError> {
    Ok(state
        .store
        .job_counts_capped(tenant, COUNT_CAP)
        .await?
        .into())
}

pub async fn dead_jobs(
    state: &AppState,
    tenant: Option<TenantId>,
    limit: u32,
) -> Result<Vec<JobView>, AppError> {
    let jobs = state.store.dead_jobs(tenant, limit).await?;
    Ok(jobs.iter().map(JobView::from).collect())
}

/// Today's budget from the ledger. `None` when the ledger cannot say (logged): a page that shows
/// everything else is more use to the reader than an error page.
pub async fn budget(state: &AppState, company: CompanyId) -> Option<BudgetView> {
    let pipedrive_company = dealbridge_pipedrive::CompanyId(u64::try_from(company.get()).ok()?);
    // What Pipedrive's headers said, as this instance saw them (process-local figures).
    let seen = state.pipedrive.figures().snapshot(pipedrive_company);
    let now = Utc::now();
    match state.pipedrive.ledger().status(pipedrive_company).await {
        Ok(status) => Some(BudgetView {
            spent: status.spent,
            daily_limit: status.daily_limit,
            left: status.daily_limit.map(|l| l.saturating_sub(status.spent)),
            learned: status.learned,
            resets_at: when(status.resets_at),
            exhausted_until: status.exhausted_until.map(when),
            burst_limit: seen.burst_limit,
            writes_reported: seen.daily_requests_left.is_some(),
            daily_requests_left: seen.daily_requests_left,
            writes_blocked_until: seen.writes_blocked_until.filter(|u| *u > now).map(when),
        }),
        Err(err) => {
            tracing::warn!(company.id = %company, error.cause = %err, "budget status unavailable");
            None
        }
    }
}

pub async fn figures(state: &AppState, company: CompanyId) -> Result<FiguresView, AppError> {
    let figures = state.store.budget_figures(company).await?;
    Ok(FiguresView {
        calls: figures.calls,
        tokens_spent: figures.tokens_spent,
        rate_limited: figures.rate_limited,
        waited_seconds: figures.waited_ms / 1000,
        deferred: figures.deferred,
        unauthorized: figures.unauthorized,
    })
}

/// What `_budget.html` draws, for the dashboard and the console alike: today's budget, the
/// cumulative figures and the 7-day chart.
pub async fn insert_budget(
    state: &AppState,
    company: CompanyId,
    context: &mut tera::Context,
) -> Result<(), AppError> {
    let budget = budget(state, company).await;
    let limit = budget.as_ref().and_then(|b| b.daily_limit);
    context.insert(
        "budget_chart",
        &super::budget_chart::week(state, company, limit).await?,
    );
    context.insert("budget", &budget);
    context.insert("figures", &figures(state, company).await?);
    Ok(())
}

/// A job id from a path; anything unparsable names no job.
pub fn job_id(text: &str) -> Result<JobId, AppError> {
    uuid::Uuid::parse_str(text)
        .map(JobId::from_uuid)
        .map_err(|_| AppError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_with_separators_and_stop_at_the_cap() {
        let view = CountsView::from(JobCounts {
            queued: COUNT_CAP + 1,
            running: 1,
            dead: 1_234,
        });
        assert_eq!(view.queued, "10,000+");
        assert_eq!(view.running, "1");
        assert_eq!(view.dead, "1,234");
        assert!(!view.one_queued);
        let one = CountsView::from(JobCounts {
            queued: 1,
            ..JobCounts::default()
        });
        assert!(one.one_queued);
        assert_eq!(one.queued, "1");
    }
}

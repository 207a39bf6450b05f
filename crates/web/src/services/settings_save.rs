//! Reading and saving a tenant's workflow settings: versioned (a save names the version it was
//! based on; a concurrent save makes it a conflict, never an overwrite), audited (who saved which
//! version and which fields changed), and fed to the budget ledger so the company's daily limit
//! is known before Pipedrive's first 429.

use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::workflow_settings::{Plan, WorkflowSettings};
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_pipedrive::ledger::{daily_budget_for_plan, Plan as LedgerPlan};
use dealbridge_storage::StoreError;
use serde::Serialize;

use super::settings_choices::Choices;
use crate::{AppError, AppState};

/// The settings in force and the version they are (`None`: never saved, the defaults).
pub async fn current(
    state: &AppState,
    tenant_id: TenantId,
) -> Result<(WorkflowSettings, Option<i64>), AppError> {
    let saved = state.store.settings(tenant_id).await?;
    let settings = WorkflowSettings::from_body(saved.as_ref().map(|s| &s.body))
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("stored settings")))?;
    Ok((settings, saved.map(|s| s.version)))
}

/// What a save did.
#[derive(Debug)]
pub enum Saved {
    Version {
        version: i64,
        /// The ledger could not take the daily limit now (logged); the page says so.
        budget_applied: bool,
    },
    /// Someone saved since the form was opened; nothing was written.
    Conflict { current: Option<i64> },
}

pub async fn save(
    state: &AppState,
    tenant_id: TenantId,
    company: CompanyId,
    actor: &str,
    settings: &WorkflowSettings,
    based_on: Option<i64>,
    choices: &Choices,
) -> Result<Saved, AppError> {
    let before = state.store.settings(tenant_id).await?;
    let body = settings.to_body();
    let saved = match state
        .store
        .save_settings(tenant_id, based_on, &body, Some(actor))
        .await
    {
        Ok(saved) => saved,
        Err(StoreError::Conflict(_)) => {
            let current = state.store.settings(tenant_id).await?.map(|s| s.version);
            return Ok(Saved::Conflict { current });
        }
        Err(other) => return Err(other.into()),
    };
    let budget = daily_budget(settings, choices);
    let previous_body = before.map(|b| b.body).unwrap_or_else(|| {
        // A first save changes what differs from the defaults the workflows were using.
        WorkflowSettings::default().to_body()
    });
    state
        .store
        .append_audit(&NewAuditEntry {
            tenant_id: Some(tenant_id),
            actor: actor.to_owned(),
            action: "settings.saved".into(),
            detail: serde_json::json!({
                "version": saved.version,
                "based_on": based_on,
                "changed": changed_fields(&previous_body, &body),
                "daily_budget": budget.tokens,
            }),
        })
        .await?;
    let budget_applied = apply_budget(state, company, budget.tokens).await;
    Ok(Saved::Version {
        version: saved.version,
        budget_applied,
    })
}

/// Top-level settings fields whose value differs (settings hold no secrets, but the audit keeps
/// names only: the versions themselves hold the values).
pub fn changed_fields(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut names: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The daily token budget the settings give, and how it was reached, for the page.
#[derive(Debug, Clone, Serialize)]
pub struct DailyBudget {
    pub tokens: Option<u64>,
    pub plan: Option<&'static str>,
    pub seats: Option<u32>,
    /// The seats are the company's active users, counted, not given.
    pub seats_counted: bool,
}

/// Pipedrive's rule (30,000 × plan multiplier × seats): with no plan it is unknown, and the
/// ledger learns the limit from the first daily 429; with a plan and no seats, the company's
/// active users are the seats.
pub fn daily_budget(settings: &WorkflowSettings, choices: &Choices) -> DailyBudget {
    let (seats, seats_counted) = match settings.seats {
        Some(seats) => (seats, false),
        None => (choices.counted_seats(), true),
    };
    let plan = settings.plan;
    DailyBudget {
        tokens: plan.map(|plan| daily_budget_for_plan(ledger_plan(plan), seats.max(1), 0)),
        plan: plan.map(|p| super::settings_form::plan_text(Some(p))),
        seats: Some(seats),
        seats_counted,
    }
}

fn ledger_plan(plan: Plan) -> LedgerPlan {
    match plan {
        Plan::Lite => LedgerPlan::Lite,
        Plan::Growth => LedgerPlan::Growth,
        Plan::Premium => LedgerPlan::Premium,
        Plan::Ultimate => LedgerPlan::Ultimate,
    }
}

/// Sets (or, with no plan, clears back to "learn it") the company's daily limit in the shared
/// ledger, which every instance's client and the queue's budget gate read.
async fn apply_budget(state: &AppState, company: CompanyId, tokens: Option<u64>) -> bool {
    let Ok(id) = u64::try_from(company.get()) else {
        return false;
    };
    let company_id = dealbridge_pipedrive::CompanyId(id);
    match state
        .pipedrive
        .ledger()
        .set_daily_limit(company_id, tokens)
        .await
    {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(company.id = %company, error.cause = %err, "daily limit not applied");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::settings_choices::UserChoice;

    fn choices(users: u64) -> Choices {
        Choices {
            pipelines: Vec::new(),
            users: (0..users)
                .map(|id| UserChoice {
                    id,
                    name: format!("U{id}"),
                })
                .collect(),
            activity_types: Vec::new(),
        }
    }

    #[test]
    fn the_budget_follows_plan_and_seats_or_counted_users() {
        let mut settings = WorkflowSettings::default();
        assert_eq!(daily_budget(&settings, &choices(3)).tokens, None);
        settings.plan = Some(Plan::Growth);
        let counted = daily_budget(&settings, &choices(3));
        assert_eq!(
            (counted.tokens, counted.seats_counted),
            (Some(180_000), true)
        );
        settings.seats = Some(5);
        let given = daily_budget(&settings, &choices(3));
        assert_eq!((given.tokens, given.seats_counted), (Some(300_000), false));
    }

    #[test]
    fn changed_fields_name_what_differs() {
        let before = serde_json::json!({"a": 1, "b": {"x": 1}, "c": 3});
        let after = serde_json::json!({"a": 1, "b": {"x": 2}, "d": 4});
        assert_eq!(changed_fields(&before, &after), vec!["b", "c", "d"]);
    }
}

//! What a tenant's admin can choose from on the settings page, read from the company's own
//! Pipedrive: pipelines with their stages, users and activity types. Four list calls (50 tokens
//! at the published costs), so the answer is kept per tenant for [`CHOICES_TTL`]: reloading the
//! page, or saving it, does not spend them again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dealbridge_core::{TenantId, UserId};
use dealbridge_pipedrive::models::ListQuery;
use dealbridge_pipedrive::CompanyClient;
use serde::Serialize;

use super::pipedrive_access::interactive_client;
use crate::AppState;

/// How long choices read from Pipedrive are reused. Short, so a pipeline added in Pipedrive
/// shows up within a couple of minutes; long enough that a page view and its save cost one read.
pub const CHOICES_TTL: Duration = Duration::from_secs(120);

/// Pages of pipelines or stages read at most (500 each): more is not a company we can show in a
/// select anyway, and a bound keeps a misbehaving cursor from spending the budget.
const MAX_PAGES: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct StageChoice {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineChoice {
    pub id: u64,
    pub name: String,
    /// In the pipeline's order.
    pub stages: Vec<StageChoice>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserChoice {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActivityTypeChoice {
    pub key: String,
    pub name: String,
}

/// The company's choices, as Pipedrive answered.
#[derive(Debug, Clone, Serialize)]
pub struct Choices {
    pub pipelines: Vec<PipelineChoice>,
    /// Active users only: a deactivated user can own nothing and holds no seat.
    pub users: Vec<UserChoice>,
    /// Active types only.
    pub activity_types: Vec<ActivityTypeChoice>,
}

impl Choices {
    pub fn pipeline(&self, id: u64) -> Option<&PipelineChoice> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    /// The pipeline a stage belongs to, if the stage exists.
    pub fn pipeline_of_stage(&self, stage: u64) -> Option<&PipelineChoice> {
        self.pipelines
            .iter()
            .find(|p| p.stages.iter().any(|s| s.id == stage))
    }

    pub fn has_user(&self, id: u64) -> bool {
        self.users.iter().any(|u| u.id == id)
    }

    pub fn has_activity_type(&self, key: &str) -> bool {
        self.activity_types.iter().any(|t| t.key == key)
    }

    /// The seats the company pays for, as far as the API shows them: its active users.
    pub fn counted_seats(&self) -> u32 {
        u32::try_from(self.users.len()).unwrap_or(u32::MAX)
    }
}

/// Choices per tenant with the time they were read. Shared by every actix worker.
#[derive(Default)]
pub struct ChoicesCache {
    entries: Mutex<HashMap<TenantId, (Instant, Arc<Choices>)>>,
}

impl ChoicesCache {
    fn fresh(&self, tenant: TenantId) -> Option<Arc<Choices>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&tenant)
            .filter(|(at, _)| at.elapsed() < CHOICES_TTL)
            .map(|(_, choices)| choices.clone())
    }

    fn keep(&self, tenant: TenantId, choices: Arc<Choices>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Old entries of other tenants go too, so the map holds only tenants seen lately.
        entries.retain(|_, (at, _)| at.elapsed() < CHOICES_TTL);
        entries.insert(tenant, (Instant::now(), choices));
    }
}

/// The tenant's choices, from the cache while fresh, else read through `user_id`'s installation.
/// The error is a sentence for the page (why Pipedrive could not be read); its cause is logged.
pub async fn choices(
    state: &AppState,
    tenant_id: TenantId,
    user_id: UserId,
) -> Result<Arc<Choices>, String> {
    if let Some(choices) = state.choices.fresh(tenant_id) {
        return Ok(choices);
    }
    let client = interactive_client(state, tenant_id, user_id).await?;
    let read = read(&client).await.map_err(|err| {
        tracing::warn!(tenant.id = %tenant_id, error.cause = %err, "settings choices not read");
        describe(&err)
    })?;
    let read = Arc::new(read);
    state.choices.keep(tenant_id, read.clone());
    Ok(read)
}

/// What the admin can do about a failed read.
fn describe(err: &dealbridge_pipedrive::Error) -> String {
    use dealbridge_pipedrive::{Error, ForbiddenKind};
    match err {
        Error::Forbidden {
            kind: ForbiddenKind::MissingScope,
            ..
        } => "Pipedrive refused: this installation lacks a permission the settings need \
              (users:read or activities). Install Dealbridge again to grant it."
            .into(),
        other => format!("Pipedrive could not be read: {other}. Reload the page to try again."),
    }
}

async fn read(client: &CompanyClient) -> dealbridge_pipedrive::Result<Choices> {
    let mut pipelines = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let page = client.pipelines().list(page_query(cursor.take())).await?;
        pipelines.extend(page.items.into_iter().map(|p| PipelineChoice {
            id: p.id,
            name: p.name,
            stages: Vec::new(),
        }));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut stages = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = client.stages().list(page_query(cursor.take())).await?;
        stages.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    stages.sort_by_key(|s| (s.order_nr.unwrap_or(i64::MAX), s.id));
    for stage in stages {
        let pipeline = pipelines
            .iter_mut()
            .find(|p| Some(p.id) == stage.pipeline_id);
        if let Some(pipeline) = pipeline {
            pipeline.stages.push(StageChoice {
                id: stage.id,
                name: stage.name,
            });
        }
    }
    let users = client
        .users()
        .list()
        .await?
        .into_iter()
        .filter(|u| u.active_flag && !u.is_deleted)
        .map(|u| UserChoice {
            name: u
                .name
                .or(u.email)
                .unwrap_or_else(|| format!("User {}", u.id)),
            id: u.id,
        })
        .collect();
    let mut types = client.activity_types().list().await?;
    types.sort_by_key(|t| (t.order_nr.unwrap_or(i64::MAX), t.id));
    let activity_types = types
        .into_iter()
        .filter(|t| t.active_flag)
        .map(|t| ActivityTypeChoice {
            key: t.key_string,
            name: t.name,
        })
        .collect();
    Ok(Choices {
        pipelines,
        users,
        activity_types,
    })
}

fn page_query(cursor: Option<String>) -> ListQuery {
    let query = ListQuery::new().limit(500);
    match cursor {
        Some(cursor) => query.cursor(cursor),
        None => query,
    }
}

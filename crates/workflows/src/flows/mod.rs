//! The workflows that turn a customer's events into Pipedrive records, one job kind per event
//! type (`event.signup`, `event.order.created`, ...), one file each. Every run reads the inbox
//! event, the tenant's workflow settings and field codes, skips events of a source switched off,
//! and marks the event processed with the records it became, or failed with a reason that names
//! no content.

mod context;
mod customer_updated;
mod error;
mod find;
mod journal;
mod notes;
mod order_created;
mod order_updated;
mod orders;
mod person_org;
mod placement;
mod signup;
mod stage_changed;
mod ticket_created;
mod usage_reported;

pub(crate) use usage_reported::USAGE_JOURNAL_PREFIX;

use dealbridge_budget::ledger_lane;
use dealbridge_core::event::{EventSource, EventType};
use dealbridge_core::outcome::EventOutcome;
use dealbridge_core::workflow_settings::{SourceSwitches, WorkflowSettings};
use dealbridge_jobs::{Backoff, JobContext, JobError, Registry};
use dealbridge_storage::{InboxEvent, InboxState, Store};
use serde::Deserialize;
use uuid::Uuid;

use crate::errors::{store_error, wait_for_reconnect};
use crate::tenant_jobs::acting_user;
use crate::Workflows;
use context::Flow;
use error::FlowError;

/// What the dashboard shows for an event whose source the tenant switched off.
pub const SKIPPED_SOURCE_OFF: &str = "skipped: source off";

/// The event types that have a workflow, with their job kinds.
pub const FLOW_TYPES: [EventType; 7] = [
    EventType::Signup,
    EventType::OrderCreated,
    EventType::OrderUpdated,
    EventType::CustomerUpdated,
    EventType::UsageReported,
    EventType::TicketCreated,
    EventType::DealStageChanged,
];

/// The job kind of an event type's workflow (the inbox queues it with the event).
pub fn flow_kind(kind: &EventType) -> String {
    format!("event.{}", kind.name())
}

#[derive(Deserialize)]
struct EventPayload {
    event_id: Uuid,
}

impl Workflows {
    /// Adds one handler per workflow to `registry`, each retried with `backoff`.
    pub(crate) fn register_flows(&self, mut registry: Registry, backoff: Backoff) -> Registry {
        for kind in FLOW_TYPES {
            let workflows = self.clone();
            registry = registry.handle_with(flow_kind(&kind), backoff, move |ctx| {
                let workflows = workflows.clone();
                async move { workflows.run_flow(ctx).await }
            });
        }
        registry
    }

    async fn run_flow(&self, ctx: JobContext) -> Result<(), JobError> {
        let store = self.store.as_ref();
        let tenant_id = ctx
            .tenant_id()
            .ok_or_else(|| JobError::permanent("a workflow job needs a tenant"))?;
        let payload: EventPayload = ctx.payload()?;
        let event = store
            .inbox_event(tenant_id, payload.event_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| JobError::permanent("the inbox event no longer exists"))?;
        if event.state != InboxState::Pending {
            return Ok(()); // finished by an earlier run of this job
        }
        let last_attempt = ctx.job.attempts >= ctx.job.max_attempts;
        match self.flow(&ctx, &event).await {
            Ok(outcome) => finish(store, &event, InboxState::Processed, &outcome).await,
            Err(err) => {
                let reason = err.reason();
                let job_error = err.into_job_error();
                if last_attempt || matches!(job_error, JobError::Permanent(_)) {
                    let outcome = EventOutcome::reason(reason);
                    finish(store, &event, InboxState::Failed, &outcome).await?;
                }
                Err(job_error)
            }
        }
    }

    /// Runs the event's workflow; what it became.
    async fn flow(&self, ctx: &JobContext, event: &InboxEvent) -> Result<EventOutcome, FlowError> {
        let store = self.store.as_ref();
        let tenant_id = event.tenant_id;
        let settings = match store.settings(tenant_id).await? {
            Some(saved) => WorkflowSettings::from_body(Some(&saved.body))
                .map_err(|_| FlowError::Refused("the workflow settings do not read"))?,
            None => WorkflowSettings::default(),
        };
        if !source_on(&settings.sources, event.source) {
            return Ok(EventOutcome::reason(SKIPPED_SOURCE_OFF));
        }
        let no_client = "no installation could act for the tenant";
        let Some(user) = acting_user(store, tenant_id)
            .await
            .map_err(|e| FlowError::Wait(no_client, e))?
        else {
            return Err(FlowError::Wait(no_client, wait_for_reconnect(None)));
        };
        let client = self
            .company_client(tenant_id, user, ledger_lane(ctx.job.lane))
            .await
            .map_err(|e| FlowError::Wait(no_client, e))?;
        let installing_user = u64::try_from(user.get())
            .map_err(|_| FlowError::Refused("negative Pipedrive user id in the store"))?;
        let fields = store
            .provisioned_fields(tenant_id)
            .await?
            .into_iter()
            .map(|field| (field.purpose, field.field_code))
            .collect();
        let mut flow = Flow {
            store,
            client,
            event,
            owner_id: settings.owner_id.unwrap_or(installing_user),
            settings,
            fields,
            records: Vec::new(),
        };
        let kind = EventType::parse(&event.kind)
            .ok_or(FlowError::Refused("the event's type has no workflow"))?;
        match kind {
            EventType::Signup => signup::run(&mut flow).await?,
            EventType::OrderCreated => order_created::run(&mut flow).await?,
            EventType::OrderUpdated => order_updated::run(&mut flow).await?,
            EventType::CustomerUpdated => customer_updated::run(&mut flow).await?,
            EventType::UsageReported => usage_reported::run(&mut flow).await?,
            EventType::TicketCreated => ticket_created::run(&mut flow).await?,
            EventType::DealStageChanged => stage_changed::run(&mut flow).await?,
            EventType::PipedriveChange { .. } => {
                return Err(FlowError::Refused("the event's type has no workflow"))
            }
        }
        Ok(EventOutcome::records(flow.records))
    }
}

async fn finish(
    store: &dyn Store,
    event: &InboxEvent,
    state: InboxState,
    outcome: &EventOutcome,
) -> Result<(), JobError> {
    store
        .finish_event(event.tenant_id, event.id, state, outcome)
        .await
        .map_err(store_error)
}

/// Whether the tenant wants events of `source` to become records (Pipedrive's own changes only
/// feed the mirror and have no switch).
fn source_on(switches: &SourceSwitches, source: EventSource) -> bool {
    match source {
        EventSource::EventApi => switches.event_api,
        EventSource::Shopify => switches.shopify,
        EventSource::WooCommerce => switches.woocommerce,
        EventSource::Api2Cart => switches.api2cart,
        EventSource::Pipedrive => true,
    }
}

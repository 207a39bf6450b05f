//! `event.pipedrive`: applies one recorded Pipedrive change (a webhook delivery or a reconcile
//! copy) to the tenant's local mirror, and marks the inbox event processed, stale or failed. It
//! makes no Pipedrive call, so it runs on any worker, with or without Pipedrive credentials.
//!
//! Persons are kept with their primary email, organizations with their name and website domain,
//! deals with the app's `Order ID` field, so workflows find them without spending tokens. An
//! event older than what the mirror holds for its record (a deletion included) is stale and
//! changes nothing; so is a reconcile copy of the very change the mirror already holds.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dealbridge_core::event::{ChangeAction, EventType, PipedriveEntity};
use dealbridge_core::fields::FieldPurpose;
use dealbridge_core::TenantId;
use dealbridge_inbox::EVENT_JOB_KIND;
use dealbridge_jobs::{JobContext, JobError, Registry};
use dealbridge_storage::{InboxEvent, InboxState, MirrorLookup, MirrorRecord, Store, StoreResult};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::errors::store_error;

#[derive(Deserialize)]
struct EventPayload {
    event_id: Uuid,
}

/// Why an event cannot be applied. Each message names the problem, never the event's content, so
/// it is safe to show on the dashboard (as the failed job's error).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventProblem {
    #[error("the event is not a Pipedrive change")]
    NotAChange,
    #[error("the event names no record id")]
    NoRecordId,
    #[error("the event carries no record data")]
    NoData,
}

/// Adds the `event.pipedrive` handler to `registry`.
pub fn register_pipedrive_events(registry: Registry, store: Arc<dyn Store>) -> Registry {
    registry.handle(EVENT_JOB_KIND, move |ctx: JobContext| {
        let store = store.clone();
        async move { apply_event(store.as_ref(), ctx).await }
    })
}

/// What applying an event did to the mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    Processed,
    Stale,
}

async fn apply_event(store: &dyn Store, ctx: JobContext) -> Result<(), JobError> {
    let tenant_id = ctx
        .tenant_id()
        .ok_or_else(|| JobError::permanent("event.pipedrive needs a tenant"))?;
    let payload: EventPayload = ctx.payload()?;
    apply_pending(store, tenant_id, payload.event_id).await
}

/// Applies one recorded event unless an earlier run did: the event job's work, which the
/// reconcile sweep also does at once for the copies it records (so its listing is in the mirror
/// when it says so; the job then finds the event applied and does nothing).
pub(crate) async fn apply_pending(
    store: &dyn Store,
    tenant_id: TenantId,
    event_id: Uuid,
) -> Result<(), JobError> {
    let event = store
        .inbox_event(tenant_id, event_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| JobError::permanent("the inbox event no longer exists"))?;
    if event.state != InboxState::Pending {
        return Ok(()); // applied by an earlier run of this job
    }
    let state = match apply(store, &event).await {
        Ok(Applied::Processed) => InboxState::Processed,
        Ok(Applied::Stale) => InboxState::Stale,
        Err(Failure::Store(err)) => return Err(err),
        Err(Failure::Problem(problem)) => {
            mark(store, &event, InboxState::Failed).await?;
            // The job dies with the reason, which the dashboard shows; retrying cannot help.
            return Err(JobError::permanent(problem));
        }
    };
    mark(store, &event, state).await
}

async fn mark(store: &dyn Store, event: &InboxEvent, state: InboxState) -> Result<(), JobError> {
    store
        .set_event_state(event.tenant_id, event.id, state)
        .await
        .map_err(store_error)
}

enum Failure {
    /// The event itself is unusable: marked failed.
    Problem(EventProblem),
    /// The store failed: retried as the store error says.
    Store(JobError),
}

/// Applies the event to the mirror.
async fn apply(store: &dyn Store, event: &InboxEvent) -> Result<Applied, Failure> {
    let Some(EventType::PipedriveChange { entity, action }) = EventType::parse(&event.kind) else {
        return Err(Failure::Problem(EventProblem::NotAChange));
    };
    let record_id = record_id(event).ok_or(Failure::Problem(EventProblem::NoRecordId))?;
    let tenant = event.tenant_id;
    let at = event.occurred_at;
    if action == ChangeAction::Delete {
        let written = store
            .delete_mirror(tenant, entity, record_id, at)
            .await
            .map_err(|e| Failure::Store(store_error(e)))?;
        return Ok(if written {
            Applied::Processed
        } else {
            Applied::Stale
        });
    }
    let data = event
        .payload
        .get("data")
        .filter(|d| d.is_object())
        .ok_or(Failure::Problem(EventProblem::NoData))?;
    if already_held(store, tenant, entity, record_id, at, from_reconcile(event)).await? {
        return Ok(Applied::Stale);
    }
    let record = mirror_record(store, tenant, entity, record_id, at, data)
        .await
        .map_err(|e| Failure::Store(store_error(e)))?;
    let written = store
        .upsert_mirror(tenant, &record)
        .await
        .map_err(|e| Failure::Store(store_error(e)))?;
    Ok(if written {
        Applied::Processed
    } else {
        Applied::Stale
    })
}

/// The mirror's form of one Pipedrive record as of `at`: its lookup keys and its data. The
/// reconcile sweep writes what it lists through this too.
pub(crate) async fn mirror_record(
    store: &dyn Store,
    tenant: TenantId,
    entity: PipedriveEntity,
    record_id: i64,
    at: DateTime<Utc>,
    data: &Value,
) -> StoreResult<MirrorRecord> {
    Ok(MirrorRecord {
        entity,
        record_id,
        name: text(
            data,
            if entity == PipedriveEntity::Deal {
                "title"
            } else {
                "name"
            },
        ),
        email: (entity == PipedriveEntity::Person)
            .then(|| primary_email(data))
            .flatten(),
        domain: (entity == PipedriveEntity::Organization)
            .then(|| website_domain(data))
            .flatten(),
        order_id: match entity {
            PipedriveEntity::Deal => order_id(store, tenant, data).await?,
            _ => None,
        },
        changed_at: at,
        data: data.clone(),
    })
}

/// Puts a record Pipedrive answered with (a create, a read by id) into the mirror under the keys a
/// webhook delivery or a reconcile listing of it would give, so a lookup finds it before its
/// webhook arrives. Its `update_time` orders it among the deliveries (the webhook of the same
/// change then finds it held); a record without an id or a time is left to them. True if written.
pub async fn remember_answer(
    store: &dyn Store,
    tenant: TenantId,
    entity: PipedriveEntity,
    data: &Value,
) -> StoreResult<bool> {
    let record_id = data.get("id").and_then(Value::as_i64);
    let at = api_time(data.get("update_time").and_then(Value::as_str));
    let (Some(record_id), Some(at)) = (record_id, at) else {
        return Ok(false);
    };
    let record = mirror_record(store, tenant, entity, record_id, at, data).await?;
    store.upsert_mirror(tenant, &record).await
}

/// A time Pipedrive wrote: v2's are RFC 3339; v1's `YYYY-MM-DD HH:MM:SS` are UTC.
pub(crate) fn api_time(value: Option<&str>) -> Option<DateTime<Utc>> {
    let value = value?.trim();
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// Whether the mirror already holds this record at a newer time, or (for a reconcile copy) at
/// the same time: the webhook for that change came first.
async fn already_held(
    store: &dyn Store,
    tenant: TenantId,
    entity: PipedriveEntity,
    record_id: i64,
    at: DateTime<Utc>,
    reconcile: bool,
) -> Result<bool, Failure> {
    let held = store
        .find_mirror(tenant, MirrorLookup::Id(entity, record_id))
        .await
        .map_err(|e| Failure::Store(store_error(e)))?;
    Ok(held
        .iter()
        .any(|r| r.changed_at > at || (reconcile && r.changed_at == at)))
}

fn from_reconcile(event: &InboxEvent) -> bool {
    event.payload["meta"]["origin"] == "reconcile"
}

/// `meta.entity_id` (a string in v2 deliveries), else `data.id`, else the previous state's id.
fn record_id(event: &InboxEvent) -> Option<i64> {
    let payload = &event.payload;
    let as_id = |v: &Value| match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    as_id(&payload["meta"]["entity_id"])
        .or_else(|| as_id(&payload["data"]["id"]))
        .or_else(|| as_id(&payload["previous"]["id"]))
}

fn text(data: &Value, field: &str) -> Option<String> {
    data.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The primary email (else the first) of a person, from `emails: [{value, primary}]`.
fn primary_email(data: &Value) -> Option<String> {
    let emails = data.get("emails")?.as_array()?;
    let primary = emails
        .iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| emails.first())?;
    text(primary, "value")
}

/// The host of an organization's `website` (`https://www.acme.test/x` → `acme.test`).
fn website_domain(data: &Value) -> Option<String> {
    let site = text(data, "website")?;
    let with_scheme = if site.contains("://") {
        site
    } else {
        format!("https://{site}")
    };
    let host = url::Url::parse(&with_scheme)
        .ok()?
        .host_str()?
        .to_lowercase();
    Some(host.strip_prefix("www.").unwrap_or(&host).to_owned())
}

/// The deal's `Order ID` value, by the field code provisioning recorded. API records carry the
/// plain value; v2 webhook deliveries carry `{type, value}`.
async fn order_id(
    store: &dyn Store,
    tenant: TenantId,
    data: &Value,
) -> StoreResult<Option<String>> {
    let fields = store.provisioned_fields(tenant).await?;
    let Some(field) = fields
        .iter()
        .find(|f| f.purpose == FieldPurpose::DealOrderId)
    else {
        return Ok(None);
    };
    let value = &data["custom_fields"][field.field_code.as_str()];
    let value = match value {
        Value::Object(typed) => typed.get("value").unwrap_or(&Value::Null),
        plain => plain,
    };
    Ok(match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persons_primary_email_is_taken() {
        let data = serde_json::json!({ "emails": [
            { "value": "other@x.test", "primary": false },
            { "value": " Ada@Acme.test ", "primary": true },
        ]});
        assert_eq!(primary_email(&data).as_deref(), Some("Ada@Acme.test"));
        assert_eq!(primary_email(&serde_json::json!({ "emails": [] })), None);
    }

    #[test]
    fn an_organizations_domain_comes_from_its_website() {
        for (site, domain) in [
            ("https://www.Acme.test/about", Some("acme.test")),
            ("acme.test", Some("acme.test")),
            ("", None),
        ] {
            let data = serde_json::json!({ "website": site });
            assert_eq!(website_domain(&data).as_deref(), domain, "{site}");
        }
    }
}

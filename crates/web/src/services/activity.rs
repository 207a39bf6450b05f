//! The dashboard's activity page: the tenant's events filtered by source, type, state and the
//! days they were received, newest first in pages, and a failed event run again. Always scoped to
//! the signed-in tenant.

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::event::{ChangeAction, EventSource, EventType, PipedriveEntity};
use dealbridge_core::TenantId;
use dealbridge_storage::{EventFilter, InboxState, Lane, NewJob};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::services::events_view::{view, EventView};
use crate::{AppError, AppState};

/// Events a page shows.
pub const PAGE: u32 = 50;

/// The page's query string as the filter form sends it: empty fields mean "any".
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ActivityQuery {
    #[serde(default)]
    pub source: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub state: String,
    /// `YYYY-MM-DD`, a UTC day: received on or after it.
    #[serde(default)]
    pub from: String,
    /// `YYYY-MM-DD`, a UTC day: received on or before it.
    #[serde(default)]
    pub to: String,
    /// The last event of the previous page: `{received_at}~{id}`.
    #[serde(default)]
    pub after: String,
}

#[derive(Debug, Serialize)]
pub struct ActivityPage {
    pub events: Vec<EventView>,
    /// The query string of the next page, when there is one.
    pub next: Option<String>,
}

fn set(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|t| !t.is_empty())
}

fn day(text: &str, field: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    let Some(text) = set(text) else {
        return Ok(None);
    };
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| AppError::BadRequest(format!("{field} must be a date like 2026-12-01")))?;
    Ok(Some(day.and_time(chrono::NaiveTime::MIN).and_utc()))
}

fn cursor(text: &str) -> Result<Option<(DateTime<Utc>, Uuid)>, AppError> {
    let Some(text) = set(text) else {
        return Ok(None);
    };
    let bad =
        || AppError::BadRequest("the page link is not valid; start from the first page".into());
    let (at, id) = text.split_once('~').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?;
    Ok(Some((
        at.with_timezone(&Utc),
        id.parse().map_err(|_| bad())?,
    )))
}

/// The store's filter for `query`; a value the form never offers is refused with what is wrong.
pub fn filter(query: &ActivityQuery) -> Result<EventFilter, AppError> {
    let source = match set(&query.source) {
        None => None,
        Some(s) => Some(
            EventSource::parse(s)
                .ok_or_else(|| AppError::BadRequest(format!("unknown source {s:?}")))?,
        ),
    };
    let kind = match set(&query.kind) {
        None => None,
        Some(k) => Some(
            EventType::parse(k)
                .ok_or_else(|| AppError::BadRequest(format!("unknown event type {k:?}")))?
                .name(),
        ),
    };
    let state = match set(&query.state) {
        None => None,
        Some(s) => Some(
            InboxState::parse(s)
                .ok_or_else(|| AppError::BadRequest(format!("unknown state {s:?}")))?,
        ),
    };
    let (from, to) = (day(&query.from, "from")?, day(&query.to, "to")?);
    Ok(EventFilter {
        source,
        kind,
        state,
        from,
        // The "to" day is included: received before the next day starts.
        until: to.map(|day| day + Duration::days(1)),
        after: cursor(&query.after)?,
    })
}

/// One page of the tenant's events for `query`.
pub async fn page(
    state: &AppState,
    tenant: TenantId,
    company_domain: &str,
    query: &ActivityQuery,
) -> Result<ActivityPage, AppError> {
    let filter = filter(query)?;
    // One more than a page says whether a next page exists.
    let mut events = state.store.list_events(tenant, &filter, PAGE + 1).await?;
    let more = events.len() > PAGE as usize;
    events.truncate(PAGE as usize);
    let next = match (more, events.last()) {
        (true, Some(last)) => {
            let at = last
                .received_at
                .to_rfc3339_opts(SecondsFormat::AutoSi, true);
            Some(next_page(query, &format!("{at}~{}", last.id)))
        }
        _ => None,
    };
    let now = Utc::now();
    Ok(ActivityPage {
        events: events
            .iter()
            .map(|e| view(e, company_domain, now))
            .collect(),
        next,
    })
}

/// The query string of the page after `after`, with the same filters.
fn next_page(query: &ActivityQuery, after: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("source", &query.source)
        .append_pair("type", &query.kind)
        .append_pair("state", &query.state)
        .append_pair("from", &query.from)
        .append_pair("to", &query.to)
        .append_pair("after", after)
        .finish()
}

/// Every event type's name, for the filter's choices.
pub fn type_names() -> Vec<String> {
    let customer = [
        EventType::Signup,
        EventType::OrderCreated,
        EventType::OrderUpdated,
        EventType::CustomerUpdated,
        EventType::UsageReported,
        EventType::TicketCreated,
        EventType::DealStageChanged,
    ];
    let pipedrive = PipedriveEntity::ALL.into_iter().flat_map(|entity| {
        ChangeAction::ALL
            .into_iter()
            .map(move |action| EventType::pipedrive(entity, action))
    });
    customer
        .into_iter()
        .chain(pipedrive)
        .map(|t| t.name())
        .collect()
}

/// Runs one of the tenant's failed events again with a new job. `NotFound` unless the tenant has
/// the event and it failed (so a second click, or another tenant's id, changes nothing).
pub async fn retry(
    state: &AppState,
    tenant: TenantId,
    id: Uuid,
    actor: &str,
) -> Result<(), AppError> {
    let event = state.store.inbox_event(tenant, id).await?;
    let event = event.ok_or(AppError::NotFound)?;
    let job = NewJob::new(
        format!("event.{}", event.kind),
        serde_json::json!({ "event_id": id }),
    )
    .lane(Lane::Realtime);
    if !state.store.retry_failed_event(tenant, id, &job).await? {
        return Err(AppError::NotFound);
    }
    state
        .store
        .append_audit(&NewAuditEntry {
            tenant_id: Some(tenant),
            actor: actor.into(),
            action: "event.retry".into(),
            detail: serde_json::json!({ "event_id": id.to_string(), "type": event.kind }),
        })
        .await?;
    tracing::info!(event.id = %id, actor, "failed event queued again");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_the_stores_filter() {
        let query = ActivityQuery {
            source: "shopify".into(),
            kind: "order.created".into(),
            state: "failed".into(),
            from: "2026-12-01".into(),
            to: "2026-12-01".into(),
            ..ActivityQuery::default()
        };
        let f = filter(&query).unwrap();
        assert_eq!(f.source, Some(EventSource::Shopify));
        assert_eq!(f.kind.as_deref(), Some("order.created"));
        assert_eq!(f.state, Some(InboxState::Failed));
        let day = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap();
        assert_eq!(f.from, Some(day.with_timezone(&Utc)));
        assert_eq!(f.until, Some(day.with_timezone(&Utc) + Duration::days(1)));
        assert_eq!(
            filter(&ActivityQuery::default()).unwrap(),
            EventFilter::default()
        );
    }

    #[test]
    fn what_the_form_never_offers_is_refused() {
        for query in [
            ActivityQuery {
                source: "fax".into(),
                ..ActivityQuery::default()
            },
            ActivityQuery {
                kind: "order.eaten".into(),
                ..ActivityQuery::default()
            },
            ActivityQuery {
                state: "lost".into(),
                ..ActivityQuery::default()
            },
            ActivityQuery {
                from: "yesterday".into(),
                ..ActivityQuery::default()
            },
            ActivityQuery {
                after: "x".into(),
                ..ActivityQuery::default()
            },
        ] {
            assert!(
                matches!(filter(&query), Err(AppError::BadRequest(_))),
                "{query:?}"
            );
        }
    }

    #[test]
    fn every_type_name_reads_back() {
        let names = type_names();
        assert_eq!(names.len(), 7 + 9);
        assert!(
            names.iter().all(|n| EventType::parse(n).is_some()),
            "{names:?}"
        );
    }
}

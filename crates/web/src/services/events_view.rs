//! What the dashboard shows about events in: the tenant's recent inbox events per source, and how
//! its Pipedrive webhooks looked when last checked. Always scoped to the signed-in tenant.

use chrono::{DateTime, Utc};
use dealbridge_core::event::EventSource;
use dealbridge_core::outcome::EventOutcome;
use dealbridge_core::TenantId;
use dealbridge_storage::{InboxEvent, InboxState, WebhookRegistration, WebhookState};
use serde::Serialize;

use crate::services::tenant_health::when;
use crate::{AppError, AppState};

/// Events shown per source.
const RECENT_PER_SOURCE: u32 = 15;

#[derive(Debug, Serialize)]
pub struct EventView {
    pub id: String,
    pub source: &'static str,
    pub kind: String,
    /// `deal:8`, `person:3`, ...
    pub entity: Option<String>,
    /// `received` (waiting for its job), `processed`, `stale` or `failed`.
    pub state: &'static str,
    pub occurred_at: String,
    pub received_at: String,
    pub received_ago: String,
    /// The Pipedrive records the event became, each with a link where the record has a page.
    pub became: Vec<RecordLink>,
    /// Why it became nothing (more): a failure's reason, or `skipped: source off`.
    pub reason: Option<String>,
}

/// One record an event became.
#[derive(Debug, Serialize)]
pub struct RecordLink {
    /// `deal 42`, `note 7`.
    pub label: String,
    /// Its page in the company's Pipedrive.
    pub url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SourceEvents {
    pub source: &'static str,
    pub events: Vec<EventView>,
}

#[derive(Debug, Serialize)]
pub struct WebhookHealth {
    pub state: &'static str,
    pub webhooks: usize,
    pub checked_at: Option<String>,
    /// Set when the tenant should know something is wrong.
    pub notice: Option<&'static str>,
}

/// The inbox's state in the dashboard's words: a pending event has been received, not yet acted on.
pub fn state_label(state: InboxState) -> &'static str {
    match state {
        InboxState::Pending => "received",
        InboxState::Processed => "processed",
        InboxState::Stale => "stale",
        InboxState::Failed => "failed",
    }
}

/// "just now", "5 min ago", "3 h ago", "2 days ago".
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds().max(0);
    match seconds {
        0..=59 => "just now".to_owned(),
        60..=3599 => format!("{} min ago", seconds / 60),
        3600..=86_399 => format!("{} h ago", seconds / 3600),
        _ => match seconds / 86_400 {
            1 => "1 day ago".to_owned(),
            days => format!("{days} days ago"),
        },
    }
}

/// The records of an outcome, linked to `https://{company domain}.pipedrive.com/...`.
fn links(outcome: Option<&EventOutcome>, company_domain: &str) -> Vec<RecordLink> {
    let records = outcome.map(|o| o.records.as_slice()).unwrap_or_default();
    records
        .iter()
        .map(|record| RecordLink {
            label: format!("{} {}", record.kind.as_str(), record.id),
            url: record
                .kind
                .web_path(record.id)
                .map(|path| format!("https://{company_domain}.pipedrive.com{path}")),
        })
        .collect()
}

pub fn view(event: &InboxEvent, company_domain: &str, now: DateTime<Utc>) -> EventView {
    EventView {
        id: event.id.to_string(),
        source: event.source.as_str(),
        became: links(event.outcome.as_ref(), company_domain),
        reason: event.outcome.as_ref().and_then(|o| o.reason.clone()),
        kind: event.kind.clone(),
        entity: event.entity_key.clone(),
        state: state_label(event.state),
        occurred_at: when(event.occurred_at),
        received_at: when(event.received_at),
        received_ago: ago(event.received_at, now),
    }
}

/// The sources that have events, each with its most recent ones, newest first; the records
/// they became are linked into `company_domain`'s Pipedrive.
pub async fn recent_events(
    state: &AppState,
    tenant: TenantId,
    company_domain: &str,
) -> Result<Vec<SourceEvents>, AppError> {
    let now = Utc::now();
    // One read per source, at once.
    let reads = EventSource::ALL.map(|source| async move {
        let events = state
            .store
            .recent_events(tenant, source, RECENT_PER_SOURCE)
            .await?;
        Ok::<_, AppError>((source, events))
    });
    let mut sources = Vec::new();
    for (source, events) in futures::future::try_join_all(reads).await? {
        if !events.is_empty() {
            sources.push(SourceEvents {
                source: source.as_str(),
                events: events
                    .iter()
                    .map(|e| view(e, company_domain, now))
                    .collect(),
            });
        }
    }
    Ok(sources)
}

fn health(registration: &WebhookRegistration) -> WebhookHealth {
    let notice = match registration.state {
        WebhookState::Active => None,
        WebhookState::Missing => Some(
            "Some of Dealbridge's webhooks had disappeared from Pipedrive and were registered again; \
             changes made meanwhile are picked up by the periodic reconcile.",
        ),
        WebhookState::Banned => Some(
            "Pipedrive reports failed deliveries to Dealbridge's webhooks (a failing webhook is \
             banned for 30 minutes). Changes made meanwhile are picked up by the periodic reconcile.",
        ),
    };
    WebhookHealth {
        state: registration.state.as_str(),
        webhooks: registration.webhook_ids.len(),
        checked_at: registration.checked_at.map(when),
        notice,
    }
}

/// `None` before the post-install job registered the tenant's webhooks.
pub async fn webhook_health(
    state: &AppState,
    tenant: TenantId,
) -> Result<Option<WebhookHealth>, AppError> {
    Ok(state
        .store
        .webhook_registration(tenant)
        .await?
        .as_ref()
        .map(health))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_say_them() {
        let now = Utc::now();
        for (seconds, said) in [
            (5, "just now"),
            (125, "2 min ago"),
            (7_300, "2 h ago"),
            (90_000, "1 day ago"),
            (200_000, "2 days ago"),
        ] {
            assert_eq!(ago(now - chrono::Duration::seconds(seconds), now), said);
        }
    }

    #[test]
    fn records_link_to_the_companys_pipedrive() {
        use dealbridge_core::outcome::{RecordKind, RecordRef};
        let outcome = EventOutcome::records(vec![
            RecordRef {
                kind: RecordKind::Deal,
                id: 42,
            },
            RecordRef {
                kind: RecordKind::Note,
                id: 7,
            },
        ]);
        let links = links(Some(&outcome), "acme");
        assert_eq!(links[0].label, "deal 42");
        assert_eq!(
            links[0].url.as_deref(),
            Some("https://acme.pipedrive.com/deal/42")
        );
        assert_eq!(links[1].label, "note 7");
        assert_eq!(links[1].url, None);
        assert!(super::links(None, "acme").is_empty());
    }

    #[test]
    fn a_pending_event_shows_as_received() {
        assert_eq!(state_label(InboxState::Pending), "received");
        assert_eq!(state_label(InboxState::Stale), "stale");
    }
}

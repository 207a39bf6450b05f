//! The timeline's sources read from the store and told as entries: one function per source, each
//! a bounded read from its cursor. Nothing here shows a secret: audit details are redacted by key
//! on top of the audit log's own rule (it never holds one), and no event payload is read.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, SecondsFormat, Utc};
use dealbridge_core::audit::AuditEntry;
use dealbridge_core::event::EventSource;
use dealbridge_core::tenant::Tenant;
use dealbridge_storage::{
    InboxState, Job, JobState, RefreshOutcome, TimelineCursor, TimelineEvent, TokenRefresh,
    BUDGET_DAYS_KEPT,
};
use serde::Serialize;

use super::timeline::{Cursor, Source};
use crate::{AppError, AppState};

/// An error message is cut here: enough to tell one failure from another.
const MAX_TEXT_CHARS: usize = 300;

/// One row of the timeline as the template draws it.
#[derive(Debug, Serialize)]
pub struct EntryView {
    /// RFC 3339, for the `local_time` filter; `None` for a whole UTC day.
    pub at: Option<String>,
    /// `YYYY-MM-DD` for an entry that sums a UTC day.
    pub day: Option<String>,
    /// The pill's text and its class (`failed`, `warning` or empty).
    pub kind: &'static str,
    pub tone: &'static str,
    pub title: String,
    pub detail: Option<String>,
    /// An audit entry's detail, as JSON.
    pub data: Option<String>,
    pub by: Option<String>,
}

/// An entry with what the merge needs: its source, its time and where its source goes on after it.
#[derive(Debug)]
pub struct Item {
    pub source: Source,
    pub at: DateTime<Utc>,
    pub cursor: Cursor,
    pub view: EntryView,
}

/// Up to `limit` of the source's entries before `cursor`, newest first.
pub async fn read(
    state: &AppState,
    tenant: &Tenant,
    source: Source,
    cursor: Option<Cursor>,
    limit: u32,
) -> Result<Vec<Item>, AppError> {
    let store = &state.store;
    let at = |c: Option<Cursor>| match c {
        Some(Cursor::At(at)) => Some(at),
        _ => None,
    };
    Ok(match source {
        Source::Audit => {
            let before = match cursor {
                Some(Cursor::Id(id)) => Some(id),
                _ => None,
            };
            let read = store.timeline_audit(tenant.id, before, limit).await?;
            read.into_iter().map(audit).collect()
        }
        Source::Tokens => {
            let read = store.token_refreshes(tenant.id, at(cursor), limit).await?;
            read.into_iter().map(refresh).collect()
        }
        Source::Events => {
            let read = store.timeline_events(tenant.id, at(cursor), limit).await?;
            read.into_iter().map(event).collect()
        }
        Source::Jobs => {
            let read = store.timeline_jobs(tenant.id, at(cursor), limit).await?;
            read.into_iter().map(job).collect()
        }
        Source::Runs => {
            let before = match cursor {
                Some(Cursor::Day(day)) => Some(day),
                _ => None,
            };
            super::timeline_runs::read(state, tenant, before, limit).await?
        }
        Source::Pipedrive => {
            let before = match cursor {
                Some(Cursor::Day(day)) => Some(day),
                _ => None,
            };
            refused_days(state, tenant, before, limit).await?
        }
        Source::Refusals => {
            let read = store.refusals(tenant.company_id, at(cursor), limit).await?;
            read.into_iter()
                .map(super::timeline_refusals::entry)
                .collect()
        }
    })
}

pub(super) fn item(source: Source, at: DateTime<Utc>, cursor: Cursor, view: EntryView) -> Item {
    Item {
        source,
        at,
        cursor,
        view,
    }
}

pub(super) fn view(
    at: DateTime<Utc>,
    kind: &'static str,
    tone: &'static str,
    title: String,
) -> EntryView {
    EntryView {
        at: Some(at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        day: None,
        kind,
        tone,
        title,
        detail: None,
        data: None,
        by: None,
    }
}

/// At most [`MAX_TEXT_CHARS`], with an ellipsis when there was more.
pub(super) fn cut(text: &str) -> String {
    let mut chars = text.chars();
    let mut kept: String = chars.by_ref().take(MAX_TEXT_CHARS).collect();
    if chars.next().is_some() {
        kept.push('…');
    }
    kept
}

fn audit(entry: AuditEntry) -> Item {
    let action = entry.action.as_str();
    let (kind, tone) = if entry.actor.starts_with("staff:") {
        ("Staff", "")
    } else if action.starts_with("uninstall") {
        ("Uninstall", "warning")
    } else if action == "install" || action.starts_with("install.") || action == "private.start" {
        ("Install", "")
    } else {
        ("Change", "")
    };
    let mut view = view(entry.created_at, kind, tone, entry.action.clone());
    let detail = redact(entry.detail);
    if detail.as_object().is_none_or(|o| !o.is_empty()) {
        view.data = Some(cut(&detail.to_string()));
    }
    view.by = Some(entry.actor);
    item(Source::Audit, entry.created_at, Cursor::Id(entry.id), view)
}

/// Hides the value of any key that names a credential (`secret`, `token`, `password`, `key`),
/// ids of such things excepted (`secret_id`): a detail written carelessly must not show one.
fn redact(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| {
                let lower = k.to_ascii_lowercase();
                let names_credential = ["secret", "token", "password", "key"]
                    .iter()
                    .any(|word| lower.contains(word))
                    && !lower.ends_with("_id");
                let value = if names_credential && (v.is_string() || v.is_object()) {
                    serde_json::Value::from("[hidden]")
                } else {
                    redact(v)
                };
                (k, value)
            })
            .collect(),
        serde_json::Value::Array(items) => items.into_iter().map(redact).collect(),
        other => other,
    }
}

fn refresh(refresh: TokenRefresh) -> Item {
    let (title, tone) = match refresh.outcome {
        RefreshOutcome::Refreshed => ("Access token refreshed", ""),
        RefreshOutcome::Failed => ("Token refresh failed; a later call tries again", "warning"),
        RefreshOutcome::Refused => (
            "Refresh token refused: the installation needs reauthorisation",
            "failed",
        ),
    };
    let mut view = view(refresh.at, "Token", tone, title.into());
    view.detail = refresh.reason.as_deref().map(cut);
    view.by = Some(format!("Pipedrive user {}", refresh.user_id));
    let cursor = Cursor::At(TimelineCursor {
        at: refresh.at,
        id: refresh.id,
    });
    item(Source::Tokens, refresh.at, cursor, view)
}

fn source_name(source: EventSource) -> &'static str {
    match source {
        EventSource::Pipedrive => "Pipedrive",
        EventSource::EventApi => "the event API",
        EventSource::Shopify => "Shopify",
        EventSource::WooCommerce => "WooCommerce",
        EventSource::Api2Cart => "API2Cart",
    }
}

fn event(event: TimelineEvent) -> Item {
    let tone = match event.state {
        InboxState::Failed => "failed",
        InboxState::Stale | InboxState::Pending => "warning",
        InboxState::Processed => "",
    };
    let title = format!("{} from {}", event.kind, source_name(event.source));
    let mut view = view(event.received_at, "Event", tone, title);
    let mut detail = event.state.as_str().to_string();
    if let Some(entity) = &event.entity_key {
        detail = format!("{entity}: {detail}");
    }
    if let Some(outcome) = &event.outcome {
        if !outcome.records.is_empty() {
            let n = outcome.records.len();
            detail.push_str(&format!(", became {n} Pipedrive record{}", plural(n)));
        }
        if let Some(reason) = &outcome.reason {
            detail.push_str(&format!(" ({})", cut(reason)));
        }
    }
    view.detail = Some(detail);
    let cursor = Cursor::At(TimelineCursor {
        at: event.received_at,
        id: event.id,
    });
    item(Source::Events, event.received_at, cursor, view)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn job(job: Job) -> Item {
    let (title, tone) = match job.state {
        JobState::Dead => (
            format!("Job {} dead after {} attempts", job.kind, job.attempts),
            "failed",
        ),
        _ => (
            format!(
                "Job {} failed (attempt {} of {}); it runs again",
                job.kind, job.attempts, job.max_attempts
            ),
            "warning",
        ),
    };
    let mut view = view(job.updated_at, "Job", tone, title);
    view.detail = job.last_error.as_deref().map(cut);
    view.by = Some(format!("job {}", job.id));
    let cursor = Cursor::At(TimelineCursor {
        at: job.updated_at,
        id: job.id.as_uuid(),
    });
    item(Source::Jobs, job.updated_at, cursor, view)
}

/// The UTC days, before `before`, on which Pipedrive answered 401 or 429 to the company's calls,
/// from the per-day budget records (kept [`BUDGET_DAYS_KEPT`] days, so one read covers them).
/// Each is placed at its day's end ([`day_end`]).
async fn refused_days(
    state: &AppState,
    tenant: &Tenant,
    before: Option<NaiveDate>,
    limit: u32,
) -> Result<Vec<Item>, AppError> {
    let now = Utc::now();
    let to = match before {
        Some(day) => day.pred_opt().unwrap_or(day),
        None => now.date_naive(),
    };
    let from = to - Duration::days(BUDGET_DAYS_KEPT - 1);
    let days = state.store.budget_days(tenant.company_id, from, to).await?;
    Ok(days
        .into_iter()
        .rev()
        .filter(|d| d.rate_limited > 0 || d.unauthorized > 0)
        .take(limit as usize)
        .map(|d| {
            let at = day_end(d.day, now);
            let mut parts = Vec::new();
            let calls = |n: i64| format!("{n} call{}", if n == 1 { "" } else { "s" });
            if d.rate_limited > 0 {
                parts.push(format!("429 (rate limited) to {}", calls(d.rate_limited)));
            }
            if d.unauthorized > 0 {
                parts.push(format!("401 (token refused) to {}", calls(d.unauthorized)));
            }
            let title = format!("Pipedrive answered {}", parts.join(" and "));
            let mut view = view(at, "Pipedrive", "warning", title);
            view.at = None;
            view.day = Some(d.day.format("%Y-%m-%d").to_string());
            view.detail = Some(format!(
                "the UTC day's total, of {} calls ({} tokens)",
                d.calls, d.tokens_spent
            ));
            item(Source::Pipedrive, at, Cursor::Day(d.day), view)
        })
        .collect())
}

/// Where an entry summing a UTC day goes: at the day's last second (now, for today), above that
/// day's other entries.
pub(super) fn day_end(day: NaiveDate, now: DateTime<Utc>) -> DateTime<Utc> {
    let end = day
        .succ_opt()
        .map(|next| next.and_time(NaiveTime::MIN).and_utc() - Duration::seconds(1));
    end.map_or(now, |end| end.min(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_detail_are_hidden_and_their_ids_kept() {
        let detail = serde_json::json!({
            "secret": "whsec_abc", "secret_id": "s-1", "store_key": "k",
            "nested": {"access_token": "t"}, "reason": "ticket 42", "refreshed": 1
        });
        let shown = redact(detail).to_string();
        for hidden in ["whsec_abc", "\"k\"", "\"t\""] {
            assert!(!shown.contains(hidden), "{hidden} in {shown}");
        }
        assert!(shown.contains("s-1"), "{shown}");
        assert!(shown.contains("ticket 42"), "{shown}");
        assert!(shown.contains("\"refreshed\":1"), "{shown}");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(cut("short"), "short");
        let long = "é".repeat(MAX_TEXT_CHARS + 5);
        let kept = cut(&long);
        assert_eq!(kept.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(kept.ends_with('…'));
    }
}

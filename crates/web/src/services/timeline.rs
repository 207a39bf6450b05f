//! The support console's timeline of one tenant: what happened to it, newest first, merged from
//! what the store records (`TenantTimeline`, the jobs run per day, the per-day budget records for
//! Pipedrive's 401s and 429s, and each such call, up to a bound a day). Each source is read on its own index from its own cursor, so a page costs the same
//! however far back it is; the "Older" link carries every source's cursor, which is what lets
//! the merge go on without repeating or skipping an entry.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use dealbridge_core::tenant::Tenant;
use dealbridge_storage::TimelineCursor;
use serde::{Deserialize, Serialize};

use super::timeline_entries::{self as entries, EntryView, Item};
use crate::{AppError, AppState};

/// Entries a page shows; each source reads at most this many.
pub const PAGE: u32 = 30;

/// Where the timeline's entries come from, each with its own cursor in the query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Audit,
    Tokens,
    Events,
    Jobs,
    Runs,
    Pipedrive,
    Refusals,
}

impl Source {
    pub const ALL: [Self; 7] = [
        Self::Audit,
        Self::Tokens,
        Self::Events,
        Self::Jobs,
        Self::Runs,
        Self::Pipedrive,
        Self::Refusals,
    ];

    /// Its `?kind=` value and the name of its cursor parameter.
    pub fn key(self) -> &'static str {
        match self {
            Self::Audit => "audit",
            Self::Tokens => "tokens",
            Self::Events => "events",
            Self::Jobs => "jobs",
            Self::Runs => "runs",
            Self::Pipedrive => "pipedrive",
            Self::Refusals => "refusals",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Audit => "Installs, changes and staff actions",
            Self::Tokens => "Token refreshes",
            Self::Events => "Events received",
            Self::Jobs => "Failed jobs",
            Self::Runs => "Jobs run per day",
            Self::Pipedrive => "Pipedrive 401s and 429s per day",
            Self::Refusals => "Each refused call",
        }
    }
}

/// Where one source's previous page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// An audit entry's id.
    Id(i64),
    /// A time and an id (refreshes, events, jobs, refused calls).
    At(TimelineCursor),
    /// A UTC day (the per-day counts: jobs run, Pipedrive's refusals).
    Day(NaiveDate),
}

impl Cursor {
    fn to_param(self) -> String {
        match self {
            Self::Id(id) => id.to_string(),
            Self::At(c) => format!(
                "{}_{}",
                c.at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                c.id
            ),
            Self::Day(day) => day.format("%Y-%m-%d").to_string(),
        }
    }

    /// A cursor as this module wrote it; anything else is refused rather than read as "from the
    /// newest", which would show a page that looks like the one asked for but is not.
    fn parse(source: Source, text: &str) -> Result<Self, AppError> {
        let bad = || {
            AppError::BadRequest(format!(
                "the timeline's {} position {text:?} is not one this page wrote; start from the newest",
                source.key()
            ))
        };
        match source {
            Source::Audit => text.parse().map(Self::Id).map_err(|_| bad()),
            Source::Runs | Source::Pipedrive => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Self::Day)
                .map_err(|_| bad()),
            _ => {
                let (at, id) = text.split_once('_').ok_or_else(bad)?;
                let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?;
                let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
                Ok(Self::At(TimelineCursor {
                    at: at.with_timezone(&Utc),
                    id,
                }))
            }
        }
    }
}

/// The query string of the tenant page: a kind filter and the sources' cursors.
#[derive(Debug, Default, Deserialize)]
pub struct TimelineQuery {
    pub kind: Option<String>,
    pub audit: Option<String>,
    pub tokens: Option<String>,
    pub events: Option<String>,
    pub jobs: Option<String>,
    pub runs: Option<String>,
    pub pipedrive: Option<String>,
    pub refusals: Option<String>,
}

impl TimelineQuery {
    fn raw_cursor(&self, source: Source) -> Option<&str> {
        let raw = match source {
            Source::Audit => &self.audit,
            Source::Tokens => &self.tokens,
            Source::Events => &self.events,
            Source::Jobs => &self.jobs,
            Source::Runs => &self.runs,
            Source::Pipedrive => &self.pipedrive,
            Source::Refusals => &self.refusals,
        };
        raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// The one source asked for, or `None` for all. An unknown kind is refused: silently showing
    /// everything would read as "this is all of that kind".
    fn only(&self) -> Result<Option<Source>, AppError> {
        match self.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            None => Ok(None),
            Some(kind) => Source::ALL
                .into_iter()
                .find(|s| s.key() == kind)
                .map(Some)
                .ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "unknown timeline kind {kind:?}: use audit, tokens, events, jobs, runs, pipedrive or refusals"
                    ))
                }),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct FilterView {
    value: &'static str,
    label: &'static str,
    current: bool,
}

#[derive(Debug, Serialize)]
pub struct TimelineView {
    pub entries: Vec<EntryView>,
    pub filters: Vec<FilterView>,
    /// The `?kind=` shown, empty for all.
    pub kind: &'static str,
    /// The query string of the next page, when there may be one.
    pub older: Option<String>,
    /// Whether this is a later page (the template offers the newest again).
    pub paged: bool,
}

/// One page of the tenant's timeline as `query` asks for it.
pub async fn page(
    state: &AppState,
    tenant: &Tenant,
    query: &TimelineQuery,
) -> Result<TimelineView, AppError> {
    let only = query.only()?;
    let sources: Vec<Source> = Source::ALL
        .into_iter()
        .filter(|s| only.is_none_or(|o| o == *s))
        .collect();
    let mut cursors = Vec::new();
    for source in &sources {
        let cursor = query
            .raw_cursor(*source)
            .map(|raw| Cursor::parse(*source, raw))
            .transpose()?;
        cursors.push((*source, cursor));
    }
    let mut items: Vec<Item> = Vec::new();
    let mut full = false;
    for (source, cursor) in &cursors {
        let read = entries::read(state, tenant, *source, *cursor, PAGE).await?;
        full |= read.len() >= PAGE as usize;
        items.extend(read);
    }
    // Newest first; a stable sort keeps each source's own order among equal times.
    items.sort_by_key(|item| std::cmp::Reverse(item.at));
    let more = full || items.len() > PAGE as usize;
    items.truncate(PAGE as usize);
    // Each source goes on after the last of its entries shown, or from where it was.
    for item in &items {
        if let Some(slot) = cursors.iter_mut().find(|(s, _)| *s == item.source) {
            slot.1 = Some(item.cursor);
        }
    }
    let paged = sources.iter().any(|s| query.raw_cursor(*s).is_some());
    Ok(TimelineView {
        entries: items.into_iter().map(|i| i.view).collect(),
        filters: Source::ALL
            .into_iter()
            .map(|s| FilterView {
                value: s.key(),
                label: s.label(),
                current: only == Some(s),
            })
            .collect(),
        kind: only.map_or("", Source::key),
        older: more.then(|| older_query(only, &cursors)),
        paged,
    })
}

fn older_query(only: Option<Source>, cursors: &[(Source, Option<Cursor>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(source) = only {
        query.append_pair("kind", source.key());
    }
    for (source, cursor) in cursors {
        if let Some(cursor) = cursor {
            query.append_pair(source.key(), &cursor.to_param());
        }
    }
    query.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_what_they_wrote() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let cursors = [
            (Source::Audit, Cursor::Id(42)),
            (
                Source::Events,
                Cursor::At(TimelineCursor {
                    at,
                    id: uuid::Uuid::now_v7(),
                }),
            ),
            (
                Source::Pipedrive,
                Cursor::Day(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()),
            ),
        ];
        for (source, cursor) in cursors {
            assert_eq!(Cursor::parse(source, &cursor.to_param()).unwrap(), cursor);
        }
    }

    #[test]
    fn foreign_cursors_and_kinds_are_refused() {
        assert!(Cursor::parse(Source::Events, "2026-12-01").is_err());
        assert!(Cursor::parse(Source::Audit, "x").is_err());
        let query = TimelineQuery {
            kind: Some("everything".into()),
            ..TimelineQuery::default()
        };
        assert!(query.only().is_err());
    }

    #[test]
    fn the_older_link_keeps_the_filter_and_every_cursor() {
        let cursors = [
            (Source::Audit, Some(Cursor::Id(7))),
            (Source::Tokens, None),
            (
                Source::Pipedrive,
                Some(Cursor::Day(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap())),
            ),
        ];
        assert_eq!(
            older_query(Some(Source::Audit), &cursors),
            "kind=audit&audit=7&pipedrive=2026-11-30"
        );
    }
}

//! `usage.reported`: one Note per day per matching record (the deal whose Order ID is the
//! account id, else the person with that email, else the organization with that domain or
//! name), updated as the day's reports arrive instead of a note per event. Each metric and period
//! shows its latest reported quantity, so a report applied twice changes nothing.
//!
//! The day's note is journalled under a key the day's events share, with its id and lines as
//! the result; a report rewrites the note with its line merged in (a PUT of the whole content),
//! then journals the new lines.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dealbridge_core::event::PipedriveEntity;
use dealbridge_core::outcome::RecordKind;
use dealbridge_events::event_api::payloads::UsageReport;
use dealbridge_storage::MirrorLookup;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::context::{html, Flow};
use super::error::{FlowError, FlowResult};
use super::journal::Begin;
use super::notes::{find_note, NoteOn};

/// The journal of a record's usage note for one day is keyed `usage:{kind}:{id}:{day}`; once the
/// day is long past, the retention job deletes it by this prefix.
pub(crate) const USAGE_JOURNAL_PREFIX: &str = "usage:";

/// One line of the day's note: a metric over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Line {
    quantity: f64,
    /// When the report was made; a later report of the same metric and period wins.
    at: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct DayNote {
    id: Option<u64>,
    /// `metric|period` → the latest line.
    lines: BTreeMap<String, Line>,
}

pub(crate) async fn run(flow: &mut Flow<'_>) -> FlowResult<()> {
    let report: UsageReport = flow.payload()?;
    let on = matching_record(flow, &report.account_id).await?;
    let day = flow.event.occurred_at.format("%Y-%m-%d").to_string();
    let (kind, id) = match on {
        NoteOn::Deal(id) => (RecordKind::Deal, id),
        NoteOn::Person(id) => (RecordKind::Person, id),
        NoteOn::Organization(id) => (RecordKind::Organization, id),
    };
    flow.became(kind, id);
    let key = format!("{USAGE_JOURNAL_PREFIX}{}:{id}:{day}", kind.as_str());
    let journal = flow.shared_journal(key.clone());
    let client = flow.client.clone();

    let mut note = match journal.begin("note").await? {
        Begin::Done(result) => serde_json::from_value(result)
            .map_err(|_| FlowError::Refused("the journal of the day's usage note does not read"))?,
        // An earlier run may have created the note before it stopped: its lines were never
        // journalled, so it is rewritten with this report's.
        Begin::Resume => DayNote {
            id: find_note(&client, on, &key).await?,
            lines: BTreeMap::new(),
        },
        Begin::Fresh => DayNote::default(),
    };
    let line_key = format!("{}|{}", report.metric, period(&report));
    let line = Line {
        quantity: report.quantity,
        at: flow.event.occurred_at,
    };
    // A report seen before (a retry) changes nothing, and neither does an older one.
    let newer = note
        .lines
        .get(&line_key)
        .is_none_or(|held| held.at < line.at || (held.at == line.at && *held != line));
    if newer {
        note.lines.insert(line_key, line);
    }
    let content = on.note(&render(&day, &note.lines), &key);
    let note_id = match note.id {
        Some(id) if !newer => id,
        Some(id) => client.notes().update(id, &content).await?.id,
        None => client.notes().create(&content).await?.id,
    };
    note.id = Some(note_id);
    journal
        .finish("note", &json!({ "id": note_id, "lines": note.lines }))
        .await?;
    flow.became(RecordKind::Note, note_id);
    Ok(())
}

/// The record the account id names, mirror first.
async fn matching_record(flow: &Flow<'_>, account: &str) -> FlowResult<NoteOn> {
    let account = account.trim();
    if let Some(id) = flow.mirrored(MirrorLookup::DealOrderId(account)).await? {
        return Ok(NoteOn::Deal(id));
    }
    if account.contains('@') {
        if let Some(id) = flow.mirrored(MirrorLookup::PersonEmail(account)).await? {
            return Ok(NoteOn::Person(id));
        }
        // A person the mirror misses can still be in Pipedrive unless the mirror is complete.
        if !flow.mirror_complete(PipedriveEntity::Person).await? {
            let hits = flow.client.persons().find_by_email(account).await?;
            if let Some(hit) = hits.first() {
                return Ok(NoteOn::Person(hit.item.id));
            }
        }
    }
    for lookup in [
        MirrorLookup::OrganizationDomain(account),
        MirrorLookup::Name(PipedriveEntity::Organization, account),
    ] {
        if let Some(id) = flow.mirrored(lookup).await? {
            return Ok(NoteOn::Organization(id));
        }
    }
    Err(FlowError::Refused(
        "no deal, person or organization matches the account",
    ))
}

fn period(report: &UsageReport) -> String {
    let day = |t: Option<DateTime<Utc>>| t.map(|t| t.format("%Y-%m-%d").to_string());
    match (day(report.period_start), day(report.period_end)) {
        (Some(start), Some(end)) => format!("{start} – {end}"),
        (Some(start), None) => format!("from {start}"),
        (None, Some(end)) => format!("until {end}"),
        (None, None) => String::new(),
    }
}

fn render(day: &str, lines: &BTreeMap<String, Line>) -> String {
    let mut out = format!("<b>Usage reported on {day}</b><ul>");
    for (key, line) in lines {
        let (metric, period) = key.split_once('|').unwrap_or((key, ""));
        let period = if period.is_empty() {
            String::new()
        } else {
            format!(" ({})", html(period))
        };
        out.push_str(&format!(
            "<li>{}: {}{period}</li>",
            html(metric),
            line.quantity
        ));
    }
    out.push_str("</ul>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_lists_each_metric_and_period() {
        let at = DateTime::from_timestamp(0, 0).unwrap();
        let lines = BTreeMap::from([
            (
                "api_calls|2026-05-01 – 2026-06-01".to_owned(),
                Line {
                    quantity: 1200.0,
                    at,
                },
            ),
            ("seats|".to_owned(), Line { quantity: 3.0, at }),
        ]);
        assert_eq!(
            render("2026-05-31", &lines),
            "<b>Usage reported on 2026-05-31</b><ul><li>api_calls: 1200 (2026-05-01 – 2026-06-01)</li><li>seats: 3</li></ul>"
        );
    }
}

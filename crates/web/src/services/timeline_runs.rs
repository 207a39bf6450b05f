//! The timeline's jobs run: one entry per UTC day on which the tenant's jobs ran or failed, from
//! the per-day counts the queue keeps (`JobDays`; finished jobs themselves are deleted), with each
//! kind's figures.

use chrono::{NaiveDate, Utc};
use dealbridge_core::tenant::Tenant;
use dealbridge_storage::JobDay;

use super::timeline::{Cursor, Source};
use super::timeline_entries::{cut, day_end, item, view, Item};
use crate::{AppError, AppState};

/// Up to `limit` of the tenant's days with jobs, before `before`, newest first.
pub async fn read(
    state: &AppState,
    tenant: &Tenant,
    before: Option<NaiveDate>,
    limit: u32,
) -> Result<Vec<Item>, AppError> {
    let rows = state.store.job_days(tenant.id, before, limit).await?;
    // The rows come newest day first, a row per kind: one entry per day.
    let mut days: Vec<(NaiveDate, Vec<JobDay>)> = Vec::new();
    for row in rows {
        match days.last_mut() {
            Some((day, kinds)) if *day == row.day => kinds.push(row),
            _ => days.push((row.day, vec![row])),
        }
    }
    Ok(days
        .into_iter()
        .map(|(day, kinds)| entry(day, &kinds))
        .collect())
}

fn entry(day: NaiveDate, kinds: &[JobDay]) -> Item {
    let at = day_end(day, Utc::now());
    let done: i64 = kinds.iter().map(|k| k.done).sum();
    let failed: i64 = kinds.iter().map(|k| k.failed).sum();
    let day_text = day.format("%Y-%m-%d").to_string();
    let title = format!(
        "Jobs on {day_text}: {} ran well, {}",
        thousands(done),
        attempts(failed)
    );
    let tone = if failed > 0 { "warning" } else { "" };
    let mut view = view(at, "Jobs", tone, title);
    view.at = None;
    view.day = Some(day_text);
    let by_kind: Vec<String> = kinds
        .iter()
        .map(|k| {
            format!(
                "{}: {} ran well, {}",
                k.kind,
                thousands(k.done),
                attempts(k.failed)
            )
        })
        .collect();
    view.detail = Some(cut(&by_kind.join("; ")));
    item(Source::Runs, at, Cursor::Day(day), view)
}

fn attempts(n: i64) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} failed attempt{s}", thousands(n))
}

/// Counts never go below zero; one that did (a corrupt row) reads as 0 rather than wraps.
fn thousands(n: i64) -> String {
    super::console::thousands(u64::try_from(n).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_read_in_words_and_a_corrupt_count_as_zero() {
        assert_eq!(attempts(1), "1 failed attempt");
        assert_eq!(attempts(1_234), "1,234 failed attempts");
        assert_eq!(thousands(-5), "0");
    }

    #[test]
    fn a_day_is_one_entry_with_each_kind() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let row = |kind: &str, done, failed| JobDay {
            day,
            kind: kind.into(),
            done,
            failed,
        };
        let item = entry(
            day,
            &[row("event.signup", 1_200, 2), row("import.chunk", 34, 1)],
        );
        assert_eq!(
            item.view.title,
            "Jobs on 2026-12-02: 1,234 ran well, 3 failed attempts"
        );
        assert_eq!(
            item.view.detail.as_deref(),
            Some("event.signup: 1,200 ran well, 2 failed attempts; import.chunk: 34 ran well, 1 failed attempt")
        );
        assert_eq!(item.view.tone, "warning");
        assert_eq!(item.cursor, Cursor::Day(day));
    }
}

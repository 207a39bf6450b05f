//! The dashboard's 7-day events chart: events received per UTC day with the failed runs of each
//! day drawn over them, from the store's per-day counts (seven rows, never a count of the inbox).

use chrono::{NaiveDate, Utc};
use dealbridge_core::TenantId;
use dealbridge_storage::EventDay;
use serde::Serialize;

use super::budget_chart::{bar_height, bar_x, week_ending, BAR, BASELINE, CHART_DAYS, CHART_WIDTH};
use crate::{AppError, AppState};

#[derive(Debug, Serialize, PartialEq)]
pub struct EventBar {
    /// `Mon 30`, under the bar.
    pub label: String,
    /// `2026-11-30`, for the text alternative.
    pub date: String,
    pub received: i64,
    pub failed: i64,
    pub x: u32,
    pub middle: u32,
    pub y: u32,
    pub height: u32,
    /// The failed part, drawn from the baseline up.
    pub failed_y: u32,
    pub failed_height: u32,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct EventChart {
    pub bars: Vec<EventBar>,
    pub received: i64,
    pub failed: i64,
    /// The chart in one sentence, for its `<desc>`.
    pub summary: String,
    pub width: u32,
    pub baseline: u32,
}

/// Lays out `days` (any order, gaps allowed) as the week ending `today`, scaled to its busiest
/// day (failures can outnumber receipts on a day when older events are run again).
pub fn layout(days: &[EventDay], today: NaiveDate) -> EventChart {
    let week: Vec<(NaiveDate, EventDay)> = week_ending(today)
        .map(|day| {
            let found = days.iter().find(|d| d.day == day).copied();
            let empty = EventDay {
                day,
                received: 0,
                failed: 0,
            };
            (day, found.unwrap_or(empty))
        })
        .collect();
    let scale = week
        .iter()
        .map(|(_, d)| d.received.max(d.failed))
        .max()
        .unwrap_or(0);
    let bars: Vec<EventBar> = week
        .iter()
        .enumerate()
        .map(|(i, (day, counts))| {
            let (height, failed_height) = (
                bar_height(counts.received, scale),
                bar_height(counts.failed, scale),
            );
            let x = bar_x(i);
            EventBar {
                label: day.format("%a %d").to_string(),
                date: day.format("%Y-%m-%d").to_string(),
                received: counts.received,
                failed: counts.failed,
                x,
                middle: x + BAR / 2,
                y: BASELINE - height,
                height,
                failed_y: BASELINE - failed_height,
                failed_height,
            }
        })
        .collect();
    let received = bars.iter().map(|b| b.received).sum();
    let failed = bars.iter().map(|b| b.failed).sum();
    let summary = format!(
        "Events received per UTC day over the last {CHART_DAYS} days: {received} in all, \
         {failed} failed runs; today {} received, {} failed.",
        bars.last().map_or(0, |b| b.received),
        bars.last().map_or(0, |b| b.failed)
    );
    EventChart {
        bars,
        received,
        failed,
        summary,
        width: CHART_WIDTH,
        baseline: BASELINE,
    }
}

/// The tenant's chart as of now.
pub async fn week(state: &AppState, tenant: TenantId) -> Result<EventChart, AppError> {
    let today = Utc::now().date_naive();
    let from = today - chrono::Duration::days(CHART_DAYS - 1);
    let days = state.store.event_days(tenant, from, today).await?;
    Ok(layout(&days, today))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn failures_are_drawn_over_the_days_they_happened() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap_or_default();
        let days = [
            EventDay {
                day: today,
                received: 40,
                failed: 10,
            },
            EventDay {
                day: today - Duration::days(2),
                received: 80,
                failed: 0,
            },
        ];
        let chart = layout(&days, today);
        assert_eq!(chart.bars.len(), 7);
        assert_eq!(chart.bars[6].date, "2026-12-02");
        assert_eq!((chart.received, chart.failed), (120, 10));
        let (busiest, today_bar) = (&chart.bars[4], &chart.bars[6]);
        assert_eq!(busiest.height, bar_height(80, 80), "the busiest day fills");
        assert_eq!(today_bar.height, busiest.height / 2);
        assert_eq!(today_bar.failed_height, busiest.height / 8);
        assert_eq!(chart.bars[0].height, 0, "a day without events");
        assert!(
            chart.summary.contains("10 failed runs"),
            "{}",
            chart.summary
        );
    }
}

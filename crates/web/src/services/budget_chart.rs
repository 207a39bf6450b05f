//! The dashboard's 7-day budget chart: tokens charged per UTC day, from the store's per-day
//! records, laid out here so the template only draws rectangles (server-rendered SVG, no script).

use chrono::{Duration, NaiveDate, Utc};
use dealbridge_core::CompanyId;
use dealbridge_storage::BudgetDay;
use serde::Serialize;

use crate::{AppError, AppState};

/// Days shown, today included.
pub const CHART_DAYS: i64 = 7;

/// The drawing area, in SVG user units (the SVG scales to its container).
const WIDTH: u32 = 700;
const PLOT_TOP: u32 = 20;
const PLOT_BOTTOM: u32 = 150;
const SLOT: u32 = WIDTH / CHART_DAYS as u32;
/// A bar's width.
pub(crate) const BAR: u32 = 60;

#[derive(Debug, Serialize, PartialEq)]
pub struct DayBar {
    /// `Mon 30`, under the bar.
    pub label: String,
    /// `2026-11-30`, for the text alternative.
    pub date: String,
    pub tokens: i64,
    pub calls: i64,
    pub rate_limited: i64,
    /// Calls Pipedrive answered 401 (the token refused).
    pub unauthorized: i64,
    pub x: u32,
    /// The middle of the bar, for its labels.
    pub middle: u32,
    pub y: u32,
    pub height: u32,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct BudgetChart {
    pub bars: Vec<DayBar>,
    pub total: i64,
    /// The largest day, which the bars are scaled to.
    pub peak: i64,
    /// Where the configured daily limit falls, when it fits the scale of the week.
    pub limit_y: Option<u32>,
    pub daily_limit: Option<u64>,
    /// The chart in one sentence, for its `<desc>`.
    pub summary: String,
    pub width: u32,
    pub baseline: u32,
}

/// The `CHART_DAYS` days ending `today`, oldest first.
pub(crate) fn week_ending(today: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    (0..CHART_DAYS)
        .rev()
        .map(move |back| today - Duration::days(back))
}

/// Where the `i`-th day's bar starts.
pub(crate) fn bar_x(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(0) * SLOT + (SLOT - BAR) / 2
}

/// How tall a bar of `value` is on a scale whose top is `scale` (at least 1).
pub(crate) fn bar_height(value: i64, scale: i64) -> u32 {
    let (span, scale) = (i64::from(PLOT_BOTTOM - PLOT_TOP), scale.max(1));
    u32::try_from(value.clamp(0, scale) * span / scale).unwrap_or(0)
}

/// The line bars stand on.
pub(crate) const BASELINE: u32 = PLOT_BOTTOM;
pub(crate) const CHART_WIDTH: u32 = WIDTH;

/// Lays out `days` (any order, gaps allowed) as the week ending `today`.
pub fn layout(days: &[BudgetDay], today: NaiveDate, daily_limit: Option<u64>) -> BudgetChart {
    let week: Vec<(NaiveDate, Option<&BudgetDay>)> = week_ending(today)
        .map(|day| (day, days.iter().find(|d| d.day == day)))
        .collect();
    let peak = week
        .iter()
        .filter_map(|(_, d)| d.map(|d| d.tokens_spent))
        .max()
        .unwrap_or(0);
    let limit = daily_limit.and_then(|l| i64::try_from(l).ok());
    // The limit is drawn only when it is within the week's scale: next to a limit a thousand
    // times larger every bar would be invisible, and the numbers say it better.
    let scale = match limit {
        Some(l) if l > 0 && l <= peak.saturating_mul(2) => l.max(peak),
        _ => peak,
    }
    .max(1);
    let height_of = |tokens: i64| bar_height(tokens, scale);
    let bars: Vec<DayBar> = week
        .iter()
        .enumerate()
        .map(|(i, (day, record))| {
            let tokens = record.map_or(0, |d| d.tokens_spent);
            let height = height_of(tokens);
            let x = bar_x(i);
            DayBar {
                label: day.format("%a %d").to_string(),
                date: day.format("%Y-%m-%d").to_string(),
                tokens,
                calls: record.map_or(0, |d| d.calls),
                rate_limited: record.map_or(0, |d| d.rate_limited),
                unauthorized: record.map_or(0, |d| d.unauthorized),
                x,
                middle: x + BAR / 2,
                y: PLOT_BOTTOM - height,
                height,
            }
        })
        .collect();
    let total = bars.iter().map(|b| b.tokens).sum();
    let limit_y = limit
        .filter(|l| *l > 0 && *l <= scale)
        .map(|l| PLOT_BOTTOM - height_of(l));
    let summary = format!(
        "Tokens charged per UTC day over the last {CHART_DAYS} days: {total} in all, \
         at most {peak} in a day; today {}.",
        bars.last().map_or(0, |b| b.tokens)
    );
    BudgetChart {
        bars,
        total,
        peak,
        limit_y,
        daily_limit,
        summary,
        width: WIDTH,
        baseline: PLOT_BOTTOM,
    }
}

/// The company's chart as of now.
pub async fn week(
    state: &AppState,
    company: CompanyId,
    daily_limit: Option<u64>,
) -> Result<BudgetChart, AppError> {
    let today = Utc::now().date_naive();
    let from = today - Duration::days(CHART_DAYS - 1);
    let days = state.store.budget_days(company, from, today).await?;
    Ok(layout(&days, today, daily_limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: NaiveDate, tokens: i64) -> BudgetDay {
        BudgetDay {
            day: d,
            calls: 1,
            tokens_spent: tokens,
            rate_limited: 0,
            unauthorized: 0,
        }
    }

    #[test]
    fn a_week_ends_today_with_missing_days_at_zero() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
        let days = [day(today, 40), day(today - Duration::days(3), 80)];
        let chart = layout(&days, today, None);
        assert_eq!(chart.bars.len(), 7);
        assert_eq!(chart.bars[0].date, "2026-11-25");
        assert_eq!(chart.bars[6].date, "2026-12-01");
        assert_eq!(chart.bars[6].tokens, 40);
        assert_eq!(chart.bars[3].tokens, 80);
        assert_eq!(
            chart.bars[3].height,
            PLOT_BOTTOM - PLOT_TOP,
            "the peak fills"
        );
        assert_eq!(chart.bars[6].height, (PLOT_BOTTOM - PLOT_TOP) / 2);
        assert_eq!(chart.bars[0].height, 0);
        assert_eq!(chart.total, 120);
        assert!(chart.summary.contains("120 in all"), "{}", chart.summary);
        assert_eq!(chart.limit_y, None);
    }

    #[test]
    fn a_near_limit_is_drawn_and_a_far_one_is_not() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
        let days = [day(today, 50)];
        let near = layout(&days, today, Some(100));
        assert_eq!(near.limit_y, Some(PLOT_TOP), "the limit tops the scale");
        assert_eq!(near.bars[6].height, (PLOT_BOTTOM - PLOT_TOP) / 2);
        let far = layout(&days, today, Some(80_000));
        assert_eq!(far.limit_y, None);
        assert_eq!(far.bars[6].height, PLOT_BOTTOM - PLOT_TOP);
    }
}

//! What an import will cost and when it will finish, before it runs: the `x-token-cost` of each
//! call a row needs (from the client's cost table), the bulk lane's share of the burst and search
//! windows, and the company's daily budget above the priority reserve.

use chrono::{DateTime, Duration, Utc};
use dealbridge_pipedrive::costs::cost_of;
use dealbridge_pipedrive::ledger::LedgerConfig;
use dealbridge_pipedrive::BudgetStatus;
use dealbridge_storage::{DuplicatePolicy, ImportKind};
use serde::Serialize;

use crate::mapping::Mapping;

/// The calls one row needs at most, and what they cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RowCost {
    pub tokens: u64,
    pub calls: u64,
    /// Of `calls`, how many are searches (they also count against the search window).
    pub searches: u64,
}

impl RowCost {
    fn add(&mut self, method: &str, path: &str) {
        self.tokens += u64::from(cost_of(method, path).unwrap_or(0));
        self.calls += 1;
        if path.ends_with("/search") {
            self.searches += 1;
        }
    }
}

/// The plural path segment of `kind`'s v2 endpoints.
fn collection(kind: ImportKind) -> &'static str {
    match kind {
        ImportKind::Persons => "persons",
        ImportKind::Organizations => "organizations",
        ImportKind::Deals => "deals",
    }
}

/// The most one row can cost: the duplicate check (not under `create`), the write, and the
/// look-ups of linked records (an organization by name, which is created when missing; a
/// deal's person by email).
pub fn row_cost(kind: ImportKind, policy: DuplicatePolicy, mapping: &Mapping) -> RowCost {
    likely_row_cost(kind, policy, mapping, MirrorAnswers::default())
}

/// The kinds whose every record the tenant's local mirror is known to hold (see
/// `dealbridge_workflows::mirror_complete`): a lookup of their keys is answered there, with no
/// search.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MirrorAnswers {
    /// Persons, by email or name.
    pub persons: bool,
    /// Organizations, by name.
    pub organizations: bool,
    /// Deals, by title.
    pub deals: bool,
}

/// What one row likely costs when the mirror answers its lookups: [`row_cost`] without the
/// searches of the kinds the mirror is known complete for. A row's lookups can still be searched
/// (a name with letters beyond ASCII, a row run again), so this is no bound.
pub fn likely_row_cost(
    kind: ImportKind,
    policy: DuplicatePolicy,
    mapping: &Mapping,
    mirror: MirrorAnswers,
) -> RowCost {
    let mut cost = RowCost {
        tokens: 0,
        calls: 0,
        searches: 0,
    };
    let maps = |field: &str| mapping.0.values().any(|f| f == field);
    let name = collection(kind);
    let key_in_mirror = match kind {
        ImportKind::Persons => mirror.persons,
        ImportKind::Organizations => mirror.organizations,
        ImportKind::Deals => mirror.deals,
    };
    if policy != DuplicatePolicy::Create && !key_in_mirror {
        cost.add("GET", &format!("/api/v2/{name}/search"));
    }
    // A create and an update cost the same; one of them runs.
    cost.add("POST", &format!("/api/v2/{name}"));
    if kind != ImportKind::Organizations && maps("org_name") {
        if !mirror.organizations {
            cost.add("GET", "/api/v2/organizations/search");
        }
        cost.add("POST", "/api/v2/organizations");
    }
    if kind == ImportKind::Deals && maps("person_email") && !mirror.persons {
        cost.add("GET", "/api/v2/persons/search");
    }
    cost
}

/// What the estimate needs of the company's budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Pace {
    pub status: BudgetStatus,
    /// Calls and searches per second the bulk lane may send.
    pub calls_per_sec: f64,
    pub searches_per_sec: f64,
}

impl Pace {
    /// The bulk lane's share of the burst and search windows, as the ledger grants them (the
    /// burst limit Pipedrive assumes until it reports one: the lowest plan's).
    pub fn new(status: BudgetStatus, config: &LedgerConfig) -> Self {
        let window = config.window.as_secs_f64().max(0.001);
        let share = config.bulk_window_share.clamp(0.0, 1.0);
        Self {
            status,
            calls_per_sec: f64::from(config.default_burst_limit) * share / window,
            searches_per_sec: f64::from(config.search_limit) * share / window,
        }
    }
}

/// When the daily budget runs out before the end: where the import pauses and when it resumes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetPause {
    pub pauses_at: DateTime<Utc>,
    pub resumes_at: DateTime<Utc>,
    /// Rows done before the first pause.
    pub rows_before: u64,
    /// Daily resets the import waits for.
    pub resets: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub rows: u64,
    pub row_cost: RowCost,
    pub tokens: u64,
    /// Seconds the burst and search windows alone need.
    pub pace_secs: f64,
    pub finishes_at: DateTime<Utc>,
    pub pause: Option<BudgetPause>,
    /// The company's daily limit is unknown (learned after the first daily 429): the finish time
    /// counts only the windows.
    pub limit_unknown: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EstimateError {
    #[error(
        "one row costs {row} tokens but the bulk lane gets only {per_day} tokens a day: the import cannot run"
    )]
    RowOverDailyBudget { row: u64, per_day: u64 },
}

fn seconds(secs: f64) -> Duration {
    Duration::milliseconds((secs * 1000.0).ceil() as i64)
}

/// The estimate for `rows` rows of `cost` each, starting at `now`.
pub fn estimate(
    rows: u64,
    cost: RowCost,
    pace: &Pace,
    now: DateTime<Utc>,
) -> Result<Estimate, EstimateError> {
    let per_row_secs = (cost.calls as f64 / pace.calls_per_sec)
        .max(cost.searches as f64 / pace.searches_per_sec.max(f64::MIN_POSITIVE));
    let pace_secs = per_row_secs * rows as f64;
    let mut result = Estimate {
        rows,
        row_cost: cost,
        tokens: cost.tokens * rows,
        pace_secs,
        finishes_at: now + seconds(pace_secs),
        pause: None,
        limit_unknown: pace.status.daily_limit.is_none(),
    };
    let Some(limit) = pace.status.daily_limit else {
        return Ok(result);
    };
    let per_day = limit.saturating_sub(pace.status.priority_reserve);
    let rows_per_day = per_day.checked_div(cost.tokens).unwrap_or(u64::MAX);
    if rows_per_day == 0 {
        return Err(EstimateError::RowOverDailyBudget {
            row: cost.tokens,
            per_day,
        });
    }
    let today = per_day.saturating_sub(pace.status.spent);
    let rows_today = today.checked_div(cost.tokens).unwrap_or(u64::MAX);
    let pauses_at = now + seconds(per_row_secs * rows_today.min(rows) as f64);
    let reset = pace.status.resets_at;
    // Enough budget today, or the reset comes before it runs out: no pause.
    if rows_today >= rows || pauses_at >= reset {
        return Ok(result);
    }
    let remaining = rows - rows_today;
    let (full_days, last) = (remaining / rows_per_day, remaining % rows_per_day);
    let (resets, last_rows) = match last {
        0 => (full_days, rows_per_day),
        _ => (full_days + 1, last),
    };
    let last_start = reset + Duration::days(i64::try_from(resets).unwrap_or(i64::MAX / 2) - 1);
    result.finishes_at = last_start + seconds(per_row_secs * last_rows as f64);
    result.pause = Some(BudgetPause {
        pauses_at,
        resumes_at: reset,
        rows_before: rows_today,
        resets,
    });
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + secs, 0).unwrap_or_default()
    }

    fn pace(limit: Option<u64>, spent: u64, reset_in: i64) -> Pace {
        Pace::new(
            BudgetStatus {
                daily_limit: limit,
                learned: false,
                spent,
                priority_reserve: limit.map_or(0, |l| l / 5),
                resets_at: at(reset_in),
                exhausted_until: None,
            },
            &LedgerConfig::default(),
        )
    }

    fn mapping(fields: &[&str]) -> Mapping {
        Mapping(
            fields
                .iter()
                .enumerate()
                .map(|(i, f)| (i, (*f).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_row_costs_its_calls_from_the_cost_table() {
        let persons = row_cost(
            ImportKind::Persons,
            DuplicatePolicy::Skip,
            &mapping(&["name", "email"]),
        );
        assert_eq!(
            (persons.tokens, persons.calls, persons.searches),
            (25, 2, 1)
        );
        let create = row_cost(
            ImportKind::Persons,
            DuplicatePolicy::Create,
            &mapping(&["name"]),
        );
        assert_eq!(create.tokens, 5, "no duplicate check under create");
        let deals = row_cost(
            ImportKind::Deals,
            DuplicatePolicy::Update,
            &mapping(&["title", "org_name", "person_email"]),
        );
        assert_eq!((deals.tokens, deals.searches), (20 + 5 + 20 + 5 + 20, 3));
    }

    /// The mirror answers the lookups of the kinds it is known to hold, and only those.
    #[test]
    fn a_complete_mirror_takes_the_searches_of_the_kinds_it_holds() {
        let all = MirrorAnswers {
            persons: true,
            organizations: true,
            deals: true,
        };
        let skip = DuplicatePolicy::Skip;
        let cost = |kind, fields: &[&str], mirror| {
            let c = likely_row_cost(kind, skip, &mapping(fields), mirror);
            (c.tokens, c.calls, c.searches)
        };
        let persons = ["name", "email", "org_name"];
        assert_eq!(cost(ImportKind::Persons, &persons, all), (10, 2, 0));
        let orgs_only = MirrorAnswers {
            organizations: true,
            ..MirrorAnswers::default()
        };
        assert_eq!(cost(ImportKind::Persons, &persons, orgs_only), (30, 3, 1));
        assert_eq!(cost(ImportKind::Persons, &["name"], all), (5, 1, 0));
        assert_eq!(cost(ImportKind::Organizations, &["name"], all), (5, 1, 0));
        let deals = ["title", "org_name", "person_email"];
        assert_eq!(cost(ImportKind::Deals, &deals, all), (10, 2, 0));
        let no_deals = MirrorAnswers {
            deals: false,
            ..all
        };
        assert_eq!(cost(ImportKind::Deals, &deals, no_deals), (30, 3, 1));
        let none = MirrorAnswers::default();
        let upper = row_cost(ImportKind::Deals, skip, &mapping(&deals));
        assert_eq!(
            cost(ImportKind::Deals, &deals, none),
            (upper.tokens, upper.calls, upper.searches)
        );
    }

    #[test]
    fn within_the_budget_the_windows_set_the_pace() -> Result<(), EstimateError> {
        let cost = RowCost {
            tokens: 25,
            calls: 2,
            searches: 1,
        };
        // The bulk lane's searches: 10 per 2 s × 0.75 = 3.75 a second.
        let result = estimate(375, cost, &pace(Some(1_000_000), 0, 86_000), at(0))?;
        assert_eq!(result.tokens, 9_375);
        assert!(
            (result.pace_secs - 100.0).abs() < 1e-6,
            "{}",
            result.pace_secs
        );
        assert_eq!(result.finishes_at, at(100));
        assert_eq!(result.pause, None);
        Ok(())
    }

    #[test]
    fn an_import_over_the_budget_pauses_at_the_limit_and_resumes_after_the_reset(
    ) -> Result<(), EstimateError> {
        let cost = RowCost {
            tokens: 25,
            calls: 2,
            searches: 1,
        };
        // 10,000 a day, 2,000 reserved, 3,000 spent: 5,000 left today (200 rows), 8,000 a day
        // after (320 rows). 1,000 rows: 200 today, 320 + 320 + 160 after three resets.
        let result = estimate(1_000, cost, &pace(Some(10_000), 3_000, 3_600), at(0))?;
        let pause = result
            .pause
            .clone()
            .ok_or(EstimateError::RowOverDailyBudget { row: 0, per_day: 0 })?;
        assert_eq!(pause.rows_before, 200);
        assert_eq!(pause.pauses_at, at(0) + seconds(200.0 / 3.75));
        assert_eq!(pause.resumes_at, at(3_600));
        assert_eq!(pause.resets, 3);
        let last_start = at(3_600) + Duration::days(2);
        assert_eq!(result.finishes_at, last_start + seconds(160.0 / 3.75));
        Ok(())
    }

    #[test]
    fn a_row_dearer_than_a_day_cannot_run_and_an_unknown_limit_says_so() {
        let cost = RowCost {
            tokens: 90,
            calls: 5,
            searches: 3,
        };
        assert_eq!(
            estimate(10, cost, &pace(Some(100), 0, 3_600), at(0)),
            Err(EstimateError::RowOverDailyBudget {
                row: 90,
                per_day: 80
            })
        );
        let unknown = estimate(10, cost, &pace(None, 0, 3_600), at(0));
        assert_eq!(
            unknown.map(|e| (e.limit_unknown, e.pause)),
            Ok((true, None))
        );
    }
}

//! Bounded label cardinality for the per-company series: the busiest companies (by calls) get a
//! series each, the rest are summed under `company="other"`. Without the bound, every installed
//! company would add seven series to every scrape, for ever.

use std::collections::HashMap;

use dealbridge_pipedrive::CompanyFigures;
use dealbridge_pipedrive::CompanyId;

/// Companies with a series of their own when `DEALBRIDGE_METRICS_MAX_COMPANIES` is not set.
pub const DEFAULT_MAX_COMPANIES: usize = 100;

/// The `company` label of the summed remainder.
pub const OTHER_COMPANIES: &str = "other";

/// Per-company figures ready to export: `(company label, figures)`, busiest first, with at most
/// one `other` entry at the end.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ranked(pub Vec<(String, CompanyFigures)>);

impl Ranked {
    /// Keeps the `max` companies with the most calls (ties broken by company id, so the choice is
    /// stable between scrapes) and sums the rest.
    pub fn new(figures: HashMap<CompanyId, CompanyFigures>, max: usize) -> Self {
        let mut companies: Vec<_> = figures.into_iter().collect();
        companies.sort_by(|(a_id, a), (b_id, b)| b.calls.cmp(&a.calls).then(a_id.0.cmp(&b_id.0)));
        let rest = companies.split_off(max.min(companies.len()));
        let mut ranked: Vec<_> = companies
            .into_iter()
            .map(|(id, figures)| (id.0.to_string(), figures))
            .collect();
        if !rest.is_empty() {
            let other =
                rest.into_iter()
                    .map(|(_, f)| f)
                    .fold(CompanyFigures::default(), |sum, f| CompanyFigures {
                        calls: sum.calls + f.calls,
                        tokens_spent: sum.tokens_spent + f.tokens_spent,
                        rate_limited: sum.rate_limited + f.rate_limited,
                        errors: sum.errors + f.errors,
                        retries: sum.retries + f.retries,
                        waited: sum.waited.saturating_add(f.waited),
                        deferred: sum.deferred + f.deferred,
                        // Per token, so meaningless summed over companies.
                        burst_limit: None,
                        daily_requests_left: None,
                        writes_blocked_until: None,
                    });
            ranked.push((OTHER_COMPANIES.to_owned(), other));
        }
        Self(ranked)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn company(calls: u64) -> CompanyFigures {
        CompanyFigures {
            calls,
            tokens_spent: calls * 10,
            waited: Duration::from_millis(calls),
            ..CompanyFigures::default()
        }
    }

    #[test]
    fn the_busiest_companies_keep_their_series_and_the_rest_are_summed() {
        let figures: HashMap<_, _> = [(1, 5), (2, 50), (3, 7), (4, 1), (5, 50)]
            .into_iter()
            .map(|(id, calls)| (CompanyId(id), company(calls)))
            .collect();
        let Ranked(ranked) = Ranked::new(figures, 3);
        let labels: Vec<_> = ranked.iter().map(|(label, _)| label.as_str()).collect();
        // 2 and 5 tie on calls: the lower id comes first.
        assert_eq!(labels, ["2", "5", "3", "other"]);
        let other = &ranked[3].1;
        assert_eq!(other.calls, 6);
        assert_eq!(other.tokens_spent, 60);
        assert_eq!(other.waited, Duration::from_millis(6));
    }

    #[test]
    fn no_other_series_while_every_company_fits() {
        let figures: HashMap<_, _> = [(1, 5), (2, 6)]
            .into_iter()
            .map(|(id, calls)| (CompanyId(id), company(calls)))
            .collect();
        let Ranked(ranked) = Ranked::new(figures, 2);
        assert_eq!(ranked.len(), 2);
        assert!(ranked.iter().all(|(label, _)| label != OTHER_COMPANIES));
        assert_eq!(Ranked::new(HashMap::new(), 100), Ranked::default());
    }

    #[test]
    fn a_bound_of_zero_sums_everything() {
        let figures: HashMap<_, _> = [(1, 5), (2, 6)]
            .into_iter()
            .map(|(id, calls)| (CompanyId(id), company(calls)))
            .collect();
        let Ranked(ranked) = Ranked::new(figures, 0);
        assert_eq!(ranked.len(), 1);
        assert_eq!(ranked[0].0, OTHER_COMPANIES);
        assert_eq!(ranked[0].1.calls, 11);
    }
}

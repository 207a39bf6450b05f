//! The timeline's refused calls: each call Pipedrive answered 401 or 429, as the budget ledger
//! recorded it (the operation's method and path with ids as `{id}`, never a query string or a
//! token), up to a bound a company and day; the per-day entries count every one.

use dealbridge_storage::{Refusal, TimelineCursor};

use super::timeline::{Cursor, Source};
use super::timeline_entries::{item, view, Item};

/// How the ledger names a limit, in words.
fn limit_name(limit: &str) -> &str {
    match limit {
        "burst" => "the token's 2-second window",
        "search" => "the search limit",
        "daily_budget" => "the company's daily token budget",
        "daily_writes" => "the token's writes for the day",
        other => other,
    }
}

pub fn entry(refusal: Refusal) -> Item {
    let call = format!("{} {}", refusal.method, refusal.path);
    let (title, tone) = match refusal.status {
        401 => (
            format!("Pipedrive answered 401 (token refused) to {call}"),
            "failed",
        ),
        status => (
            format!("Pipedrive answered {status} (rate limited) to {call}"),
            "warning",
        ),
    };
    let mut view = view(refusal.at, "Pipedrive", tone, title);
    let mut detail = Vec::new();
    if let Some(limit) = &refusal.limit {
        detail.push(format!("limit: {}", limit_name(limit)));
    }
    if let Some(ms) = refusal.retry_after_ms {
        detail.push(format!("retry after {:.1} s", ms as f64 / 1000.0));
    }
    view.detail = (!detail.is_empty()).then(|| detail.join(", "));
    let cursor = Cursor::At(TimelineCursor {
        at: refusal.at,
        id: refusal.id,
    });
    item(Source::Refusals, refusal.at, cursor, view)
}

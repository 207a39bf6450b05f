//! The baseline: the same backlogs through plain HTTP calls that know nothing about budgets and
//! retry a 429 after a second, up to three times, then drop the job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dealbridge_sandbox::Control;
use reqwest::Method;

use super::{measure, Company, RunResult, INSTANCES, WORKERS};

#[derive(Default)]
struct Counts {
    daily_429s: AtomicU64,
    dropped: AtomicU64,
}

/// Runs for `length` (the ledger run's time) or until the backlogs are done.
pub(super) async fn run(
    companies: &[Arc<Company>],
    control: &Control,
    length: Duration,
) -> anyhow::Result<RunResult> {
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let stop_at = started + length;
    let mut tasks = Vec::new();
    for _ in 0..INSTANCES {
        let http = reqwest::Client::new();
        for company in companies {
            for bulk in [true, false] {
                for _ in 0..WORKERS {
                    let (http, company, counts) = (http.clone(), company.clone(), counts.clone());
                    tasks.push(tokio::spawn(async move {
                        work(http, company, bulk, counts, stop_at).await
                    }));
                }
            }
        }
    }
    for task in tasks {
        task.await?;
    }
    let mut result = measure(companies, control, started.elapsed())?;
    result.notes = vec![
        (
            "jobs dropped after 3 retries".into(),
            counts.dropped.load(Ordering::Relaxed).to_string(),
        ),
        (
            "daily-budget 429s the client recognised".into(),
            counts.daily_429s.load(Ordering::Relaxed).to_string(),
        ),
    ];
    Ok(result)
}

async fn work(
    http: reqwest::Client,
    company: Arc<Company>,
    bulk: bool,
    counts: Arc<Counts>,
    stop_at: Instant,
) {
    let base = company
        .api_domain
        .as_str()
        .trim_end_matches('/')
        .to_string();
    let deal = format!("{base}/api/v2/deals/{}", company.deal_id);
    let mut n = 0u64;
    while Instant::now() < stop_at && company.take(bulk) {
        n += 1;
        let calls: Vec<(Method, String, Option<serde_json::Value>)> = if bulk {
            vec![(
                Method::POST,
                format!("{base}/api/v2/deals"),
                Some(serde_json::json!({ "title": format!("Imported {n}") })),
            )]
        } else {
            let mut calls = vec![
                (Method::GET, deal.clone(), None),
                (
                    Method::PATCH,
                    deal.clone(),
                    Some(serde_json::json!({ "title": format!("Updated {n}") })),
                ),
            ];
            if n.is_multiple_of(4) {
                calls.push((
                    Method::GET,
                    format!("{base}/api/v2/deals/search?term=Bench"),
                    None,
                ));
            }
            calls
        };
        for (method, url, body) in calls {
            if !send(&http, &company.token, method, &url, body, &counts, stop_at).await {
                counts.dropped.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
}

/// Whether the call got through.
async fn send(
    http: &reqwest::Client,
    token: &str,
    method: Method,
    url: &str,
    body: Option<serde_json::Value>,
    counts: &Counts,
    stop_at: Instant,
) -> bool {
    for attempt in 0..4 {
        let mut request = http.request(method.clone(), url).bearer_auth(token);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let Ok(response) = request.send().await else {
            return false;
        };
        if response.status() != 429 {
            return response.status().is_success();
        }
        let text = response.text().await.unwrap_or_default();
        if text.contains("Daily") {
            counts.daily_429s.fetch_add(1, Ordering::Relaxed);
        }
        if attempt == 3 || Instant::now() + Duration::from_secs(1) > stop_at {
            return false;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    false
}

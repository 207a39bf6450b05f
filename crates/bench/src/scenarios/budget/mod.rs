//! `budget`: 50 companies of mixed plans with backlogs bigger than their daily budgets, worked by
//! two app processes (this one and a peer: this binary run again, each with its own Pipedrive
//! client, store-backed ledger and Postgres pool, each with half of every backlog) against the
//! sandbox; then the same backlogs through a naive client that only retries on 429. Reports the
//! share of each company's budget used and the 429s.

mod instance;
mod naive;
mod peer;
mod smart;

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dealbridge_pipedrive::ledger::{daily_budget_for_plan, Plan as LedgerPlan};
use dealbridge_sandbox::{CompanySpec, Control, Plan, RateLimit, SandboxConfig, UserSpec};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor};

use super::Options;
use crate::report::Report;

const COMPANIES: usize = 50;
/// Daily budgets are the plan's (30,000 × multiplier × seats) divided by this, so a run takes
/// seconds instead of a day.
const BUDGET_DIVISOR: u64 = 300;
/// A run stops here even if work is left.
const RUN_CAP: Duration = Duration::from_secs(120);
/// Workers per lane, company and instance.
const WORKERS: usize = 2;
/// App processes of the ledger run, and client instances of the naive one.
const INSTANCES: usize = 2;

/// One company of the run and its backlog.
pub(crate) struct Company {
    pub id: u64,
    pub user_id: u64,
    pub plan: Plan,
    pub budget: u64,
    pub api_domain: url::Url,
    pub token: String,
    /// A deal the webhook jobs read and update.
    pub deal_id: u64,
    /// Jobs left; workers of every instance take from these.
    pub bulk_left: AtomicI64,
    pub webhook_left: AtomicI64,
}

impl Company {
    pub fn take(&self, bulk: bool) -> bool {
        let left = if bulk {
            &self.bulk_left
        } else {
            &self.webhook_left
        };
        left.fetch_sub(1, Ordering::Relaxed) > 0
    }

    fn refill(&self) {
        // Bulk: imports of one deal (5 tokens) worth the whole budget. Webhooks: read and update
        // a deal (1 + 5), every fourth also a search (20; 11 a job on average): the whole budget
        // too, so the priority reserve bulk work leaves has takers.
        self.bulk_left
            .store((self.budget / 5) as i64, Ordering::Relaxed);
        self.webhook_left
            .store((self.budget / 11) as i64, Ordering::Relaxed);
    }
}

fn plan_of(n: usize) -> (Plan, LedgerPlan, u64) {
    let seats = 1 + (n as u64 * 7) % 5;
    match n % 4 {
        0 => (Plan::Lite, LedgerPlan::Lite, seats),
        1 => (Plan::Growth, LedgerPlan::Growth, seats),
        2 => (Plan::Premium, LedgerPlan::Premium, seats),
        _ => (Plan::Ultimate, LedgerPlan::Ultimate, seats),
    }
}

/// What one run measured.
pub(crate) struct RunResult {
    pub elapsed: Duration,
    /// Per company: tokens Pipedrive charged / daily budget.
    pub shares: Vec<f64>,
    /// The same, by plan: (plan, mean, min).
    pub by_plan: Vec<(String, f64, f64)>,
    /// Every 429 the sandbox answered (no faults are injected, so each is an exhausted limit).
    pub limit_429s: u64,
    /// Of those, the ones the sandbox answered because the daily budget was spent (from its call
    /// log, which says which limit refused each 429).
    pub daily_429s: u64,
    pub calls: u64,
    pub notes: Vec<(String, String)>,
}

impl RunResult {
    fn mean(&self) -> f64 {
        self.shares.iter().sum::<f64>() / self.shares.len().max(1) as f64
    }

    fn min(&self) -> f64 {
        self.shares.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

pub async fn run(_options: Options) -> anyhow::Result<Report> {
    if std::env::var_os(peer::PEER_VAR).is_some() {
        return peer::run().await;
    }
    let url = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let schema = format!("bench_budget_{}", uuid::Uuid::new_v4().simple());
    let base = PgConnectOptions::from_str(&url)?;
    let mut admin = sqlx::PgConnection::connect_with(&base).await?;
    admin
        .execute(format!("create schema {schema}").as_str())
        .await?;
    let options = base.clone().options([("search_path", schema.as_str())]);

    let sandbox = dealbridge_sandbox::spawn(SandboxConfig {
        call_log_capacity: 2_000_000,
        ..SandboxConfig::default()
    })
    .await?;
    let control = sandbox.control().clone();
    let companies = setup(&control).await?;

    let shared = smart::Shared {
        options,
        postgres_url: &url,
        schema: &schema,
        sandbox_url: sandbox.base_url(),
    };
    let smart = smart::run(&companies, shared, &control).await;
    // Fresh budgets and windows for the naive run.
    tokio::time::sleep(Duration::from_secs(3)).await;
    control.reset_budgets();
    control.clear_calls();
    companies.iter().for_each(|c| c.refill());
    let naive = match &smart {
        Ok(s) => naive::run(&companies, &control, s.elapsed).await,
        Err(_) => Err(anyhow::anyhow!("skipped")),
    };
    sandbox.stop().await;
    let _ = admin
        .execute(format!("drop schema {schema} cascade").as_str())
        .await;
    let (smart, naive) = (smart?, naive?);

    let mut report = Report::new("budget");
    report
        .row(
            "setup",
            format!(
                "{COMPANIES} companies (Lite/Growth/Premium/Ultimate, 1-5 seats), budgets = plan / {BUDGET_DIVISOR}, {INSTANCES} app processes (half of each backlog each) x {WORKERS} bulk + {WORKERS} webhook workers per company, Postgres"
            ),
        )
        .row(
            "total daily budget",
            format!("{} tokens", companies.iter().map(|c| c.budget).sum::<u64>()),
        );
    for (label, r) in [("ledger", &smart), ("naive", &naive)] {
        report.row(
            format!("{label}: run"),
            format!("{:.1} s, {} calls", r.elapsed.as_secs_f64(), r.calls),
        );
        report.row(
            format!("{label}: capacity used"),
            format!(
                "mean {:.1} %, min {:.1} %",
                r.mean() * 100.0,
                r.min() * 100.0
            ),
        );
        for (plan, mean, min) in &r.by_plan {
            report.row(
                format!("{label}: {plan}"),
                format!("mean {:.1} %, min {:.1} %", mean * 100.0, min * 100.0),
            );
        }
        report.row(
            format!("{label}: 429s"),
            format!(
                "{} burst/search, {} daily budget",
                r.limit_429s - r.daily_429s,
                r.daily_429s
            ),
        );
        for (k, v) in &r.notes {
            report.row(format!("{label}: {k}"), v.clone());
        }
    }
    report
        .figure(
            "capacity_used",
            smart.mean(),
            format!("{:.3}", smart.mean()),
        )
        .figure(
            "limit_429s",
            smart.limit_429s as f64,
            smart.limit_429s.to_string(),
        )
        .figure(
            "naive_capacity_used",
            naive.mean(),
            format!("{:.3}", naive.mean()),
        )
        .figure(
            "naive_limit_429s",
            naive.limit_429s as f64,
            naive.limit_429s.to_string(),
        )
        .figure(
            "daily_429s",
            smart.daily_429s as f64,
            smart.daily_429s.to_string(),
        )
        .figure(
            "naive_daily_429s",
            naive.daily_429s as f64,
            naive.daily_429s.to_string(),
        );
    Ok(report)
}

async fn setup(control: &Control) -> anyhow::Result<Vec<Arc<Company>>> {
    let http = reqwest::Client::new();
    let mut out = Vec::with_capacity(COMPANIES);
    for n in 0..COMPANIES {
        let (plan, ledger_plan, seats) = plan_of(n);
        let budget = daily_budget_for_plan(ledger_plan, seats as u32, 0) / BUDGET_DIVISOR;
        let info = control.create_company(CompanySpec {
            name: format!("Bench {n}"),
            domain: format!("bench{n}"),
            plan,
            seats,
            daily_budget: Some(budget),
            burst_limit: None,
            users: vec![UserSpec {
                name: format!("Owner {n}"),
                email: format!("owner{n}@bench.test"),
                is_admin: true,
            }],
        })?;
        let user_id = info.user_ids.first().copied().unwrap_or_default();
        let grant = control.mint_token(info.id, Some(user_id), Vec::new())?;
        let api_domain = url::Url::parse(&grant.api_domain)?;
        let deal: serde_json::Value = http
            .post(format!("{}/api/v2/deals", grant.api_domain))
            .bearer_auth(&grant.access_token)
            .json(&serde_json::json!({ "title": "Bench webhook deal" }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let deal_id = deal["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("deal id missing"))?;
        let company = Company {
            id: info.id,
            user_id,
            plan,
            budget,
            api_domain,
            token: grant.access_token,
            deal_id,
            bulk_left: AtomicI64::new(0),
            webhook_left: AtomicI64::new(0),
        };
        company.refill();
        out.push(Arc::new(company));
    }
    control.reset_budgets();
    control.clear_calls();
    Ok(out)
}

/// Shares and 429s as the sandbox saw them.
pub(crate) fn measure(
    companies: &[Arc<Company>],
    control: &Control,
    elapsed: Duration,
) -> anyhow::Result<RunResult> {
    let mut shares = Vec::with_capacity(companies.len());
    for c in companies {
        let budget = control.budget(c.id)?;
        shares.push(budget.used as f64 / budget.daily_budget.max(1) as f64);
    }
    let mut by_plan = Vec::new();
    for plan in [Plan::Lite, Plan::Growth, Plan::Premium, Plan::Ultimate] {
        let of_plan: Vec<f64> = companies
            .iter()
            .zip(&shares)
            .filter(|(c, _)| c.plan == plan)
            .map(|(_, s)| *s)
            .collect();
        let mean = of_plan.iter().sum::<f64>() / of_plan.len().max(1) as f64;
        let min = of_plan.iter().copied().fold(f64::INFINITY, f64::min);
        by_plan.push((format!("{plan:?}"), mean, min));
    }
    let calls = control.calls(None);
    let limit_429s = calls.iter().filter(|c| c.status == 429).count() as u64;
    let daily_429s = calls
        .iter()
        .filter(|c| c.status == 429 && c.limited_by == Some(RateLimit::Daily))
        .count() as u64;
    Ok(RunResult {
        elapsed,
        shares,
        by_plan,
        limit_429s,
        daily_429s,
        calls: calls.len() as u64,
        notes: Vec::new(),
    })
}

pub(crate) fn deadline() -> Instant {
    Instant::now() + RUN_CAP
}

//! `pages`: the tenant overview (`GET /dashboard`) and the console's tenants list (`GET /console`,
//! unfiltered and with `?state=`) rendered by the real app, through its whole HTTP stack, on a
//! Postgres database of its own (or, for `pages-sqlite`, a SQLite file) holding a thousand tenants,
//! a million jobs and a million inbox events. The busy tenant is installed through the app's OAuth
//! flow against the embedded sandbox (so its dashboard session is the real one); a support account
//! signs in to the console with its password. The rest is filled in bulk (see `fill.rs`), then
//! every page is checked against the database once and timed many times, one request at a time.

mod browser;
mod fill;
mod to_sqlite;

use std::time::Duration;

use anyhow::Context;
use dealbridge_app::pipedrive_setup::SANDBOX_CLIENT_ID;
use dealbridge_app::settings::{DatabaseKind, Settings};
use dealbridge_app::startup::Application;
use dealbridge_core::tenant::Tenant;
use dealbridge_core::CompanyId;
use hdrhistogram::Histogram;
use reqwest::StatusCode;
use sqlx::{Connection, Executor};

use super::queue::{load_average, URL_VAR};
use super::Options;
use crate::report::Report;
use browser::{csrf_in, Browser};
use fill::Filled;

/// The database the app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Postgres,
    /// A SQLite file, filled through a scratch Postgres database (see `to_sqlite`).
    Sqlite,
}

impl Db {
    fn scenario(self) -> &'static str {
        match self {
            Db::Postgres => "pages",
            Db::Sqlite => "pages-sqlite",
        }
    }
}

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Tenants in all, the busy one included.
    pub tenants: u64,
    pub jobs: u64,
    pub events: u64,
    /// Timed requests per page (the tenants list's are split between unfiltered and filtered).
    pub requests: usize,
}

pub const FULL: Size = Size {
    tenants: 1_000,
    jobs: 1_000_000,
    events: 1_000_000,
    requests: 500,
};

/// Where the server is when neither `--url`, `BENCH_POSTGRES_URL` nor `TEST_POSTGRES_URL` says.
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Set to keep the filled database after the run (its URL is printed), e.g. for `EXPLAIN`.
const KEEP_VAR: &str = "DEALBRIDGE_BENCH_KEEP_DB";
/// Untimed requests per URL first: the pools, the installer's name, Postgres's caches.
const WARM_UP: usize = 5;
/// The console's state filters, as its links spell them.
const STATES: [&str; 4] = ["active", "needs-reauth", "paused", "uninstalled"];
/// Rows a page of the console's list shows.
const PAGE: i64 = 50;
/// The overview's counts stop here ("10,000+"), the console list's sooner ("1,000+").
const COUNT_CAP: i64 = dealbridge_storage::COUNT_CAP as i64;
const LIST_COUNT_CAP: i64 = dealbridge_storage::LIST_COUNT_CAP as i64;

/// What one run measured (latencies in microseconds).
pub struct Outcome {
    pub filled: Filled,
    /// The pages' HTML, uncompressed: the overview and the unfiltered tenants list.
    pub page_bytes: (usize, usize),
    pub load_start: f64,
    pub overview: Histogram<u64>,
    pub tenants_all: Histogram<u64>,
    pub tenants_filtered: Histogram<u64>,
    /// Per state filter, in `STATES` order.
    pub by_state: Vec<Histogram<u64>>,
}

impl Outcome {
    /// Every request of the tenants list, filtered or not.
    pub fn tenants(&self) -> anyhow::Result<Histogram<u64>> {
        let mut all = self.tenants_all.clone();
        all.add(&self.tenants_filtered)?;
        Ok(all)
    }
}

pub async fn run(options: Options, db: Db) -> anyhow::Result<Report> {
    let url = options
        .url
        .map(str::to_owned)
        .or_else(|| std::env::var(URL_VAR).ok())
        .or_else(|| std::env::var("TEST_POSTGRES_URL").ok())
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let size = Size {
        tenants: options.tenants.map_or(FULL.tenants, |n| n as u64),
        jobs: options.jobs.unwrap_or(FULL.jobs),
        events: options.events.map_or(FULL.events, |n| n as u64),
        requests: options.requests.unwrap_or(FULL.requests),
    };
    let out = measure(&url, size, db).await?;
    report(&out, size, db)
}

/// Milliseconds to two decimals, as the JSON line has them.
fn ms(h: &Histogram<u64>, quantile: f64) -> f64 {
    (h.value_at_quantile(quantile) as f64 / 10.0).round() / 100.0
}

fn spread(h: &Histogram<u64>) -> String {
    format!(
        "p50 {:.2} ms, p90 {:.2}, p95 {:.2}, p99 {:.2}, max {:.2} ({} requests)",
        ms(h, 0.5),
        ms(h, 0.9),
        ms(h, 0.95),
        ms(h, 0.99),
        h.max() as f64 / 1000.0,
        h.len()
    )
}

fn report(out: &Outcome, size: Size, db: Db) -> anyhow::Result<Report> {
    let f = &out.filled;
    let tenants = out.tenants()?;
    let mut report = Report::new(db.scenario());
    report
        .row(
            "data",
            format!(
                "{} tenants ({} active, {} needs reauth, {} paused, {} uninstalled), {} jobs, {} inbox events",
                f.tenants, f.by_state[0], f.by_state[1], f.by_state[2], f.by_state[3], f.jobs, f.events
            ),
        )
        .row(
            "busy tenant",
            format!(
                "{} queued, {} running, {} dead jobs; {} inbox events",
                f.busy_jobs.0, f.busy_jobs.1, f.busy_jobs.2, f.busy_events
            ),
        )
        .row(
            "fill / vacuum",
            match db {
                Db::Postgres => format!(
                    "{:.1} s / {:.1} s",
                    f.fill_time.as_secs_f64(),
                    f.vacuum_time.as_secs_f64()
                ),
                Db::Sqlite => format!(
                    "{:.1} s (made in Postgres, copied into the file) / none, as the app runs",
                    f.fill_time.as_secs_f64()
                ),
            },
        )
        .row(
            "page sizes",
            format!(
                "overview {:.1} KB, tenants list {:.1} KB (HTML before gzip)",
                out.page_bytes.0 as f64 / 1024.0,
                out.page_bytes.1 as f64 / 1024.0
            ),
        )
        .row("load at start", format!("{:.2}", out.load_start))
        .row(
            "requests",
            format!(
                "{} per page, one at a time, after {WARM_UP} untimed per URL",
                size.requests
            ),
        )
        .row("GET /dashboard", spread(&out.overview))
        .row("GET /console", spread(&out.tenants_all))
        .row("GET /console?state=…", spread(&out.tenants_filtered));
    for (state, h) in STATES.iter().zip(&out.by_state) {
        report.row(format!("  state={state}"), spread(h));
    }
    report
        .figure(
            "overview_p99_ms",
            ms(&out.overview, 0.99),
            format!("{:.2} ms (tenant overview, p99)", ms(&out.overview, 0.99)),
        )
        .figure(
            "tenants_p99_ms",
            ms(&tenants, 0.99),
            format!(
                "{:.2} ms (console tenants list, filtered or not, p99)",
                ms(&tenants, 0.99)
            ),
        );
    Ok(report)
}

/// Runs `size` on a database of its own on the server at `admin_url` (for `Db::Sqlite`, the
/// scratch database the fill is made in), dropped afterwards (kept when `DEALBRIDGE_BENCH_KEEP_DB`
/// is set, as is the SQLite file then).
pub async fn measure(admin_url: &str, size: Size, db: Db) -> anyhow::Result<Outcome> {
    let name = format!("dealbridge_bench_pages_{}", uuid::Uuid::new_v4().simple());
    let base = admin_url
        .split('?')
        .next()
        .and_then(|u| u.rsplit_once('/'))
        .map_or(admin_url, |(base, _)| base);
    let url = format!("{base}/{name}");
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .context("connecting to the Postgres server")?;
    admin
        .execute(format!("create database {name}").as_str())
        .await?;
    let data = tempfile::tempdir()?;
    let result = measure_in(&url, &data, size, db).await;
    if std::env::var_os(KEEP_VAR).is_some() {
        eprintln!("kept the database: {url}");
        if db == Db::Sqlite {
            eprintln!(
                "kept the SQLite file: {}",
                data.keep().join(SQLITE_FILE).display()
            );
        }
    } else {
        admin
            .execute(format!("drop database if exists {name} with (force)").as_str())
            .await?;
    }
    admin.close().await?;
    result
}

/// The app's database file in its data folder, for `Db::Sqlite`.
const SQLITE_FILE: &str = "pages.db";

async fn measure_in(
    url: &str,
    data: &tempfile::TempDir,
    size: Size,
    db: Db,
) -> anyhow::Result<Outcome> {
    let mut settings = Settings::defaults()?;
    settings.listen = "127.0.0.1:0".parse()?;
    settings.public_url = "http://127.0.0.1:0".parse()?;
    settings.sandbox_listen = "127.0.0.1:0".parse()?;
    settings.metrics_listen = None;
    let sqlite_url = format!("sqlite://{}", data.path().join(SQLITE_FILE).display());
    let (app_url, kind) = match db {
        Db::Postgres => (url, DatabaseKind::Postgres),
        Db::Sqlite => (sqlite_url.as_str(), DatabaseKind::Sqlite),
    };
    settings.database_url = app_url.to_owned().into();
    settings.database_kind = kind;
    settings.data_dir = data.path().to_path_buf();
    // The app's log, on stderr, only when asked for (`RUST_LOG=warn`).
    let _log = match std::env::var_os("RUST_LOG") {
        Some(_) => Some(dealbridge_app::telemetry::init(&settings)?),
        None => None,
    };
    // The real migrations run here, before anything is filled.
    let app = Application::build(settings).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.store();
    let sandbox = app.sandbox().cloned().context("the app runs its sandbox")?;
    tokio::spawn(app.run());

    let tenant_browser = Browser::new(&address)?;
    let busy = install(&tenant_browser, &sandbox, store.as_ref()).await?;
    anyhow::ensure!(
        busy.company_id.get() < fill::FIRST_COMPANY,
        "the sandbox's company id {} is among the filled ones",
        busy.company_id
    );
    let staff_browser = Browser::new(&address)?;
    sign_in_staff(&staff_browser, data.path()).await?;

    let filled = match db {
        Db::Postgres => fill::fill(url, busy.id, size.tenants, size.jobs, size.events).await,
        Db::Sqlite => to_sqlite::fill(url, &sqlite_url, &busy, size).await,
    }
    .context("filling the database")?;
    let page_bytes = (
        check_overview(&tenant_browser, &filled).await?,
        check_tenants(&staff_browser, &filled).await?,
    );

    let filtered: Vec<String> = STATES
        .iter()
        .map(|s| format!("/console?state={s}"))
        .collect();
    for _ in 0..WARM_UP {
        tenant_browser.time_page("/dashboard").await?;
        staff_browser.time_page("/console").await?;
        for path in &filtered {
            staff_browser.time_page(path).await?;
        }
    }
    let load_start = load_average();
    let histogram = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3);
    let mut overview = histogram()?;
    let mut tenants_all = histogram()?;
    let mut tenants_filtered = histogram()?;
    let mut by_state = vec![histogram()?; STATES.len()];
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    // Interleaved, so a burst of other work on the machine falls on every page alike. The
    // tenants list takes turns unfiltered and filtered, the filter going round the states.
    for n in 0..size.requests {
        overview.record(micros(tenant_browser.time_page("/dashboard").await?))?;
        if n % 2 == 0 {
            tenants_all.record(micros(staff_browser.time_page("/console").await?))?;
        } else {
            let which = (n / 2) % STATES.len();
            let took = micros(staff_browser.time_page(&filtered[which]).await?);
            tenants_filtered.record(took)?;
            by_state[which].record(took)?;
        }
    }
    Ok(Outcome {
        filled,
        page_bytes,
        load_start,
        overview,
        tenants_all,
        tenants_filtered,
        by_state,
    })
}

/// Installs the sandbox's demo company as a browser does (`/install`, consent, callback), which
/// leaves `browser` signed in to its dashboard; returns the tenant.
async fn install(
    browser: &Browser,
    sandbox: &dealbridge_app::pipedrive_setup::EmbeddedSandbox,
    store: &dyn dealbridge_storage::Store,
) -> anyhow::Result<Tenant> {
    let start = browser.get("/install").await?;
    let location = start
        .location
        .with_context(|| format!("/install answered {} without a location", start.status))?;
    let state = url::Url::parse(&location)?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .context("the authorize URL carries no state")?;
    let company = sandbox
        .control
        .companies()
        .into_iter()
        .find(|c| c.domain == "demo")
        .context("the sandbox has no demo company")?;
    let user = *company
        .user_ids
        .first()
        .context("the demo company has no user")?;
    let callback =
        sandbox
            .control
            .approve_install(SANDBOX_CLIENT_ID, company.id, user, Some(&state))?;
    let back = browser.get(&callback).await?;
    anyhow::ensure!(
        back.status == StatusCode::SEE_OTHER,
        "the OAuth callback answered {}: {}",
        back.status,
        back.body
    );
    store
        .tenant_by_company(CompanyId::new(i64::try_from(company.id)?))
        .await?
        .context("the install made no tenant")
}

/// Signs `browser` in to the console as the offline first account.
async fn sign_in_staff(browser: &Browser, data: &std::path::Path) -> anyhow::Result<()> {
    let password =
        std::fs::read_to_string(data.join(dealbridge_app::console_bootstrap::PASSWORD_FILE))
            .context("the app wrote no console password")?;
    let page = browser.get("/console/login").await?;
    let csrf = csrf_in(&page.body)?;
    let answer = browser
        .post_form(
            "/console/login",
            &[
                ("csrf", csrf.as_str()),
                ("email", dealbridge_app::console_bootstrap::FIRST_ACCOUNT),
                ("password", password.trim()),
            ],
        )
        .await?;
    anyhow::ensure!(
        answer.status == StatusCode::SEE_OTHER && answer.location.as_deref() == Some("/console"),
        "the console sign-in answered {} to {:?}",
        answer.status,
        answer.location
    );
    Ok(())
}

/// "10,000+" past a cap of 10,000, else the number with separators.
fn capped(n: i64, cap: i64) -> String {
    if n > cap {
        return format!("{}+", capped(cap, i64::MAX));
    }
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The overview must show the busy tenant's job counts as the database holds them (capped as
/// the page caps them), and its recent events. Returns the page's size.
async fn check_overview(browser: &Browser, filled: &Filled) -> anyhow::Result<usize> {
    let page = browser.get("/dashboard").await?;
    anyhow::ensure!(
        page.status == StatusCode::OK,
        "/dashboard answered {}: {}",
        page.status,
        page.body
    );
    let (queued, running, dead) = filled.busy_jobs;
    let counts = format!(
        "{} queued · {} running · {} failed",
        capped(queued, COUNT_CAP),
        capped(running, COUNT_CAP),
        capped(dead, COUNT_CAP)
    );
    anyhow::ensure!(
        page.body.contains(&counts),
        "the overview does not say {counts:?}"
    );
    anyhow::ensure!(
        filled.busy_events == 0 || page.body.contains("processed"),
        "the overview shows none of the busy tenant's events"
    );
    Ok(page.body.len())
}

/// Each list must show a full page (or every tenant in its state, when fewer), and the busy
/// tenant, first by company id, its capped queue. Returns the unfiltered page's size.
async fn check_tenants(browser: &Browser, filled: &Filled) -> anyhow::Result<usize> {
    let rows = |body: &str| i64::try_from(body.matches("<a href=\"/console/tenants/").count());
    let page = browser.get("/console").await?;
    anyhow::ensure!(
        page.status == StatusCode::OK,
        "/console answered {}",
        page.status
    );
    anyhow::ensure!(
        rows(&page.body)? == filled.tenants.min(PAGE),
        "/console shows {} tenants",
        rows(&page.body)?
    );
    let size = page.body.len();
    let queued = format!("{} queued · ", capped(filled.busy_jobs.0, LIST_COUNT_CAP));
    anyhow::ensure!(
        page.body.contains(&queued),
        "/console does not show the busy tenant's {queued:?}"
    );
    for (state, expected) in STATES.iter().zip(filled.by_state) {
        let path = format!("/console?state={state}");
        let page = browser.get(&path).await?;
        anyhow::ensure!(
            page.status == StatusCode::OK,
            "{path} answered {}",
            page.status
        );
        anyhow::ensure!(
            rows(&page.body)? == expected.min(PAGE),
            "{path} shows {} tenants where {expected} are in that state",
            rows(&page.body)?
        );
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scenario end to end at a tiny size on `db`: the pages answer, say what the database
    /// holds, and the report ends with its JSON line.
    async fn small_run(db: Db) -> anyhow::Result<()> {
        let url = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let size = Size {
            tenants: 60,
            jobs: 3_000,
            events: 3_000,
            requests: 8,
        };
        let out = measure(&url, size, db).await?;
        assert_eq!(out.filled.tenants, 60);
        // The filled jobs and the busy tenant's install's own (its provisioning).
        assert!(
            (3_000..3_010).contains(&out.filled.jobs),
            "{}",
            out.filled.jobs
        );
        assert_eq!(out.filled.events, 3_000);
        assert_eq!(out.filled.by_state.iter().sum::<i64>(), 60);
        assert!(
            out.filled.by_state.iter().all(|n| *n > 0),
            "{:?}",
            out.filled.by_state
        );
        assert_eq!(out.overview.len(), 8);
        assert_eq!(out.tenants()?.len(), 8);
        assert!(out.filled.busy_jobs.0 > 0 && out.filled.busy_events > 0);
        report(&out, size, db)?.print();
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_pages_run_checks_and_times_both_pages() -> anyhow::Result<()> {
        small_run(Db::Postgres).await
    }

    /// The same on SQLite: the copied rows read as the app's own (a uuid, a time or a scope
    /// list in another form would fail the page checks or the page itself).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_sqlite_run_checks_and_times_both_pages() -> anyhow::Result<()> {
        small_run(Db::Sqlite).await
    }
}

//! `import`: a CSV of N persons (default 100,000) imported into a sandbox company through the real
//! path: the file streamed into the store (`ingest_file`), mapped and dry-run, then the chunk jobs
//! on the bulk lane run by the real worker behind the budget gate, each row written through the
//! budgeted client and its journal. The time from start to done is set against the floor the
//! company's burst limit and the bulk lane's share allow (rows × calls per row ÷ calls per second);
//! the sandbox then counts persons sharing an email.
//!
//! `--policy create` (the default here): one `POST /api/v2/persons` per row, no search before it.
//! `--policy skip` (the dashboard's default) looks each row's email up first. The tenant's mirror
//! is known complete here, as after its install's first reconcile sweep (the company starts
//! empty), so a miss is final and no search is made: the burst window sets the floor, as for
//! `create`. With `--mirror-unknown` each lookup is an exact-match search, and the search window
//! (10 per 2 s on every plan, three quarters of it for the bulk lane) sets the floor.

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use dealbridge_budget::{GateConfig, LedgerGate, StoreLedger, StoreLedgerConfig};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::event::PipedriveEntity;
use dealbridge_core::installation::NewInstallation;
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{CompanyId, UserId};
use dealbridge_crypto::KeyRing;
use dealbridge_import::{
    control, ingest_file, likely_row_cost, suggest_mapping, target_fields, MirrorAnswers,
};
use dealbridge_import::{Mapping, Upload};
use dealbridge_jobs::Worker;
use dealbridge_pipedrive::{Pipedrive, PipedriveConfig};
use dealbridge_sandbox::{AppSpec, CompanySpec, Plan, SandboxConfig, UserSpec};
use dealbridge_storage::{
    DuplicatePolicy, Import, ImportKind, ImportState, NewWebhookRegistration, Store, WebhookState,
};
use dealbridge_tokens::TokenVault;
use dealbridge_workflows::{WebhookSetup, Workflows};
use secrecy::SecretString;

use super::queue::BenchDb;
use super::Options;
use crate::memory::own_peak_rss_mb;
use crate::report::Report;
use crate::sandbox_process::SandboxLink;

const CLIENT_ID: &str = "dealbridge-bench";
const CLIENT_SECRET: &str = "bench-secret";
const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";
/// The plan with the largest burst window (480 calls per 2 s per OAuth token).
const PLAN: Plan = Plan::Ultimate;
const HEADERS: [&str; 2] = ["Name", "Email"];
/// Daily tokens per seat before the plan's multiplier (FACTS §5.1).
const TOKENS_PER_SEAT: u64 = 30_000;

/// What one run measured.
#[derive(Debug)]
pub(crate) struct Figures {
    pub rows: u64,
    pub seats: u64,
    pub calls_per_row: u64,
    pub tokens_per_row: u64,
    pub policy: DuplicatePolicy,
    /// Whether the tenant's mirror was known complete (lookups by email answered by it).
    pub mirror_complete: bool,
    pub searches_per_row: u64,
    pub calls_per_sec: f64,
    pub searches_per_sec: f64,
    pub ingest_secs: f64,
    /// Peak RSS once the file is in the store, before the sandbox holds any of its persons.
    pub ingest_rss_mb: f64,
    pub secs: f64,
    pub floor_secs: f64,
    pub done_rows: u64,
    pub failed_rows: u64,
    /// Tokens the import's rows spent (the import's own count), against the day's budget.
    pub tokens_spent: u64,
    pub persons: usize,
    pub duplicates: usize,
    pub peak_rss_mb: f64,
    /// The sandbox's own peak when it ran in a child process (it holds every person).
    pub sandbox_rss_mb: Option<f64>,
}

pub async fn run(options: Options) -> anyhow::Result<Report> {
    let url = options
        .url
        .map(str::to_owned)
        .or_else(|| std::env::var(super::queue::URL_VAR).ok())
        .unwrap_or_else(|| super::queue::DEFAULT_URL.to_owned());
    let db = BenchDb::create_at(url, 8).await?;
    let store: Arc<dyn Store> = Arc::new(BenchDb::connect(&db.url, &db.schema, 8).await?);
    let result = measure(
        store,
        options.rows,
        options.policy,
        !options.mirror_unknown,
        SandboxPlace::ChildProcess,
    )
    .await;
    db.drop().await?;
    let f = result?;
    anyhow::ensure!(
        f.done_rows == f.rows && f.failed_rows == 0 && f.persons == f.rows as usize,
        "the import lost rows: {} done, {} failed, {} persons in the sandbox of {}",
        f.done_rows,
        f.failed_rows,
        f.persons,
        f.rows
    );
    Ok(report(&f))
}

fn report(f: &Figures) -> Report {
    let mut report = Report::new("import");
    report
        .row(
            "company",
            format!(
                "sandbox, {PLAN:?} plan, {} seats ({} tokens a day), burst {} calls per 2 s",
                f.seats,
                daily_budget(f.seats),
                PLAN.oauth_burst()
            ),
        )
        .row(
            "policy",
            format!(
                "{}{}: {} call(s) a row, {} of them searches, {} tokens",
                f.policy.as_str(),
                match (f.policy, f.mirror_complete) {
                    (DuplicatePolicy::Create, _) => "",
                    (_, true) => " (mirror known complete: a lookup's miss is final)",
                    (_, false) => " (mirror not known complete: each lookup searches)",
                },
                f.calls_per_row,
                f.searches_per_row,
                f.tokens_per_row
            ),
        )
        .row(
            "bulk lane pace",
            format!(
                "{:.1} calls/s, {:.1} searches/s allowed",
                f.calls_per_sec, f.searches_per_sec
            ),
        )
        .row(
            "daily budget",
            format!(
                "{} tokens spent of {} ({:.1}%): the seats are sized so it never runs out",
                f.tokens_spent,
                daily_budget(f.seats),
                f.tokens_spent as f64 * 100.0 / daily_budget(f.seats).max(1) as f64
            ),
        )
        .row(
            "file into store",
            format!(
                "{:.1} s with the dry run (not in secs), peak RSS then {:.1} MB",
                f.ingest_secs, f.ingest_rss_mb
            ),
        )
        .figure("rows", f.rows as f64, format!("{} persons", f.rows))
        .figure(
            "secs",
            f.secs,
            format!("{:.1} s from start to done", f.secs),
        )
        .figure(
            "floor_secs",
            f.floor_secs,
            format!(
                "{:.1} s floor (rows x calls / allowed rate); took {:.3}x",
                f.floor_secs,
                f.secs / f.floor_secs
            ),
        )
        .figure(
            "peak_rss_mb",
            f.peak_rss_mb,
            match f.sandbox_rss_mb {
                Some(sandbox) => format!(
                    "{:.1} MB peak RSS of the app's process (VmHWM); the sandbox's own process, \
                     which holds every person, peaked at {sandbox:.1} MB",
                    f.peak_rss_mb
                ),
                None => format!(
                    "{:.1} MB peak RSS (VmHWM; the in-process sandbox holds every person)",
                    f.peak_rss_mb
                ),
            },
        )
        .figure(
            "duplicates",
            f.duplicates as f64,
            format!("{} persons sharing an email", f.duplicates),
        );
    report
}

fn daily_budget(seats: u64) -> u64 {
    TOKENS_PER_SEAT * PLAN.multiplier() * seats
}

/// The calls per second the bulk lane may send in a window of `limit` calls per `window`: the
/// ledger's own share (rounded down to whole calls, at least one).
fn bulk_rate(limit: u32, share: f64, window: Duration) -> f64 {
    ((f64::from(limit) * share.clamp(0.0, 1.0)).floor()).max(1.0) / window.as_secs_f64()
}

/// Where the sandbox runs. Measurements put it in a child process, so this process's peak memory
/// is the app's alone; the tests run it in process (a test binary cannot start the bench's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SandboxPlace {
    ChildProcess,
    #[cfg_attr(not(test), allow(dead_code))]
    InProcess,
}

/// The whole run on `store` (migrated): a sandbox company sized for `rows`, the file, the
/// import under `policy`, the checks.
pub(crate) async fn measure(
    store: Arc<dyn Store>,
    rows: u64,
    policy: DuplicatePolicy,
    mirror_complete: bool,
    place: SandboxPlace,
) -> anyhow::Result<Figures> {
    let kind = ImportKind::Persons;
    let headers: Vec<String> = HEADERS.iter().map(|h| (*h).to_owned()).collect();
    let fields = target_fields(kind, &[]);
    let mapping = Mapping(suggest_mapping(kind, &headers, &fields));
    // With the mirror complete every row's lookup is answered there: no search is sent.
    let mirror = MirrorAnswers {
        persons: mirror_complete,
        organizations: mirror_complete,
        deals: mirror_complete,
    };
    let cost = likely_row_cost(kind, policy, &mapping, mirror);
    let ledger_config = StoreLedgerConfig::default();

    // Enough seats that the bulk lane's part of the daily budget (above the priority reserve)
    // covers every row: the run measures the burst pace, never a wait for the daily reset.
    let bulk_share_of_day = 1.0 - ledger_config.ledger.priority_reserve.clamp(0.0, 0.99);
    let per_seat = (daily_budget(1) as f64 * bulk_share_of_day).floor() as u64;
    let seats = (rows * cost.tokens).div_ceil(per_seat.max(1)) + 1;

    let ledger = &ledger_config.ledger;
    let calls_per_sec = bulk_rate(PLAN.oauth_burst(), ledger.bulk_window_share, ledger.window);
    let searches_per_sec = bulk_rate(ledger.search_limit, ledger.bulk_window_share, ledger.window);
    // Whichever window is the tighter sets the pace.
    let floor_secs = ((rows * cost.calls) as f64 / calls_per_sec)
        .max((rows * cost.searches) as f64 / searches_per_sec);

    let file = write_persons(rows)?;
    let env = Env::start(store.clone(), seats, ledger_config, place).await?;
    if mirror_complete {
        env.mirror_complete().await?;
    }

    let ingest_started = Instant::now();
    let upload = Upload {
        tenant_id: env.tenant.id,
        user_id: env.user,
        kind,
        file_name: "bench-persons.csv".into(),
    };
    let import = ingest_file(store.clone(), upload, file.path().to_owned()).await?;
    anyhow::ensure!(import.headers == headers, "headers {:?}", import.headers);
    let dry = control::dry_run(store.as_ref(), &import, &mapping, policy, &fields).await?;
    let ingest_secs = ingest_started.elapsed().as_secs_f64();
    let ingest_rss_mb = own_peak_rss_mb()?;
    drop(file);
    anyhow::ensure!(dry.invalid == 0, "the dry run refused rows: {dry:?}");
    let import = control::load(store.as_ref(), env.tenant.id, import.id).await?;

    let started = Instant::now();
    control::start(store.as_ref(), &import, "bench").await?;
    // Generous, but bounded: three times the floor and a minute.
    let limit = Duration::from_secs_f64(floor_secs * 3.0 + 60.0);
    let done = env.run_until_finished(&import, limit).await?;
    let secs = started.elapsed().as_secs_f64();
    env.ledger.shutdown().await?;
    anyhow::ensure!(
        done.state == ImportState::Done,
        "the import did not finish within {limit:?}: {} of {} rows done, state {}",
        done.done_rows,
        done.total_rows,
        done.state.as_str()
    );

    let peak_rss_mb = own_peak_rss_mb()?;
    let report = env
        .sandbox
        .duplicates(env.company, "persons", "email")
        .await?;
    Ok(Figures {
        rows,
        seats,
        policy,
        mirror_complete,
        searches_per_row: cost.searches,
        searches_per_sec,
        calls_per_row: cost.calls,
        tokens_per_row: cost.tokens,
        calls_per_sec,
        ingest_secs,
        ingest_rss_mb,
        secs,
        floor_secs,
        done_rows: done.done_rows,
        failed_rows: done.failed_rows,
        tokens_spent: done.tokens_spent,
        persons: report.records,
        duplicates: report.extra_records,
        peak_rss_mb,
        sandbox_rss_mb: env.sandbox.child_peak_rss_mb(),
    })
}

/// `rows` persons with distinct emails, written straight to a temporary file (never held whole).
fn write_persons(rows: u64) -> anyhow::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::NamedTempFile::new()?;
    {
        let mut out = BufWriter::new(file.as_file_mut());
        writeln!(out, "{}", HEADERS.join(","))?;
        for n in 1..=rows {
            writeln!(out, "Person {n},person{n}@bench.example.com")?;
        }
        out.flush()?;
    }
    Ok(file)
}

/// A sandbox company installed in the store, with the app's budgeted client and workflows.
struct Env {
    sandbox: SandboxLink,
    store: Arc<dyn Store>,
    ledger: Arc<StoreLedger>,
    workflows: Workflows,
    company: u64,
    user: UserId,
    tenant: Tenant,
}

impl Env {
    /// Makes the tenant's mirror known complete, as it is once the install's webhooks were
    /// checked active and its first reconcile sweep listed every kind (the company starts empty,
    /// so the empty mirror is the whole of it).
    async fn mirror_complete(&self) -> anyhow::Result<()> {
        let id = self.tenant.id;
        let registration = NewWebhookRegistration {
            tenant_id: id,
            path_token: "bench-import".into(),
            username: "bench-import".into(),
            credentials: vec![0; 16],
        };
        self.store
            .ensure_webhook_registration(&registration)
            .await?;
        let now = Utc::now();
        self.store
            .set_webhook_state(id, WebhookState::Active, now)
            .await?;
        for entity in PipedriveEntity::ALL {
            self.store
                .mark_mirror_listed(id, entity.as_str(), now)
                .await?;
        }
        Ok(())
    }

    async fn start(
        store: Arc<dyn Store>,
        seats: u64,
        ledger_config: StoreLedgerConfig,
        place: SandboxPlace,
    ) -> anyhow::Result<Self> {
        let config = SandboxConfig {
            apps: vec![AppSpec {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                callback_url: CALLBACK.into(),
                scopes: vec!["contacts:full".into(), "search:read".into()],
            }],
            companies: vec![CompanySpec {
                name: "Bench".into(),
                domain: "bench".into(),
                plan: PLAN,
                seats,
                daily_budget: None,
                burst_limit: None,
                users: vec![UserSpec {
                    name: "Ada".into(),
                    email: "ada@bench.test".into(),
                    is_admin: true,
                }],
            }],
            ..SandboxConfig::default()
        };
        let sandbox = match place {
            SandboxPlace::ChildProcess => SandboxLink::child_process(&config).await?,
            SandboxPlace::InProcess => SandboxLink::in_process(config).await?,
        };
        let company = sandbox.companies().await?.remove(0);
        let ledger = Arc::new(StoreLedger::new(store.clone(), ledger_config));
        ledger.spawn_flusher();
        let config = PipedriveConfig::new(
            sandbox.base_url().parse()?,
            CLIENT_ID,
            SecretString::from(CLIENT_SECRET),
            CALLBACK.parse()?,
        );
        let pd = Pipedrive::new(config, ledger.clone())?;
        let keys = Arc::new(KeyRing::generate("bench")?.0);
        let vault = TokenVault::new(store.clone(), keys.clone(), pd.oauth().clone());
        let hooks = WebhookSetup {
            keys: keys.clone(),
            public_url: "http://127.0.0.1:9".parse()?,
        };
        let user = UserId::new(i64::try_from(company.user_ids[0])?);
        let tenant = install(
            &sandbox,
            store.as_ref(),
            &pd,
            &keys,
            (company.id, &company.api_domain),
            user,
        )
        .await?;
        Ok(Self {
            workflows: Workflows::new(store.clone(), pd, vault, hooks),
            company: company.id,
            user,
            tenant,
            sandbox,
            store,
            ledger,
        })
    }

    /// Runs the app's worker (budget gate, default concurrency) until the import is no longer
    /// running or `limit` passed; returns the import as it then is.
    async fn run_until_finished(&self, import: &Import, limit: Duration) -> anyhow::Result<Import> {
        let registry = dealbridge_import::register(
            dealbridge_jobs::Registry::new(),
            self.store.clone(),
            self.workflows.clone(),
        );
        let gate = LedgerGate::new(
            self.store.clone(),
            self.ledger.clone(),
            GateConfig::default(),
        );
        let worker = Worker::builder(self.store.clone(), registry)
            .budget(Arc::new(gate))
            .build();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let watch = async {
            let deadline = Instant::now() + limit;
            let result = loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                match control::load(self.store.as_ref(), self.tenant.id, import.id).await {
                    Ok(current)
                        if current.state != ImportState::Running || Instant::now() > deadline =>
                    {
                        break Ok(current)
                    }
                    Ok(_) => {}
                    Err(e) => break Err(anyhow::Error::from(e)),
                }
            };
            let _ = stop.send(());
            result
        };
        let (report, current) = tokio::join!(
            worker.run(async {
                let _ = stopped.await;
            }),
            watch
        );
        report?;
        current
    }
}

/// The OAuth install as Pipedrive's consent page and our callback do it: approve, exchange the
/// code, seal the tokens, record the tenant.
async fn install(
    sandbox: &SandboxLink,
    store: &dyn Store,
    pd: &Pipedrive,
    keys: &KeyRing,
    (company, api_domain): (u64, &str),
    user: UserId,
) -> anyhow::Result<Tenant> {
    let redirect = sandbox
        .approve_install(CLIENT_ID, company, u64::try_from(user.get())?)
        .await?;
    let code = url::Url::parse(&redirect)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("no code in the callback")?;
    let set = pd.oauth().exchange_code(SecretString::from(code)).await?;
    let company_id = CompanyId::new(i64::try_from(company)?);
    let sealed = dealbridge_tokens::seal(
        keys,
        company_id,
        user,
        &set.access_token,
        &set.refresh_token.context("no refresh token")?,
        Utc::now() + chrono::Duration::hours(1),
    )?;
    let (tenant, _) = store
        .record_install(
            &NewTenant {
                company_id,
                company_name: "Bench".into(),
                company_domain: "bench".into(),
            },
            &NewInstallation {
                user_id: user,
                api_domain: api_domain.to_owned(),
                scopes: vec!["contacts:full".into(), "search:read".into()],
                tokens: sealed,
            },
            &NewAuditEntry {
                tenant_id: None,
                actor: "bench".into(),
                action: "install".into(),
                detail: serde_json::json!({}),
            },
            &[],
        )
        .await?;
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use dealbridge_storage::Maintenance;
    use dealbridge_storage_sql::SqliteStore;

    use super::*;

    /// The scenario end to end at 200 rows on SQLite: every row becomes one person, none twice,
    /// and the floor is the one the burst window sets.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_persons_are_imported_once_each() -> anyhow::Result<()> {
        let f = on_sqlite(200, DuplicatePolicy::Create, false).await?;
        assert_eq!(f.calls_per_row, 1, "create: one POST a row, no search");
        // 480 calls per 2 s, three quarters of it for the bulk lane: 180 calls/s.
        assert!((f.calls_per_sec - 180.0).abs() < 1e-9, "{f:?}");
        assert!((f.floor_secs - 200.0 / 180.0).abs() < 1e-9, "{f:?}");
        assert!(f.peak_rss_mb > 1.0, "{f:?}");
        report(&f).print();
        Ok(())
    }

    /// Under `skip` with the mirror not known complete every row searches first: the search
    /// window (7 of 10 per 2 s for bulk work) sets the floor, and the rows still end as one
    /// person each.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn skip_searches_each_row_at_the_search_windows_pace() -> anyhow::Result<()> {
        let f = on_sqlite(20, DuplicatePolicy::Skip, false).await?;
        assert_eq!((f.calls_per_row, f.searches_per_row), (2, 1));
        assert!((f.searches_per_sec - 3.5).abs() < 1e-9, "{f:?}");
        assert!((f.floor_secs - 20.0 / 3.5).abs() < 1e-9, "{f:?}");
        let search = cost("GET", "/api/v2/persons/search") + cost("POST", "/api/v2/persons");
        assert_eq!(
            f.tokens_spent,
            20 * search,
            "a search and a create a row: {f:?}"
        );
        Ok(())
    }

    /// Under `skip` with the mirror known complete, no row searches: the rows spend a create's
    /// tokens each, the burst window sets the floor, and each still ends as one person.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn skip_with_a_complete_mirror_sends_no_search() -> anyhow::Result<()> {
        let f = on_sqlite(200, DuplicatePolicy::Skip, true).await?;
        assert_eq!((f.calls_per_row, f.searches_per_row), (1, 0));
        assert!((f.floor_secs - 200.0 / 180.0).abs() < 1e-9, "{f:?}");
        assert_eq!(
            f.tokens_spent,
            200 * cost("POST", "/api/v2/persons"),
            "{f:?}"
        );
        Ok(())
    }

    /// The scenario on a fresh SQLite file with the sandbox in process; every row must have
    /// become exactly one person.
    async fn on_sqlite(
        rows: u64,
        policy: DuplicatePolicy,
        mirror_complete: bool,
    ) -> anyhow::Result<Figures> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("bench.sqlite").display());
        let store = SqliteStore::connect(&url, 4).await?;
        store.migrate().await?;
        let place = SandboxPlace::InProcess;
        let f = measure(Arc::new(store), rows, policy, mirror_complete, place).await?;
        assert_eq!(
            (f.done_rows, f.failed_rows, f.persons),
            (rows, 0, rows as usize)
        );
        assert_eq!(f.duplicates, 0);
        Ok(f)
    }

    fn cost(method: &str, path: &str) -> u64 {
        u64::from(dealbridge_pipedrive::costs::cost_of(method, path).unwrap_or(0))
    }
}

//! Three `dealbridge serve` processes on one Postgres database against one sandbox, with one set
//! of keys, as an operator scales out: installs land on different instances, access tokens expire
//! while all three work, and every company's burst window is small. The sandbox's own counters are
//! the judge: one refresh grant per installation per expiry, no 429 (the shared ledger kept every
//! window), and every job's effect exactly once.
//!
//! Runs when `TEST_POSTGRES_URL` is set; otherwise it is listed as ignored, with the reason printed.

mod helpers;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use dealbridge_core::installation::APP_SCOPES;
use dealbridge_core::{CompanyId, TenantId, UserId};
use dealbridge_sandbox::{AppSpec, CompanySpec, Control, Plan, SandboxConfig, UserSpec};
use dealbridge_storage::{Lane, NewJob};
use dealbridge_workflows::{ProvisionPayload, PROVISION_KIND};
use helpers::processes::{self, Instance};
use libtest_mimic::{Arguments, Failed, Trial};
use secrecy::ExposeSecret;

const URL_VAR: &str = "TEST_POSTGRES_URL";
const INSTANCES: usize = 3;
const CLIENT_ID: &str = "dealbridge-multi";
/// Requests per token per 2 s: small, so the wave of jobs after the expiry has to be spread over
/// several windows by the ledger the three instances share.
const BURST: u32 = 6;
/// Provision jobs enqueued per company after the tokens expired.
const WAVE: usize = 12;

fn main() {
    let args = Arguments::from_args();
    let url = std::env::var(URL_VAR).ok();
    if url.is_none() {
        eprintln!("multi-instance tests SKIPPED: {URL_VAR} is not set");
    }
    let trial = Trial::test(
        "instances::three_serve_processes_share_refresh_budget_and_jobs",
        move || run(three_instances(url.unwrap_or_default())),
    )
    .with_ignored_flag(std::env::var(URL_VAR).is_err());
    libtest_mimic::run(&args, vec![trial]).exit();
}

fn run(test: impl std::future::Future<Output = Result<(), Failed>>) -> Result<(), Failed> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?
        .block_on(test)
}

fn fail(context: &str, e: impl std::fmt::Display) -> Failed {
    Failed::from(format!("{context}: {e}"))
}

async fn three_instances(admin_url: String) -> Result<(), Failed> {
    let name = format!("dealbridge_instances_{}", uuid::Uuid::new_v4().simple());
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin_url);
    let database_url = format!("{base}/{name}");
    let dir = tempfile::tempdir().map_err(|e| fail("temporary folder", e))?;
    let outcome = scenario(&database_url, dir.path()).await;
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .map_err(|e| fail("admin connection", e))?;
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await
        .map_err(|e| fail("dropping the test database", e))?;
    outcome
}

struct Company {
    id: u64,
    user_id: u64,
    tenant_id: Option<TenantId>,
}

async fn scenario(database_url: &str, dir: &std::path::Path) -> Result<(), Failed> {
    let ports: Vec<u16> = (0..INSTANCES).map(|_| processes::free_port()).collect();
    // Behind a load balancer every instance has the same public URL; the test plays the balancer
    // by sending each browser to the instance it chose.
    let public_url = format!("http://127.0.0.1:{}", ports[0]);
    let client_secret = uuid::Uuid::new_v4().simple().to_string();
    let sandbox = dealbridge_sandbox::spawn(SandboxConfig {
        seed: 17,
        // A second refresh with a spent refresh token fails: a double refresh cannot hide.
        rotate_refresh_tokens: true,
        apps: vec![AppSpec {
            client_id: CLIENT_ID.into(),
            client_secret: client_secret.clone(),
            callback_url: format!("{public_url}/oauth/callback"),
            scopes: APP_SCOPES.iter().map(|s| (*s).to_string()).collect(),
        }],
        companies: (0..INSTANCES).map(company_spec).collect(),
        ..SandboxConfig::default()
    })
    .await
    .map_err(|e| fail("sandbox", e))?;
    let control = sandbox.control().clone();

    let env = shared_env(
        database_url,
        &public_url,
        sandbox.base_url(),
        &client_secret,
    )?;
    // The migration runs once, before the instances start (a Kubernetes Job does the same).
    let migrate = processes::dealbridge(dir, &env)
        .arg("migrate")
        .output()
        .map_err(|e| fail("dealbridge migrate", e))?;
    if !migrate.status.success() {
        return Err(fail(
            "dealbridge migrate",
            String::from_utf8_lossy(&migrate.stderr),
        ));
    }
    let mut instances = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        instances.push(processes::serve(dir, &format!("instance-{i}"), *port, &env).await);
    }
    let outcome = drive(&instances, &control, database_url).await;
    if outcome.is_err() {
        for (i, instance) in instances.iter().enumerate() {
            eprintln!("--- instance-{i} log ---\n{}", instance.log_text());
        }
    }
    drop(instances);
    sandbox.stop().await;
    outcome
}

fn company_spec(i: usize) -> CompanySpec {
    CompanySpec {
        name: format!("Company {i}"),
        domain: format!("multi{i}"),
        plan: Plan::Growth,
        seats: 3,
        daily_budget: None,
        burst_limit: Some(BURST),
        users: vec![UserSpec {
            name: format!("Admin {i}"),
            email: format!("admin@multi{i}.test"),
            is_admin: true,
        }],
    }
}

/// One set of keys and one Pipedrive app for every instance, as the env file template of the
/// Compose deployment gives them.
fn shared_env(
    database_url: &str,
    public_url: &str,
    sandbox_url: &str,
    client_secret: &str,
) -> Result<Vec<(String, String)>, Failed> {
    let keys = dealbridge_crypto::KeyRing::generate_entry("multi1")
        .map_err(|e| fail("encryption key", e))?;
    let mut session_key = [0u8; 64];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut session_key);
    let session_key = base64::engine::general_purpose::STANDARD.encode(session_key);
    Ok([
        ("DATABASE_URL", database_url),
        ("DEALBRIDGE_PUBLIC_URL", public_url),
        ("DEALBRIDGE_PIPEDRIVE_OAUTH_URL", sandbox_url),
        ("DEALBRIDGE_PIPEDRIVE_CLIENT_ID", CLIENT_ID),
        ("DEALBRIDGE_PIPEDRIVE_CLIENT_SECRET", client_secret),
        ("DEALBRIDGE_ENCRYPTION_KEYS", keys.expose_secret()),
        ("DEALBRIDGE_SESSION_KEY", &session_key),
        ("DEALBRIDGE_WORKER_CONCURRENCY", "4"),
        ("DEALBRIDGE_LOG_FORMAT", "json"),
        ("DEALBRIDGE_LOG", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect())
}

async fn drive(
    instances: &[Instance],
    control: &Control,
    database_url: &str,
) -> Result<(), Failed> {
    let mut companies: Vec<Company> = Vec::new();
    for (i, instance) in instances.iter().enumerate() {
        let info = control
            .companies()
            .into_iter()
            .find(|c| c.domain == format!("multi{i}"))
            .ok_or_else(|| Failed::from("sandbox company missing"))?;
        // Company i installs through instance i.
        install(instance, control, info.id, info.user_ids[0]).await?;
        companies.push(Company {
            id: info.id,
            user_id: info.user_ids[0],
            tenant_id: None,
        });
    }
    let mut settings =
        dealbridge_app::settings::Settings::defaults().map_err(|e| fail("settings", e))?;
    settings.database_url = database_url.to_string().into();
    settings.database_kind = dealbridge_app::settings::DatabaseKind::Postgres;
    settings.database_max_connections = 2;
    let store = dealbridge_app::store::open(&settings)
        .await
        .map_err(|e| fail("test store", e))?;
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(database_url)
        .await
        .map_err(|e| fail("test connection", e))?;
    // Each install enqueued its provisioning; the instances share it out.
    wait_for_jobs(&mut db).await?;

    // Every access token expires at once, at Pipedrive, while the instances hold them as valid.
    control.clear_calls();
    control.advance(Duration::from_secs(3_600));
    for company in &mut companies {
        let tenant = store
            .tenant_by_company(CompanyId::new(company.id as i64))
            .await
            .map_err(|e| fail("tenant lookup", e))?
            .ok_or_else(|| Failed::from("no tenant after install"))?;
        company.tenant_id = Some(tenant.id);
        let payload = serde_json::to_value(ProvisionPayload {
            user_id: UserId::new(company.user_id as i64),
        })
        .map_err(|e| fail("payload", e))?;
        for _ in 0..WAVE {
            let job = NewJob::new(PROVISION_KIND, payload.clone())
                .tenant(tenant.id)
                .lane(Lane::Realtime);
            store.enqueue(&job).await.map_err(|e| fail("enqueue", e))?;
        }
    }
    wait_for_jobs(&mut db).await?;
    check_refreshes(control, &companies)?;
    check_budgets(control, &companies)?;
    check_jobs_ran_once(&mut db, instances, &companies).await
}

/// The browser starts on `instance`, the user approves in the sandbox, and the callback goes back
/// to the same instance (the balancer's choice), whatever the public URL's port.
async fn install(
    instance: &Instance,
    control: &Control,
    company_id: u64,
    user_id: u64,
) -> Result<(), Failed> {
    let browser = helpers::browser();
    let start = browser
        .get(format!("{}/install", instance.address))
        .send()
        .await
        .map_err(|e| fail("install", e))?;
    let location = start
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| url::Url::parse(v).ok())
        .ok_or_else(|| Failed::from(format!("/install answered {}", start.status())))?;
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned());
    let callback = control
        .approve_install(CLIENT_ID, company_id, user_id, state.as_deref())
        .map_err(|e| fail("approve", e))?;
    let mut callback = url::Url::parse(&callback).map_err(|e| fail("callback URL", e))?;
    let port = url::Url::parse(&instance.address)
        .ok()
        .and_then(|u| u.port());
    callback
        .set_port(port)
        .map_err(|()| Failed::from("callback port"))?;
    let back = browser
        .get(callback)
        .send()
        .await
        .map_err(|e| fail("callback", e))?;
    if back.status() != 303 {
        let status = back.status();
        let body = back.text().await.unwrap_or_default();
        return Err(format!("the callback answered {status}: {body}").into());
    }
    Ok(())
}

/// Waits until no provisioning job is left; a dead one fails the test at once.
async fn wait_for_jobs(db: &mut sqlx::PgConnection) -> Result<(), Failed> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (left, dead): (i64, i64) = sqlx::query_as(
            "select count(*), count(*) filter (where state = 'dead') from jobs where kind = $1",
        )
        .bind(PROVISION_KIND)
        .fetch_one(&mut *db)
        .await
        .map_err(|e| fail("counting jobs", e))?;
        if dead > 0 {
            let errors: Vec<(Option<String>,)> =
                sqlx::query_as("select last_error from jobs where state = 'dead'")
                    .fetch_all(&mut *db)
                    .await
                    .unwrap_or_default();
            return Err(format!("{dead} jobs went dead: {errors:?}").into());
        }
        if left == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{left} provisioning jobs still queued after 120 s").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// After one expiry each installation's tokens were refreshed exactly once, by whichever instance
/// took the lease: every other caller on every instance waited for it and used its result.
fn check_refreshes(control: &Control, companies: &[Company]) -> Result<(), Failed> {
    let grants = control
        .calls(None)
        .into_iter()
        .filter(|c| c.path == "/oauth/token")
        .collect::<Vec<_>>();
    if let Some(bad) = grants.iter().find(|c| c.status != 200) {
        return Err(format!("a refresh failed: {bad:?}").into());
    }
    // The expiry was real: Pipedrive refused the old access tokens (a refused token names no
    // company in the call log, so they are counted together).
    let rejected = control
        .calls(None)
        .iter()
        .filter(|c| c.status == 401)
        .count();
    if rejected < companies.len() {
        return Err(format!("only {rejected} calls met an expired token").into());
    }
    eprintln!("{rejected} calls met an expired token");
    let mut per_company: BTreeMap<Option<u64>, usize> = BTreeMap::new();
    for grant in &grants {
        *per_company.entry(grant.company_id).or_default() += 1;
    }
    let expected: BTreeMap<Option<u64>, usize> =
        companies.iter().map(|c| (Some(c.id), 1)).collect();
    if per_company != expected {
        return Err(format!(
            "refresh grants per company {per_company:?}, expected one each {expected:?}"
        )
        .into());
    }
    Ok(())
}

/// Three instances spent from one burst window per token and one daily budget per company: the
/// sandbox refused nothing, and what it charged is what it answered.
fn check_budgets(control: &Control, companies: &[Company]) -> Result<(), Failed> {
    for company in companies {
        let calls = control.calls(Some(company.id));
        let refused = calls.iter().filter(|c| c.status == 429).count();
        if refused > 0 {
            return Err(format!(
                "company {}: {refused} calls over the burst window of {BURST}",
                company.id
            )
            .into());
        }
        let budget = control
            .budget(company.id)
            .map_err(|e| fail("sandbox budget", e))?;
        if budget.used > budget.daily_budget {
            return Err(format!("company {}: budget overrun {budget:?}", company.id).into());
        }
        let answered: Vec<i64> = calls
            .iter()
            .filter(|c| c.path.contains("/api/") && c.status == 200)
            .map(|c| c.time_ms)
            .collect();
        // The window was binding: the wave needed more than one window's worth of calls.
        let busiest = answered
            .iter()
            .map(|start| {
                answered
                    .iter()
                    .filter(|t| (*start..*start + 2_000).contains(*t))
                    .count()
            })
            .max()
            .unwrap_or(0);
        eprintln!(
            "company {}: {} calls answered, at most {busiest} in 2 s",
            company.id,
            answered.len()
        );
        let api_calls = answered.len();
        if api_calls < WAVE {
            return Err(format!(
                "company {}: only {api_calls} API calls for {WAVE} jobs",
                company.id
            )
            .into());
        }
    }
    Ok(())
}

/// Each provisioning run records one audit entry on success and logs one line on the instance
/// that ran it: both count install plus wave, per tenant and in total.
async fn check_jobs_ran_once(
    db: &mut sqlx::PgConnection,
    instances: &[Instance],
    companies: &[Company],
) -> Result<(), Failed> {
    for company in companies {
        let tenant = company
            .tenant_id
            .ok_or_else(|| Failed::from("tenant unknown"))?;
        let (runs,): (i64,) = sqlx::query_as(
            "select count(*) from audit_log where tenant_id = $1 and action = 'install.provisioned'",
        )
        .bind(tenant.as_uuid())
        .fetch_one(&mut *db)
        .await
        .map_err(|e| fail("counting runs", e))?;
        if runs != 1 + WAVE as i64 {
            return Err(format!(
                "company {}: {runs} provisioning runs recorded, expected {}",
                company.id,
                1 + WAVE
            )
            .into());
        }
    }
    let per_instance: Vec<usize> = instances
        .iter()
        .map(|i| i.log_text().matches("install provisioned").count())
        .collect();
    let total: usize = per_instance.iter().sum();
    let expected = companies.len() * (1 + WAVE);
    if total != expected {
        return Err(format!(
            "instances logged {per_instance:?} runs, {total} in all, expected {expected}"
        )
        .into());
    }
    eprintln!("runs per instance: {per_instance:?}");
    Ok(())
}

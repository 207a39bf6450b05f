//! The workflow settings page through the real routes, against the sandbox Pipedrive: two
//! installed companies, a browser per user signed in through Pipedrive's settings iframe. Every
//! trial runs on SQLite, and on Postgres when `TEST_POSTGRES_URL` is set (listed as ignored
//! otherwise).

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use chrono::Utc;
use dealbridge_budget::{StoreLedger, StoreLedgerConfig};
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::installation::{NewInstallation, APP_SCOPES};
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::workflow_settings::WorkflowSettings;
use dealbridge_core::{CompanyId, UserId};
use dealbridge_crypto::KeyRing;
use dealbridge_pipedrive::ledger::BudgetLedger;
use dealbridge_pipedrive::{Pipedrive, PipedriveConfig};
use dealbridge_sandbox::{AppSpec, CompanySpec, Plan, SandboxConfig, SandboxHandle, UserSpec};
use dealbridge_storage::{Maintenance, Store};
use dealbridge_storage_sql::{PgStore, SqliteStore};
use dealbridge_web::{AppIdentity, AppState, ConsoleState, StateSigner, Templates};
use libtest_mimic::{Arguments, Failed, Trial};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

const URL_VAR: &str = "TEST_POSTGRES_URL";
const CLIENT_ID: &str = "dealbridge-settings-test";
const CLIENT_SECRET: &str = "settings-test-secret";
const JWT_SECRET: &str = "settings-iframe-jwt-secret";
const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";

type Scenario = fn(Arc<dyn Store>) -> Pin<Box<dyn Future<Output = anyhow::Result<()>>>>;

fn main() {
    let args = Arguments::from_args();
    let url = std::env::var(URL_VAR).ok();
    if url.is_none() {
        eprintln!("postgres settings tests SKIPPED: {URL_VAR} is not set");
    }
    let scenarios: [(&str, Scenario); 7] = [
        (
            "the_page_offers_the_companys_real_pipelines_and_stages",
            |s| Box::pin(page_offers_real_choices(s)),
        ),
        (
            "unknown_and_foreign_stages_are_refused_with_the_message",
            |s| Box::pin(bad_stages_are_refused(s)),
        ),
        (
            "a_valid_save_is_versioned_audited_and_sets_the_budget",
            |s| Box::pin(valid_save(s)),
        ),
        ("a_stale_save_conflicts_and_keeps_the_form", |s| {
            Box::pin(stale_save(s))
        }),
        ("another_tenant_cannot_read_or_save_these_settings", |s| {
            Box::pin(tenants_are_apart(s))
        }),
        ("the_iframe_page_needs_a_valid_pipedrive_jwt", |s| {
            Box::pin(iframe_page(s))
        }),
        (
            "without_the_users_scope_the_page_says_why_and_saves_nothing",
            |s| Box::pin(missing_scope(s)),
        ),
    ];
    let mut trials = Vec::new();
    for (name, scenario) in scenarios {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            run(async move { scenario(sqlite().await?).await })
        }));
        let given = url.clone();
        trials.push(
            Trial::test(format!("postgres::{name}"), move || {
                let url = given.unwrap_or_default();
                run(async move {
                    let (store, db) = fresh_database(&url).await?;
                    let outcome = scenario(Arc::new(store)).await;
                    drop_database(&url, &db).await?;
                    outcome
                })
            })
            .with_ignored_flag(url.is_none()),
        );
    }
    libtest_mimic::run(&args, trials).exit();
}

fn run(test: impl Future<Output = anyhow::Result<()>>) -> Result<(), Failed> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?
        .block_on(test)
        .map_err(|e| Failed::from(format!("{e:#}")))
}

async fn sqlite() -> anyhow::Result<Arc<dyn Store>> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::connect(&format!("sqlite://{}/s.db", dir.path().display()), 4).await?;
    store.migrate().await?;
    // The directory must outlive the store: leak it for the test's lifetime.
    std::mem::forget(dir);
    Ok(Arc::new(store))
}

fn base_of(url: &str) -> &str {
    url.rsplit_once('/').map(|(base, _)| base).unwrap_or(url)
}

async fn fresh_database(admin_url: &str) -> anyhow::Result<(PgStore, String)> {
    let name = format!("dealbridge_settings_test_{}", Uuid::new_v4().simple());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url).await?;
    sqlx::query(&format!("create database {name}"))
        .execute(&mut admin)
        .await?;
    let store = PgStore::connect(&format!("{}/{name}", base_of(admin_url)), 8).await?;
    store.migrate().await?;
    Ok((store, name))
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url).await?;
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await?;
    Ok(())
}

/// One installed company: its tenant and the installing user.
struct Company {
    id: u64,
    user: u64,
    tenant: Tenant,
}

/// The sandbox with two companies, the app on a real port, both companies installed.
struct Env {
    sandbox: SandboxHandle,
    store: Arc<dyn Store>,
    /// The store-backed ledger the app runs with: limits set through it are in the store.
    ledger: Arc<StoreLedger>,
    base: String,
    acme: Company,
    globex: Company,
    server: actix_web::dev::ServerHandle,
}

fn company_spec(name: &str, domain: &str, users: &[&str]) -> CompanySpec {
    CompanySpec {
        name: name.into(),
        domain: domain.into(),
        plan: Plan::Growth,
        seats: 5,
        daily_budget: None,
        burst_limit: None,
        users: users
            .iter()
            .map(|u| UserSpec {
                name: (*u).into(),
                email: format!("{}@{domain}.test", u.to_lowercase()),
                is_admin: true,
            })
            .collect(),
    }
}

impl Env {
    async fn start(store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let sandbox = dealbridge_sandbox::spawn(SandboxConfig {
            apps: vec![AppSpec {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                callback_url: CALLBACK.into(),
                scopes: APP_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            }],
            companies: vec![
                company_spec("Acme", "acme", &["Ada", "Grace", "Linus"]),
                company_spec("Globex", "globex", &["Hank"]),
            ],
            ..SandboxConfig::default()
        })
        .await?;
        let ledger = Arc::new(StoreLedger::new(
            store.clone(),
            StoreLedgerConfig::default(),
        ));
        ledger.spawn_flusher();
        let pd = Pipedrive::new(
            PipedriveConfig::new(
                sandbox.base_url().parse()?,
                CLIENT_ID,
                SecretString::from(CLIENT_SECRET),
                CALLBACK.parse()?,
            ),
            ledger.clone(),
        )?;
        let keys = Arc::new(KeyRing::generate("k1")?.0);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let state = AppState {
            store: store.clone(),
            templates: Templates::load(false)?,
            pipedrive: pd.clone(),
            keys: keys.clone(),
            app: Arc::new(AppIdentity {
                client_id: CLIENT_ID.into(),
                client_secret: SecretString::from(CLIENT_SECRET),
                jwt_secret: SecretString::from(JWT_SECRET),
                public_url: base.parse()?,
                sandbox_url: None,
            }),
            states: StateSigner::new(&[7; 64]),
            console: Arc::new(ConsoleState::new(None)),
            session_max_age: Duration::from_secs(3600),
            api2cart: None,
            demo_store: None,
            choices: Arc::default(),
            installer_names: Arc::default(),
            private: None,
        };
        let data = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(dealbridge_web::security_headers(false))
                .wrap(dealbridge_web::session_middleware(&[9; 64], false))
                .configure(dealbridge_web::configure)
        })
        .workers(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        let acme = install(&sandbox, &store, &pd, &keys, 0).await?;
        let globex = install(&sandbox, &store, &pd, &keys, 1).await?;
        Ok(Self {
            sandbox,
            store,
            ledger,
            base,
            acme,
            globex,
            server: handle,
        })
    }

    /// Adds a pipeline with one stage to Acme's Pipedrive, as its admin would (creating
    /// pipelines needs the `admin` scope, which the app does not ask for); returns the pipeline's
    /// and the stage's ids.
    async fn add_pipeline(&self, name: &str, stage: &str) -> anyhow::Result<(u64, u64)> {
        let grant = self
            .sandbox
            .control()
            .mint_token(self.acme.id, None, vec![])?;
        let http = reqwest::Client::new();
        let create = |path: &str, body: serde_json::Value| {
            http.post(format!("{}/api/v2/{path}", grant.api_domain))
                .bearer_auth(&grant.access_token)
                .json(&body)
                .send()
        };
        let pipeline: serde_json::Value = create("pipelines", json!({ "name": name }))
            .await?
            .error_for_status()?
            .json()
            .await?;
        let pipeline_id = pipeline["data"]["id"].as_u64().context("pipeline id")?;
        let body = json!({ "name": stage, "pipeline_id": pipeline_id });
        let stage: serde_json::Value = create("stages", body)
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok((
            pipeline_id,
            stage["data"]["id"].as_u64().context("stage id")?,
        ))
    }

    /// A browser signed in through the settings iframe as `company`'s installing user, and the
    /// page that answered.
    async fn signed_in(&self, company: &Company) -> anyhow::Result<(reqwest::Client, String)> {
        let browser = browser();
        let token = jwt(company.id, company.user, JWT_SECRET);
        let answer = browser.get(self.iframe_url(company, &token)).send().await?;
        anyhow::ensure!(
            answer.status() == 200,
            "iframe sign-in: {}",
            answer.status()
        );
        Ok((browser, answer.text().await?))
    }

    fn iframe_url(&self, company: &Company, token: &str) -> String {
        format!(
            "{}/pipedrive/settings?token={token}&companyId={}&userId={}&id=sdk-runtime-1",
            self.base, company.id, company.user
        )
    }

    async fn stop(self) {
        self.server.stop(true).await;
        self.sandbox.stop().await;
    }
}

/// Installs the sandbox's company `index` through its OAuth, recorded as the callback does.
async fn install(
    sandbox: &SandboxHandle,
    store: &Arc<dyn Store>,
    pd: &Pipedrive,
    keys: &KeyRing,
    index: usize,
) -> anyhow::Result<Company> {
    let info = sandbox.control().companies().remove(index);
    let (company, user) = (info.id, info.user_ids[0]);
    let redirect = sandbox
        .control()
        .approve_install(CLIENT_ID, company, user, None)?;
    let code = url::Url::parse(&redirect)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("no code")?;
    let set = pd.oauth().exchange_code(SecretString::from(code)).await?;
    let company_id = CompanyId::new(i64::try_from(company)?);
    let sealed = dealbridge_tokens::seal(
        keys,
        company_id,
        user_id(user),
        &set.access_token,
        &set.refresh_token.context("no refresh token")?,
        Utc::now() + chrono::Duration::hours(1),
    )?;
    let (tenant, _) = store
        .record_install(
            &NewTenant {
                company_id,
                company_name: info.name.clone(),
                company_domain: info.domain.clone(),
            },
            &NewInstallation {
                user_id: user_id(user),
                api_domain: info.api_domain.clone(),
                scopes: APP_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                tokens: sealed,
            },
            &NewAuditEntry {
                tenant_id: None,
                actor: "test".into(),
                action: "install".into(),
                detail: json!({}),
            },
            &[],
        )
        .await?;
    Ok(Company {
        id: company,
        user,
        tenant,
    })
}

fn user_id(user: u64) -> UserId {
    UserId::new(i64::try_from(user).unwrap_or(i64::MAX))
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

fn jwt(company: u64, user: u64, secret: &str) -> String {
    let now = Utc::now().timestamp();
    // A `jti` of its own: each token signs in once, and two browsers may sign in in one second.
    let claims = json!({
        "companyId": company, "userId": user, "exp": now + 300, "iat": now,
        "jti": Uuid::new_v4().to_string(),
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

/// The value of the page's hidden input `name`.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    page.split_once(&marker)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(value, _)| value.to_owned())
        .unwrap_or_default()
}

/// A complete, valid form for Acme, based on the version `page` shows.
fn form(page: &str, pipeline: u64, stage: u64) -> Vec<(String, String)> {
    let pairs = [
        ("csrf", hidden(page, "csrf")),
        ("version", hidden(page, "version")),
        ("sdk_id", hidden(page, "sdk_id")),
        ("pipeline_id", pipeline.to_string()),
        ("stage_id", stage.to_string()),
        ("owner_id", String::new()),
        ("activity_type", "meeting".into()),
        ("activity_due_days", "3".into()),
        ("signup_deal_title", "{name} joined {company}".into()),
        ("order_deal_title", "Order {order} at {store}".into()),
        ("status_0", "shipped".into()),
        ("target_0", format!("stage:{stage}")),
        ("status_1", "refunded".into()),
        ("target_1", "lost".into()),
        ("source_event_api", "on".into()),
        ("source_shopify", "on".into()),
        ("plan", "growth".into()),
        ("seats", String::new()),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn with(mut form: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    form.retain(|(k, _)| k != name);
    form.push((name.to_owned(), value.to_owned()));
    form
}

async fn post(
    env: &Env,
    browser: &reqwest::Client,
    form: &[(String, String)],
) -> anyhow::Result<(u16, String, Option<String>)> {
    let answer = browser
        .post(format!("{}/dashboard/settings", env.base))
        .form(form)
        .send()
        .await?;
    let status = answer.status().as_u16();
    let location = answer
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((status, answer.text().await?, location))
}

async fn get(env: &Env, browser: &reqwest::Client) -> anyhow::Result<(u16, String)> {
    let answer = browser
        .get(format!("{}/dashboard/settings", env.base))
        .send()
        .await?;
    Ok((answer.status().as_u16(), answer.text().await?))
}

async fn saved(env: &Env, company: &Company) -> anyhow::Result<Option<(i64, WorkflowSettings)>> {
    let saved = env.store.settings(company.tenant.id).await?;
    saved
        .map(|s| Ok((s.version, WorkflowSettings::from_body(Some(&s.body))?)))
        .transpose()
}

async fn page_offers_real_choices(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let env = Env::start(store).await?;
    let (renewals, due) = env.add_pipeline("Renewals", "Renewal due").await?;
    let (browser, _) = env.signed_in(&env.acme).await?;
    let (status, page) = get(&env, &browser).await?;
    anyhow::ensure!(status == 200, "status {status}: {page}");
    // A new Pipedrive account's pipeline and five stages, and the one added above.
    for text in [
        r#"<optgroup label="Pipeline">"#,
        ">Qualified<",
        ">Contact Made<",
        &format!(r#"<option value="{renewals}">Renewals</option>"#),
        &format!(r#"<option value="{due}">Renewal due</option>"#),
        ">Grace<",
        ">Linus<",
        r#"<option value="meeting">Meeting</option>"#,
        "{customer}",
        "{company}",
        // Three active users counted, no plan saved yet: unknown until a plan is given.
        "learned from Pipedrive",
    ] {
        anyhow::ensure!(page.contains(text), "page lacks {text}: {page}");
    }
    // The choices are read once and then served from the cache: four list calls in all.
    let lists = || {
        env.sandbox
            .control()
            .calls(None)
            .iter()
            .filter(|c| {
                c.method == "GET"
                    && ["/pipelines", "/stages", "/users", "/activityTypes"]
                        .iter()
                        .any(|p| c.path.ends_with(p))
            })
            .count()
    };
    let before = lists();
    get(&env, &browser).await?;
    anyhow::ensure!(lists() == before, "a second view read Pipedrive again");
    anyhow::ensure!(before == 4, "{before} list calls for one page");
    env.stop().await;
    Ok(())
}

async fn bad_stages_are_refused(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let env = Env::start(store).await?;
    let (renewals, due) = env.add_pipeline("Renewals", "Renewal due").await?;
    let (browser, page) = env.signed_in(&env.acme).await?;
    let unknown = with(form(&page, 1, 2), "stage_id", "9999");
    let (status, answer, _) = post(&env, &browser, &unknown).await?;
    anyhow::ensure!(status == 422, "unknown stage: {status}");
    anyhow::ensure!(
        answer.contains("Stage 9999 does not exist in your Pipedrive."),
        "{answer}"
    );
    // Nothing typed is lost: the refused form shows the other fields as posted.
    anyhow::ensure!(answer.contains("{name} joined {company}"), "{answer}");
    anyhow::ensure!(
        answer.contains("9999 (not found in your Pipedrive)"),
        "{answer}"
    );

    let foreign = form(&page, 1, due);
    let (status, answer, _) = post(&env, &browser, &foreign).await?;
    anyhow::ensure!(status == 422, "stage of another pipeline: {status}");
    anyhow::ensure!(
        answer.contains("This stage belongs to the pipeline \u{201c}Renewals\u{201d}, not to \u{201c}Pipeline\u{201d}"),
        "{answer}"
    );
    let mapped = with(form(&page, renewals, due), "target_0", "stage:4242");
    let (status, answer, _) = post(&env, &browser, &mapped).await?;
    anyhow::ensure!(
        status == 422 && answer.contains("Stage 4242 does not exist"),
        "{status}: {answer}"
    );
    let over = with(form(&page, renewals, due), "seats", "0");
    let over = with(over, "owner_id", "777");
    let (status, answer, _) = post(&env, &browser, &over).await?;
    anyhow::ensure!(status == 422, "{status}");
    anyhow::ensure!(
        answer.contains("from 1 to 10000") && answer.contains("User 777 is not"),
        "{answer}"
    );
    anyhow::ensure!(
        saved(&env, &env.acme).await?.is_none(),
        "a refused form saved"
    );
    let forged = with(form(&page, 1, 2), "csrf", "forged");
    let (status, _, _) = post(&env, &browser, &forged).await?;
    anyhow::ensure!(status == 403, "a forged CSRF token: {status}");
    env.stop().await;
    Ok(())
}

async fn valid_save(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let env = Env::start(store).await?;
    let (renewals, due) = env.add_pipeline("Renewals", "Renewal due").await?;
    let (browser, page) = env.signed_in(&env.acme).await?;
    let (status, _, location) = post(&env, &browser, &form(&page, renewals, due)).await?;
    anyhow::ensure!(status == 303, "save: {status}");
    anyhow::ensure!(
        location.as_deref() == Some("/dashboard/settings?saved=1&id=sdk-runtime-1"),
        "back into the iframe page: {location:?}"
    );
    let (version, settings) = saved(&env, &env.acme).await?.context("saved")?;
    anyhow::ensure!(version == 1, "version {version}");
    anyhow::ensure!(settings.pipeline_id == Some(renewals) && settings.stage_id == Some(due));
    anyhow::ensure!(settings.activity_type == "meeting" && settings.activity_due_days == 3);
    anyhow::ensure!(!settings.sources.woocommerce && settings.sources.shopify);
    // Growth, seats not given: Acme's three active users are the seats.
    let company = dealbridge_pipedrive::CompanyId(env.acme.id);
    let status = env.ledger.status(company).await?;
    anyhow::ensure!(status.daily_limit == Some(180_000), "{status:?}");
    let (_, page) = get(&env, &browser).await?;
    anyhow::ensure!(page.contains("<strong>180000 tokens</strong>"), "{page}");

    let seats = with(form(&page, renewals, due), "seats", "5");
    let (status, _, _) = post(&env, &browser, &seats).await?;
    anyhow::ensure!(status == 303, "second save: {status}");
    anyhow::ensure!(env.ledger.status(company).await?.daily_limit == Some(300_000));
    let audit = env.store.audit_log(Some(env.acme.tenant.id), 10).await?;
    let saves: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "settings.saved")
        .collect();
    anyhow::ensure!(saves.len() == 2, "{audit:?}");
    let latest = &saves[0];
    anyhow::ensure!(
        latest.actor == format!("pipedrive_user:{}", env.acme.user),
        "{latest:?}"
    );
    anyhow::ensure!(
        latest.detail["version"] == 2 && latest.detail["based_on"] == 1,
        "{latest:?}"
    );
    anyhow::ensure!(latest.detail["changed"] == json!(["seats"]), "{latest:?}");
    let first = &saves[1];
    anyhow::ensure!(
        first.detail["changed"]
            .as_array()
            .is_some_and(|c| c.contains(&json!("pipeline_id"))),
        "{first:?}"
    );
    let history = env.store.settings_history(env.acme.tenant.id, 10).await?;
    anyhow::ensure!(history.len() == 2, "two versions kept");
    env.stop().await;
    Ok(())
}

async fn stale_save(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let env = Env::start(store).await?;
    let (ada, page_a) = env.signed_in(&env.acme).await?;
    // A second admin opens the same form (same version) in another browser.
    let (other, page_b) = env.signed_in(&env.acme).await?;
    let (status, _, _) = post(&env, &ada, &form(&page_a, 1, 2)).await?;
    anyhow::ensure!(status == 303, "first save: {status}");
    let late = with(form(&page_b, 1, 3), "signup_deal_title", "Late {name}");
    let (status, answer, _) = post(&env, &other, &late).await?;
    anyhow::ensure!(status == 409, "stale save: {status}");
    anyhow::ensure!(
        answer.contains("Someone else saved these settings (now version 1)"),
        "{answer}"
    );
    anyhow::ensure!(answer.contains("reload"), "{answer}");
    anyhow::ensure!(answer.contains("Late {name}"), "the form kept: {answer}");
    let (version, settings) = saved(&env, &env.acme).await?.context("saved")?;
    anyhow::ensure!(
        version == 1 && settings.stage_id == Some(2),
        "not overwritten"
    );
    env.stop().await;
    Ok(())
}

async fn tenants_are_apart(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let env = Env::start(store).await?;
    let (_, due) = env.add_pipeline("Renewals", "Renewal due").await?;
    let (acme, page) = env.signed_in(&env.acme).await?;
    let secret_title = with(form(&page, 1, 2), "signup_deal_title", "Acme only {name}");
    anyhow::ensure!(post(&env, &acme, &secret_title).await?.0 == 303);

    let (globex, page) = env.signed_in(&env.globex).await?;
    anyhow::ensure!(!page.contains("Acme only"), "Globex sees Acme's settings");
    anyhow::ensure!(!page.contains("Renewal due"), "Globex sees Acme's stages");
    anyhow::ensure!(
        hidden(&page, "version").is_empty(),
        "Globex sees Acme's version"
    );
    // Acme's stage is not Globex's: its own Pipedrive decides.
    let (status, answer, _) = post(&env, &globex, &form(&page, 1, due)).await?;
    anyhow::ensure!(
        status == 422 && answer.contains(&format!("Stage {due} does not exist")),
        "{status}"
    );
    // Posting Acme's version number saves into Globex's own settings, never Acme's.
    let claimed = with(form(&page, 1, 2), "version", "1");
    let (status, _, _) = post(&env, &globex, &claimed).await?;
    anyhow::ensure!(status == 409, "a version Globex never had: {status}");
    let (status, _, _) = post(&env, &globex, &form(&page, 1, 2)).await?;
    anyhow::ensure!(status == 303, "Globex's own save: {status}");
    let (version, settings) = saved(&env, &env.acme).await?.context("acme")?;
    anyhow::ensure!(version == 1 && settings.signup_deal_title == "Acme only {name}");
    let (version, settings) = saved(&env, &env.globex).await?.context("globex")?;
    anyhow::ensure!(version == 1 && settings.signup_deal_title == "{name} joined {company}");
    env.stop().await;
    Ok(())
}

async fn iframe_page(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let env = Env::start(store).await?;
    let browser = browser();
    let token = jwt(env.acme.id, env.acme.user, JWT_SECRET);
    let answer = browser
        .get(env.iframe_url(&env.acme, &token))
        .send()
        .await?;
    anyhow::ensure!(answer.status() == 200, "valid JWT: {}", answer.status());
    let csp = answer
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    anyhow::ensure!(
        csp.contains("frame-ancestors 'self' https://*.pipedrive.com"),
        "{csp}"
    );
    let page = answer.text().await?;
    for text in [
        r#"<script src="/static/vendor/app-extensions-sdk/index.umd.js"></script>"#,
        r#"<script src="/static/settings-iframe.js"></script>"#,
        r#"data-identifier="sdk-runtime-1""#,
        r#"name="sdk_id" value="sdk-runtime-1""#,
        r#"name="stage_id""#,
    ] {
        anyhow::ensure!(page.contains(text), "iframe page lacks {text}: {page}");
    }
    anyhow::ensure!(
        !page.contains("<script>"),
        "an inline script the CSP would block"
    );
    for script in [
        "vendor/app-extensions-sdk/index.umd.js",
        "settings-iframe.js",
    ] {
        let served = browser
            .get(format!("{}/static/{script}", env.base))
            .send()
            .await?;
        anyhow::ensure!(served.status() == 200, "{script}: {}", served.status());
    }
    let sdk = browser
        .get(format!(
            "{}/static/vendor/app-extensions-sdk/index.umd.js",
            env.base
        ))
        .send()
        .await?
        .text()
        .await?;
    anyhow::ensure!(
        sdk.contains("AppExtensionsSDK") && sdk.contains("initialize"),
        "the SDK's browser build"
    );

    // Refused: a token signed with another secret, an expired one, one for another company.
    let now = Utc::now().timestamp();
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "companyId": env.acme.id, "userId": env.acme.user, "exp": now - 60 }),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )?;
    for (token, what) in [
        (jwt(env.acme.id, env.acme.user, "not-the-secret"), "forged"),
        (expired, "expired"),
        (
            jwt(env.globex.id, env.globex.user, JWT_SECRET),
            "another company's",
        ),
        ("not-a-jwt".to_owned(), "garbage"),
    ] {
        let stranger = self::browser();
        let answer = stranger
            .get(env.iframe_url(&env.acme, &token))
            .send()
            .await?;
        let status = answer.status().as_u16();
        anyhow::ensure!(status == 401 || status == 403, "{what} token: {status}");
        let body = answer.text().await?;
        anyhow::ensure!(
            !body.contains(r#"name="stage_id""#),
            "{what} token showed the form"
        );
        let (status, _) = get(&env, &stranger).await?;
        anyhow::ensure!(status == 401, "{what} token signed in: {status}");
    }
    env.stop().await;
    Ok(())
}

async fn missing_scope(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let env = Env::start(store).await?;
    // Globex's Pipedrive no longer honours users:read (as for an installation made before the
    // app asked for it).
    env.sandbox.control().set_faults(
        Some(env.globex.id),
        dealbridge_sandbox::FaultSpec {
            deny_scopes: vec!["users:read".into()],
            ..Default::default()
        },
    );
    let (globex, page) = env.signed_in(&env.globex).await?;
    anyhow::ensure!(
        page.contains("lacks a permission the settings need")
            && page.contains("Install Dealbridge again"),
        "{page}"
    );
    anyhow::ensure!(
        !page.contains(r#"name="stage_id""#),
        "a form without its choices"
    );
    let posted = with(
        form(&page, 1, 2),
        "csrf",
        &hidden_csrf(&env, &globex).await?,
    );
    let (status, answer, _) = post(&env, &globex, &posted).await?;
    anyhow::ensure!(status == 503, "save without choices: {status}");
    anyhow::ensure!(answer.contains("lacks a permission"), "{answer}");
    anyhow::ensure!(saved(&env, &env.globex).await?.is_none(), "saved unchecked");
    // Acme, unaffected, still saves.
    let (acme, page) = env.signed_in(&env.acme).await?;
    let (status, _, _) = post(&env, &acme, &form(&page, 1, 2)).await?;
    anyhow::ensure!(status == 303, "Acme's save: {status}");
    env.stop().await;
    Ok(())
}

/// The CSRF token of the browser's session, read from the dashboard (the settings page shows no
/// form while the choices cannot be read).
async fn hidden_csrf(env: &Env, browser: &reqwest::Client) -> anyhow::Result<String> {
    let page = browser
        .get(format!("{}/dashboard", env.base))
        .send()
        .await?
        .text()
        .await?;
    Ok(hidden(&page, "csrf"))
}

//! Pipedrive's webhook deliveries, real-shaped, against the receiver on both stores; and a
//! database cut during a stream of deliveries (through a TCP proxy between the app and Postgres,
//! so the shared server keeps running). Postgres trials run when `TEST_POSTGRES_URL` is set and are
//! listed as ignored otherwise.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{test, web, App};
use base64::Engine as _;
use dealbridge_core::event::EventSource;
use dealbridge_core::tenant::NewTenant;
use dealbridge_core::{CompanyId, TenantId};
use dealbridge_crypto::{ExposeSecret, KeyRing};
use dealbridge_inbox::{random_token, InboxWriter, PipedriveReceiver, WebhookCredentials};
use dealbridge_storage::{Maintenance, NewWebhookRegistration, Store};
use dealbridge_storage_sql::{PgStore, SqliteStore};
use libtest_mimic::{Arguments, Failed, Trial};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const URL_VAR: &str = "TEST_POSTGRES_URL";
type TestResult = Result<(), Failed>;

fn main() {
    let args = Arguments::from_args();
    let url = std::env::var(URL_VAR).ok();
    if url.is_none() {
        eprintln!("postgres webhook tests SKIPPED: {URL_VAR} is not set");
    }
    let pg = |name: &str, test: fn(String) -> TestResult| {
        let (given, missing) = (url.clone(), url.is_none());
        Trial::test(name, move || test(given.unwrap_or_default())).with_ignored_flag(missing)
    };
    let trials = vec![
        Trial::test(
            "sqlite::deliveries_are_answered_by_what_became_of_them",
            || {
                run(async {
                    let dir = tempfile::tempdir().map_err(err)?;
                    let url = format!("sqlite://{}/hooks.db", dir.path().display());
                    let store = SqliteStore::connect(&url, 4).await.map_err(err)?;
                    store.migrate().await.map_err(err)?;
                    deliveries_are_answered(Arc::new(store)).await
                })
            },
        ),
        pg(
            "postgres::deliveries_are_answered_by_what_became_of_them",
            |url| {
                run(async move {
                    let (store, name) = fresh_database(&url).await?;
                    deliveries_are_answered(Arc::new(store)).await?;
                    drop_database(&url, &name).await
                })
            },
        ),
        pg(
            "postgres::a_database_cut_loses_no_acknowledged_event",
            |url| run(database_cut(url)),
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}

fn run(test: impl std::future::Future<Output = TestResult>) -> TestResult {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(err)?
        .block_on(test)
}

fn err(e: impl std::fmt::Display) -> Failed {
    Failed::from(e.to_string())
}

fn check(condition: bool, what: impl Into<String>) -> TestResult {
    if condition {
        Ok(())
    } else {
        Err(Failed::from(what.into()))
    }
}

fn base_of(url: &str) -> &str {
    url.rsplit_once('/').map(|(base, _)| base).unwrap_or(url)
}

async fn fresh_database(admin_url: &str) -> Result<(PgStore, String), Failed> {
    let name = format!("dealbridge_hooks_test_{}", uuid::Uuid::new_v4().simple());
    let store = PgStore::connect(&format!("{}/{name}", base_of(admin_url)), 8)
        .await
        .map_err(err)?;
    store.migrate().await.map_err(err)?;
    Ok((store, name))
}

async fn drop_database(admin_url: &str, name: &str) -> TestResult {
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url)
        .await
        .map_err(err)?;
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await
        .map_err(err)?;
    Ok(())
}

/// A tenant with its webhook registration, as the provision job leaves it.
struct Hooked {
    tenant: TenantId,
    company: i64,
    path: String,
    authorization: String,
}

async fn hooked(store: &dyn Store, keys: &KeyRing, company: i64) -> Result<Hooked, Failed> {
    let tenant = store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(company),
            company_name: format!("Company {company}"),
            company_domain: format!("company{company}"),
        })
        .await
        .map_err(err)?;
    let credentials = WebhookCredentials::generate();
    let path = random_token();
    store
        .ensure_webhook_registration(&NewWebhookRegistration {
            tenant_id: tenant.id,
            path_token: path.clone(),
            username: credentials.username.clone(),
            credentials: credentials.seal(keys, tenant.id).map_err(err)?,
        })
        .await
        .map_err(err)?;
    let pair = format!(
        "{}:{}",
        credentials.username,
        credentials.password.expose_secret()
    );
    Ok(Hooked {
        tenant: tenant.id,
        company,
        path,
        authorization: format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ),
    })
}

/// A v2 delivery as Pipedrive sends it.
fn delivery(company: i64, event_id: &str, deal: i64) -> serde_json::Value {
    serde_json::json!({
        "meta": {
            "action": "change", "entity": "deal", "entity_id": deal.to_string(),
            "id": event_id, "company_id": company.to_string(), "user_id": "12415231",
            "webhook_id": "4710827", "webhook_owner_id": "12094821",
            "correlation_id": uuid::Uuid::new_v4().to_string(), "is_bulk_edit": false,
            "timestamp": chrono::Utc::now().to_rfc3339(), "type": "application",
            "version": "2.0", "change_source": "app", "attempt": 1,
            "host": format!("company{company}.pipedrive.com"), "permitted_user_ids": ["12415231"],
        },
        "data": { "id": deal, "title": format!("Deal {deal}"), "custom_fields": {} },
        "previous": { "title": "Before" },
    })
}

fn post(path: &str, authorization: Option<&str>, body: Vec<u8>) -> test::TestRequest {
    let mut request = test::TestRequest::post()
        .uri(&format!("/hooks/pipedrive/{path}"))
        .insert_header(("content-type", "application/json"))
        .set_payload(body);
    if let Some(value) = authorization {
        request = request.insert_header(("authorization", value));
    }
    request
}

fn json(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

async fn deliveries_are_answered(store: Arc<dyn Store>) -> TestResult {
    let (keys, _) = KeyRing::generate("k1").map_err(err)?;
    let keys = Arc::new(keys);
    let ours = hooked(store.as_ref(), &keys, 8_087_566).await?;
    let theirs = hooked(store.as_ref(), &keys, 9_000_001).await?;
    let writer = InboxWriter::spawn(store.clone(), Default::default());
    let receiver = PipedriveReceiver::new(store.clone(), keys.clone(), writer);
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(receiver))
            .configure(dealbridge_web::configure_pipedrive_hooks),
    )
    .await;
    let auth = Some(ours.authorization.as_str());
    let good = json(&delivery(ours.company, "evt-1", 8));

    let cases: Vec<(&str, test::TestRequest, u16)> = vec![
        ("good", post(&ours.path, auth, good.clone()), 200),
        ("duplicate", post(&ours.path, auth, good.clone()), 200),
        ("no credentials", post(&ours.path, None, good.clone()), 401),
        (
            "wrong password",
            post(
                &ours.path,
                Some(&format!("{}x", ours.authorization)),
                good.clone(),
            ),
            401,
        ),
        (
            "another tenant's credentials",
            post(&ours.path, Some(&theirs.authorization), good.clone()),
            401,
        ),
        (
            "another company's event",
            post(
                &ours.path,
                auth,
                json(&delivery(theirs.company, "evt-2", 8)),
            ),
            403,
        ),
        (
            "unknown path",
            post(&random_token(), auth, good.clone()),
            404,
        ),
        ("not a token", post("..%2Fadmin", auth, good.clone()), 404),
        (
            "not json",
            post(&ours.path, auth, b"{\"meta\":".to_vec()),
            400,
        ),
        (
            "v1 payload",
            post(
                &ours.path,
                auth,
                json(&serde_json::json!({"v": 1, "meta": {"v": 1}})),
            ),
            400,
        ),
        (
            "oversized",
            post(
                &ours.path,
                auth,
                vec![b' '; dealbridge_web::MAX_HOOK_BODY + 1],
            ),
            413,
        ),
    ];
    let mut bodies = Vec::new();
    for (name, request, expected) in cases {
        let response = test::call_service(&app, request.to_request()).await;
        let status = response.status().as_u16();
        let body = test::read_body(response).await;
        check(
            status == expected,
            format!("{name}: expected {expected}, got {status}: {body:?}"),
        )?;
        bodies.push((name, body));
    }
    let said = |name: &str| {
        bodies
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, body)| serde_json::from_slice::<serde_json::Value>(body).ok())
            .map(|v| v["status"].clone())
    };
    check(said("good") == Some("recorded".into()), "good is recorded")?;
    check(
        said("duplicate") == Some("duplicate".into()),
        "duplicate says so",
    )?;

    let recorded = store
        .recent_events(ours.tenant, EventSource::Pipedrive, 10)
        .await
        .map_err(err)?;
    check(
        recorded.len() == 1,
        format!("one event recorded, got {}", recorded.len()),
    )?;
    check(recorded[0].dedupe_key == "evt-1", "deduped by meta.id")?;
    check(
        recorded[0].entity_key.as_deref() == Some("deal:8"),
        "entity",
    )?;
    let jobs = store.job_counts(Some(ours.tenant)).await.map_err(err)?;
    check(jobs.queued == 1, format!("one job, got {}", jobs.queued))?;
    let foreign = store
        .recent_events(theirs.tenant, EventSource::Pipedrive, 10)
        .await
        .map_err(err)?;
    check(foreign.is_empty(), "nothing recorded for the other tenant")
}

/// A TCP proxy that can be cut (live connections closed, new ones refused) and restored.
struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Result<Self, Failed> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(err)?;
        let addr = listener.local_addr().map_err(err)?;
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (cut, links) = (cut.clone(), links.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        continue; // dropped: the connection is refused
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    if let Ok(mut links) = links.lock() {
                        links.push(link);
                    }
                }
            }
        });
        Ok(Self {
            addr,
            cut,
            links,
            accept,
        })
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        if let Ok(mut links) = self.links.lock() {
            for link in links.drain(..) {
                link.abort(); // drops both sockets
            }
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Deliveries stream in while the database goes away for a few seconds and comes back: every
/// delivery answered 2xx is in the inbox, the receiver answers 503 (never 2xx) while the database
/// is away, and it recovers without a restart; Pipedrive's retries of the refused ones land too.
async fn database_cut(admin_url: String) -> TestResult {
    let (direct, name) = fresh_database(&admin_url).await?;
    let direct: Arc<dyn Store> = Arc::new(direct);
    let (keys, _) = KeyRing::generate("k1").map_err(err)?;
    let keys = Arc::new(keys);
    let ours = hooked(direct.as_ref(), &keys, 8_087_567).await?;

    let upstream = url::Url::parse(&admin_url).map_err(err)?;
    let host = upstream.host_str().unwrap_or("127.0.0.1");
    let port = upstream.port().unwrap_or(5432);
    let upstream: SocketAddr = tokio::net::lookup_host((host, port))
        .await
        .map_err(err)?
        .next()
        .ok_or_else(|| err("no address for the database"))?;
    let proxy = Proxy::start(upstream).await?;
    let mut proxied_url =
        url::Url::parse(&format!("{}/{name}", base_of(&admin_url))).map_err(err)?;
    proxied_url
        .set_port(Some(proxy.addr.port()))
        .map_err(|()| err("port"))?;
    let _ = proxied_url.set_host(Some("127.0.0.1"));
    let proxied: Arc<dyn Store> = Arc::new(
        PgStore::connect(proxied_url.as_str(), 8)
            .await
            .map_err(err)?,
    );
    let writer = InboxWriter::spawn(proxied.clone(), Default::default());
    let receiver = PipedriveReceiver::new(proxied.clone(), keys.clone(), writer);
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(receiver))
            .configure(dealbridge_web::configure_pipedrive_hooks),
    )
    .await;

    let start = Instant::now();
    let (cut_at, restore_at, end_at) = (
        Duration::from_millis(700),
        Duration::from_millis(3_500),
        Duration::from_millis(6_500),
    );
    let outcomes: Mutex<Vec<(String, u16, Duration)>> = Mutex::default();
    let switch = async {
        tokio::time::sleep(cut_at).await;
        proxy.cut();
        tokio::time::sleep(restore_at - cut_at).await;
        proxy.restore();
    };
    let sender = |lane: usize| {
        let (app, ours, outcomes) = (&app, &ours, &outcomes);
        async move {
            let mut n = 0;
            while start.elapsed() < end_at {
                let id = format!("cut-{lane}-{n}");
                n += 1;
                let body = json(&delivery(ours.company, &id, (lane * 1000 + n) as i64));
                let request = post(&ours.path, Some(&ours.authorization), body).to_request();
                let status = test::call_service(app, request).await.status().as_u16();
                if let Ok(mut outcomes) = outcomes.lock() {
                    outcomes.push((id, status, start.elapsed()));
                }
            }
        }
    };
    let senders = futures::future::join_all((0..8).map(sender));
    tokio::join!(switch, senders);
    let outcomes = outcomes.into_inner().map_err(err)?;

    let recorded: HashSet<String> = direct
        .recent_events(ours.tenant, EventSource::Pipedrive, 1_000_000)
        .await
        .map_err(err)?
        .into_iter()
        .map(|e| e.dedupe_key)
        .collect();
    let acknowledged: Vec<&(String, u16, Duration)> =
        outcomes.iter().filter(|(_, s, _)| *s == 200).collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .map(|(id, _, _)| id)
        .filter(|id| !recorded.contains(*id))
        .collect();
    check(
        lost.is_empty(),
        format!("acknowledged but not recorded: {lost:?}"),
    )?;
    let odd: Vec<_> = outcomes
        .iter()
        .filter(|(_, s, _)| ![200, 503].contains(s))
        .collect();
    check(
        odd.is_empty(),
        format!("answers other than 200/503: {odd:?}"),
    )?;
    let refused: Vec<&String> = outcomes
        .iter()
        .filter(|(_, s, _)| *s == 503)
        .map(|(id, _, _)| id)
        .collect();
    check(!refused.is_empty(), "no 503 while the database was away")?;
    let late = outcomes
        .iter()
        .filter(|(_, s, at)| *s == 200 && *at > restore_at)
        .count();
    check(
        late > 0,
        "no delivery accepted after the database came back",
    )?;
    let during = outcomes
        .iter()
        .filter(|(_, s, at)| {
            *s == 200 && *at > cut_at + Duration::from_millis(200) && *at < restore_at
        })
        .count();
    check(
        during == 0,
        format!("{during} deliveries acknowledged while the database was away"),
    )?;

    // Pipedrive retries what was refused: every one of them lands now, and nothing twice.
    for id in &refused {
        let body = json(&delivery(ours.company, id, 1));
        let request = post(&ours.path, Some(&ours.authorization), body).to_request();
        let status = test::call_service(&app, request).await.status().as_u16();
        check(status == 200, format!("retry of {id}: {status}"))?;
    }
    let all = direct
        .recent_events(ours.tenant, EventSource::Pipedrive, 1_000_000)
        .await
        .map_err(err)?;
    check(
        all.len() == outcomes.len(),
        format!("{} sent, {} recorded", outcomes.len(), all.len()),
    )?;
    eprintln!(
        "database cut: {} deliveries, {} acknowledged, {} refused with 503 and retried",
        outcomes.len(),
        acknowledged.len(),
        refused.len()
    );
    drop(app);
    drop(proxied);
    drop(direct);
    drop_database(&admin_url, &name).await
}

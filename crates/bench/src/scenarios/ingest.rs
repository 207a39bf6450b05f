//! `ingest`: Pipedrive webhook deliveries at N concurrent connections against the real receiver
//! (`POST /hooks/pipedrive/{path}`: registration lookup, constant-time Basic check, payload,
//! company check, inbox row and job) on Postgres, first through group commit, then with one
//! transaction per delivery (the naive handler), in the same run. Every delivery has its own event
//! id, and after each phase the bench counts the rows: every acknowledged delivery must be there.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use base64::Engine as _;
use dealbridge_core::tenant::NewTenant;
use dealbridge_core::CompanyId;
use dealbridge_crypto::{ExposeSecret, KeyRing};
use dealbridge_inbox::{random_token, InboxWriter, PipedriveReceiver, WebhookCredentials};
use dealbridge_storage::{NewWebhookRegistration, Store};
use dealbridge_storage_sql::PgStore;

use super::Options;
use crate::loadgen::{self, LoadResult, RequestMaker};
use crate::report::Report;

const WARM_UP: Duration = Duration::from_secs(1);
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const COMPANY: i64 = 8_087_566;
/// Both handlers get the same pool.
const POOL: u32 = 20;

pub async fn run(options: Options) -> anyhow::Result<Report> {
    let admin_url = options
        .url
        .map(str::to_owned)
        .or_else(|| std::env::var("TEST_POSTGRES_URL").ok())
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let name = format!("dealbridge_bench_ingest_{}", uuid::Uuid::new_v4().simple());
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    let url = format!("{base}/{name}");
    let result = measure_both(&url, options).await;
    drop_database(&admin_url, &name).await?;
    let (group, naive) = result?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut report = Report::new("ingest");
    report
        .row("connections", options.connections.to_string())
        .row(
            "seconds per handler",
            options.duration.as_secs().to_string(),
        )
        .figure(
            "rps",
            group.rps(),
            format!("{:.0} accepted events/s (group commit)", group.rps()),
        )
        .figure(
            "p99_ms",
            ms(group.p(0.99)),
            format!(
                "{:.1} ms p99 acknowledgement (group commit)",
                ms(group.p(0.99))
            ),
        )
        .figure(
            "naive_rps",
            naive.rps(),
            format!(
                "{:.0} accepted events/s (one commit per event)",
                naive.rps()
            ),
        )
        .figure(
            "naive_p99_ms",
            ms(naive.p(0.99)),
            format!("{:.1} ms p99 acknowledgement (naive)", ms(naive.p(0.99))),
        )
        .row("speed-up", format!("{:.2}x", group.rps() / naive.rps()))
        .row(
            "p50 (group, naive)",
            format!("{:?}, {:?}", group.p(0.5), naive.p(0.5)),
        )
        .row("group p90/p95/p99.9/max", spread(&group))
        .row("naive p90/p95/p99.9/max", spread(&naive));
    Ok(report)
}

/// Where the tail starts: p90, p95, p99.9 and the slowest acknowledgement, in ms.
fn spread(result: &LoadResult) -> String {
    let ms = |q: f64| result.p(q).as_secs_f64() * 1000.0;
    let max = result.latency.max() as f64 / 1000.0;
    format!(
        "{:.1} / {:.1} / {:.1} / {max:.1} ms",
        ms(0.9),
        ms(0.95),
        ms(0.999)
    )
}

async fn measure_both(url: &str, options: Options) -> anyhow::Result<(LoadResult, LoadResult)> {
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(url, POOL).await?);
    store.migrate().await?;
    let (keys, _) = KeyRing::generate("bench")?;
    let keys = Arc::new(keys);
    let (path, authorization) = register(store.as_ref(), &keys).await?;

    let writer = InboxWriter::spawn(store.clone(), Default::default());
    let grouped = PipedriveReceiver::new(store.clone(), keys.clone(), writer);
    let naive_store: Arc<dyn Store> = Arc::new(PgStore::connect(url, POOL).await?);
    let naive = PipedriveReceiver::one_by_one(naive_store, keys.clone());

    let group = phase(
        url,
        serve(grouped)?,
        "group",
        &path,
        &authorization,
        options,
    )
    .await?;
    let naive = phase(url, serve(naive)?, "naive", &path, &authorization, options).await?;
    Ok((group, naive))
}

/// A tenant with a webhook registration, as the provision job leaves it; returns the path token
/// and the `Authorization` header Pipedrive would send.
async fn register(store: &dyn Store, keys: &KeyRing) -> anyhow::Result<(String, String)> {
    let tenant = store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(COMPANY),
            company_name: "Bench".into(),
            company_domain: "bench".into(),
        })
        .await?;
    let credentials = WebhookCredentials::generate();
    let path = random_token();
    store
        .ensure_webhook_registration(&NewWebhookRegistration {
            tenant_id: tenant.id,
            path_token: path.clone(),
            username: credentials.username.clone(),
            credentials: credentials.seal(keys, tenant.id)?,
        })
        .await?;
    let pair = format!(
        "{}:{}",
        credentials.username,
        credentials.password.expose_secret()
    );
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    );
    Ok((path, header))
}

fn serve(receiver: PipedriveReceiver) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let receiver = web::Data::new(receiver);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(receiver.clone())
            .configure(dealbridge_web::configure_pipedrive_hooks)
    })
    .listen(listener)?
    .run();
    tokio::spawn(server);
    Ok(addr)
}

/// Warm-up, then the measured run; then checks every acknowledged delivery is in the inbox.
async fn phase(
    url: &str,
    addr: SocketAddr,
    label: &'static str,
    path: &str,
    authorization: &str,
    options: Options,
) -> anyhow::Result<LoadResult> {
    let warm = maker(format!("{label}-warm"), path, authorization);
    loadgen::run_varied(addr, warm, options.connections, WARM_UP).await?;
    analyze(url).await?;
    let make = maker(format!("{label}-run"), path, authorization);
    let result = loadgen::run_varied(addr, make, options.connections, options.duration).await?;
    anyhow::ensure!(
        result.errors == 0,
        "{} {label} deliveries refused",
        result.errors
    );
    let recorded = count(url, label).await?;
    anyhow::ensure!(
        recorded >= result.requests,
        "{label}: {} acknowledged but {recorded} recorded",
        result.requests
    );
    Ok(result)
}

fn maker(prefix: String, path: &str, authorization: &str) -> RequestMaker {
    let (path, authorization) = (format!("/hooks/pipedrive/{path}"), authorization.to_owned());
    Arc::new(move |connection, n| {
        let id = format!("{prefix}-{connection}-{n}");
        let deal = connection as u64 * 10_000_000 + n;
        let body = serde_json::json!({
            "meta": {
                "action": "change", "entity": "deal", "entity_id": deal.to_string(), "id": id,
                "company_id": COMPANY.to_string(), "user_id": "1", "webhook_id": "1",
                "timestamp": chrono::Utc::now().to_rfc3339(), "type": "application",
                "version": "2.0", "change_source": "app", "attempt": 1, "is_bulk_edit": false,
                "host": "bench.pipedrive.com",
            },
            "data": { "id": deal, "title": format!("Deal {deal}"), "value": 100, "custom_fields": {} },
            "previous": { "value": 90 },
        })
        .to_string();
        loadgen::request(
            "POST",
            &path,
            &[("Authorization", &authorization)],
            Some(&body),
        )
        .to_vec()
    })
}

/// Rows recorded by the measured run of one handler (the warm-up's ids have another prefix).
async fn count(url: &str, label: &str) -> anyhow::Result<u64> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await?;
    let n: i64 = sqlx::query_scalar("select count(*) from inbox_events where dedupe_key like $1")
        .bind(format!("{label}-run-%"))
        .fetch_one(&mut conn)
        .await?;
    Ok(u64::try_from(n)?)
}

/// Statistics as autovacuum keeps them on a production server (this one may run without it):
/// on a table never analysed, the planner cannot tell the index that finds an entity's newest
/// event from the one that lists a tenant's events, and may walk all the tenant's events per
/// arriving one, which makes either handler slower the longer it runs.
async fn analyze(url: &str) -> anyhow::Result<()> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await?;
    sqlx::query("analyze inbox_events, jobs")
        .execute(&mut conn)
        .await?;
    Ok(())
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url).await?;
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await?;
    Ok(())
}

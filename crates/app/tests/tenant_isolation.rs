//! Tenant isolation over every dashboard route that takes an id, on SQLite and Postgres: tenant
//! B, signed in with a valid form token, asks for each with tenant A's ids and gets 404, and
//! nothing of A changes. The list is checked against the route files, so a new `/dashboard` route
//! with a path parameter fails here until it is listed (and so tested).

mod helpers;

use std::path::Path;

use anyhow::{ensure, Context};
use dealbridge_core::event::{EventSource, EventType};
use dealbridge_core::tenant::Tenant;
use dealbridge_core::{CompanyId, UserId};
use dealbridge_storage::{ImportKind, JobId, JobState, NewImport};
use helpers::backends::{trials, Scenario};
use helpers::install_flow::{install_another_company, install_demo_company};
use helpers::records::{dead_job, fail_event, inbox_event};
use helpers::{csrf_in, spawn_app_with, TestApp};

/// Every `/dashboard` route with a path parameter, exactly as its route file declares it.
/// `every_dashboard_route_with_an_id_is_listed` keeps this list complete.
const ID_ROUTES: &[(&str, &str)] = &[
    ("GET", "/imports/{id}"),
    ("POST", "/imports/{id}/mapping"),
    ("POST", "/imports/{id}/{action:start|pause|resume|cancel}"),
    ("GET", "/imports/{id}/progress"),
    ("GET", "/imports/{id}/failed.csv"),
    ("POST", "/jobs/{job_id}/retry"),
    ("POST", "/event-api/secrets/{secret_id}/revoke"),
    ("POST", "/stores/{connection_id}/disconnect"),
    ("POST", "/activity/{event_id}/retry"),
];

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let scenarios: [(&str, Scenario); 1] =
        [("tenant_b_gets_404_for_every_id_of_tenant_a", |url| {
            Box::pin(isolation(url))
        })];
    let mut all = trials(&scenarios);
    all.push(libtest_mimic::Trial::test(
        "every_dashboard_route_with_an_id_is_listed",
        || every_dashboard_route_with_an_id_is_listed().map_err(|e| format!("{e:#}").into()),
    ));
    libtest_mimic::run(&args, all).exit();
}

/// The dashboard's routes as the route files declare them (`.route("PATH", web::METHOD()...`),
/// those with a path parameter only.
fn declared_id_routes() -> anyhow::Result<Vec<(String, String)>> {
    let routes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/src/routes");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(routes)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if !name.starts_with("dashboard") {
            continue;
        }
        let source = std::fs::read_to_string(&path)?;
        // `cargo fmt` may put the path on the next line: whitespace after `(` is skipped.
        for piece in source.split(".route(").skip(1) {
            let Some(quoted) = piece.trim_start().strip_prefix('"') else {
                continue;
            };
            let (route, rest) = quoted.split_once('"').context("an unclosed route")?;
            let method = rest
                .trim_start_matches(',')
                .trim_start()
                .strip_prefix("web::")
                .and_then(|m| m.split_once("()"))
                .map(|(m, _)| m.to_ascii_uppercase())
                .with_context(|| format!("the method of {route}"))?;
            if route.contains('{') {
                found.push((method, route.to_string()));
            }
        }
    }
    found.sort();
    Ok(found)
}

fn every_dashboard_route_with_an_id_is_listed() -> anyhow::Result<()> {
    let declared = declared_id_routes()?;
    ensure!(declared.len() >= 5, "the scan finds routes: {declared:?}");
    let mut listed: Vec<(String, String)> = ID_ROUTES
        .iter()
        .map(|(m, r)| (m.to_string(), r.to_string()))
        .collect();
    listed.sort();
    ensure!(
        declared == listed,
        "a dashboard route with a path parameter was added or changed: list it under ID_ROUTES \
         (and give the test an id of tenant A for it)\ndeclared: {declared:?}\nlisted: {listed:?}"
    );
    Ok(())
}

/// Tenant A's ids, one per path parameter name.
struct Ids {
    import: String,
    job: JobId,
    secret: String,
    connection: String,
    /// A failed event of A's (the activity page's retry).
    event: String,
}

impl Ids {
    /// The request paths of a route pattern: each parameter filled with A's id, and a
    /// `{name:a|b}` parameter once per alternative.
    fn paths(&self, pattern: &str) -> anyhow::Result<Vec<String>> {
        let Some(start) = pattern.find('{') else {
            return Ok(vec![format!("/dashboard{pattern}")]);
        };
        let end = start + pattern[start..].find('}').context("unclosed parameter")?;
        let (head, param, tail) = (
            &pattern[..start],
            &pattern[start + 1..end],
            &pattern[end + 1..],
        );
        let values: Vec<String> = match param.split_once(':') {
            Some((_, alternatives)) => alternatives.split('|').map(str::to_string).collect(),
            None => vec![match param {
                "id" => self.import.clone(),
                "job_id" => self.job.to_string(),
                "secret_id" => self.secret.clone(),
                "connection_id" => self.connection.clone(),
                "event_id" => self.event.clone(),
                other => anyhow::bail!("no id of tenant A for {{{other}}}: add one"),
            }],
        };
        let mut paths = Vec::new();
        for value in values {
            paths.extend(self.paths(&format!("{head}{value}{tail}"))?);
        }
        Ok(paths)
    }
}

async fn tenant(app: &TestApp, company_id: u64) -> anyhow::Result<Tenant> {
    app.store
        .tenant_by_company(CompanyId::new(i64::try_from(company_id)?))
        .await?
        .context("installed")
}

async fn dashboard_csrf(app: &TestApp, client: &reqwest::Client) -> anyhow::Result<String> {
    let page = client
        .get(format!("{}/dashboard", app.address))
        .send()
        .await?
        .text()
        .await?;
    Ok(csrf_in(&page))
}

async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<reqwest::Response> {
    Ok(client
        .post(format!("{}{path}", app.address))
        .form(form)
        .send()
        .await?)
}

/// A's import, secret, store connection and dead job, made through A's dashboard where it has a
/// form for them.
async fn tenant_a_ids(app: &TestApp, a: &Tenant, user: u64) -> anyhow::Result<Ids> {
    let csrf = dashboard_csrf(app, &app.client).await?;
    let created = post(
        app,
        &app.client,
        "/dashboard/event-api/secrets",
        &[("csrf", &csrf)],
    )
    .await?;
    ensure!(created.status() == 200, "secret: {}", created.status());
    let connect = [
        ("csrf", csrf.as_str()),
        ("kind", "woocommerce"),
        ("display_name", "A's shop"),
        ("secret", "a-woocommerce-webhook-secret"),
    ];
    let connected = post(app, &app.client, "/dashboard/stores", &connect).await?;
    ensure!(connected.status() == 303, "store: {}", connected.status());
    let import = app
        .store
        .create_import(&NewImport {
            tenant_id: a.id,
            id: uuid::Uuid::now_v7(),
            user_id: UserId::new(i64::try_from(user)?),
            kind: ImportKind::Persons,
            file_name: "a-people.csv".into(),
            headers: vec!["Name".into()],
        })
        .await?;
    let secret = app.store.event_api_secrets(a.id).await?;
    let connection = app.store.store_connections(a.id).await?;
    let shop = connection
        .iter()
        .find(|c| c.display_name == "A's shop")
        .context("A's shop")?;
    Ok(Ids {
        event: {
            let id = inbox_event(app, a.id, EventSource::Shopify, EventType::OrderCreated).await?;
            fail_event(app, a.id, id, "refused").await?;
            id.to_string()
        },
        import: import.id.to_string(),
        job: dead_job(app, Some(a.id), "deal.sync", "boom").await?,
        secret: secret.first().context("A's secret")?.id.to_string(),
        connection: shop.id.to_string(),
    })
}

/// What B's requests must leave as it was: A's import, secrets, stores, dead job and audit log.
async fn snapshot_of_a(app: &TestApp, a: &Tenant, ids: &Ids) -> anyhow::Result<String> {
    let import = app
        .store
        .import(a.id, ids.import.parse()?)
        .await?
        .context("A's import")?;
    let secrets: Vec<_> = app
        .store
        .event_api_secrets(a.id)
        .await?
        .into_iter()
        .map(|s| (s.id, s.expires_at, s.revoked_at))
        .collect();
    let stores: Vec<_> = app
        .store
        .store_connections(a.id)
        .await?
        .into_iter()
        .map(|c| (c.id, c.state))
        .collect();
    let job = app
        .store
        .job(Some(a.id), ids.job)
        .await?
        .context("A's job")?;
    let event = app
        .store
        .inbox_event(a.id, ids.event.parse()?)
        .await?
        .context("A's event")?;
    let audit: Vec<_> = app
        .store
        .audit_log(Some(a.id), 100)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    Ok(format!(
        "{:?} {:?} {:?} {secrets:?} {stores:?} {:?} {:?} {audit:?}",
        import.state, import.mapping, import.policy, job.state, event.state
    ))
}

async fn isolation(database_url: Option<String>) -> anyhow::Result<()> {
    let app = spawn_app_with(database_url.as_deref()).await;
    let installed_a = install_demo_company(&app).await;
    let a = tenant(&app, installed_a.company_id).await?;
    let ids = tenant_a_ids(&app, &a, installed_a.user_id).await?;
    let (b_client, installed_b) = install_another_company(&app, "isolated").await;
    let b = tenant(&app, installed_b.company_id).await?;
    ensure!(a.id != b.id, "two tenants");
    let b_csrf = dashboard_csrf(&app, &b_client).await?;

    // A reaches its own pages by these ids: they are real.
    for (method, pattern) in ID_ROUTES.iter().filter(|(m, _)| *m == "GET") {
        for path in ids.paths(pattern)? {
            let answer = app.get(&path).await;
            ensure!(
                answer.status() == 200,
                "A's own {method} {path}: {}",
                answer.status()
            );
        }
    }

    let before = snapshot_of_a(&app, &a, &ids).await?;
    for (method, pattern) in ID_ROUTES {
        for path in ids.paths(pattern)? {
            let answer = match *method {
                "GET" => {
                    b_client
                        .get(format!("{}{path}", app.address))
                        .send()
                        .await?
                }
                // A valid token of B's session and a well-formed form: only the scoping refuses.
                _ => {
                    let form = [
                        ("csrf", b_csrf.as_str()),
                        ("col_0", "name"),
                        ("policy", "skip"),
                    ];
                    post(&app, &b_client, &path, &form).await?
                }
            };
            let status = answer.status();
            let body = answer.text().await?;
            ensure!(status == 404, "B's {method} {path}: {status} {body}");
            ensure!(
                !body.contains("a-people.csv"),
                "A's import named to B: {path}"
            );
        }
    }
    // Routes without an id act on the session's own tenant: B's rotation leaves A's secret.
    let rotated = post(
        &app,
        &b_client,
        "/dashboard/event-api/secrets/rotate",
        &[("csrf", &b_csrf)],
    )
    .await?;
    ensure!(
        rotated.status() == 200,
        "B rotates its own: {}",
        rotated.status()
    );
    for path in ["/dashboard/imports", "/dashboard", "/dashboard/settings"] {
        let page = b_client
            .get(format!("{}{path}", app.address))
            .send()
            .await?;
        let html = page.text().await?;
        ensure!(!html.contains("a-people.csv"), "A's import on B's {path}");
        ensure!(!html.contains("A&#x27;s shop"), "A's store on B's {path}");
        ensure!(!html.contains(&ids.secret), "A's secret id on B's {path}");
        ensure!(
            !html.contains(&ids.job.to_string()),
            "A's job on B's {path}"
        );
    }
    let after = snapshot_of_a(&app, &a, &ids).await?;
    ensure!(before == after, "A changed:\n{before}\n{after}");
    let job = app
        .store
        .job(Some(a.id), ids.job)
        .await?
        .context("A's job")?;
    ensure!(job.state == JobState::Dead, "A's dead job was retried");
    Ok(())
}

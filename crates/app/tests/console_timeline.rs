//! The tenant timeline in the support console, on SQLite and Postgres: entries of every kind made
//! through the app's own paths (an install through the sandbox, a forced token refresh, an event
//! through the signed event API, a job that died, jobs that ran well, a pause, Pipedrive's
//! refusals of the day and each refused call),
//! newest first; a viewer reads it; filters by kind; pages that neither repeat nor skip; another
//! tenant's entries never shown.

mod helpers;

use std::time::Duration;

use anyhow::{ensure, Context};
use chrono::Utc;
use dealbridge_core::audit::NewAuditEntry;
use dealbridge_core::event::{EventSource, EventType, NewEvent};
use dealbridge_core::tenant::{NewTenant, Tenant};
use dealbridge_core::{CompanyId, TenantId, UserId};
use dealbridge_storage::{
    BudgetFigures, InboxEntry, NewJob, NewRefusal, NewTokenRefresh, RefreshOutcome, StaffRole,
};
use helpers::backends::{trials, Scenario};
use helpers::console::staff_browser;
use helpers::install_flow::install_demo_company;
use helpers::records::{dead_job, finished_jobs};
use helpers::{csrf_in, spawn_app_with, TestApp};
use secrecy::SecretString;

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let scenarios: [(&str, Scenario); 1] =
        [("the_timeline_tells_what_happened_to_one_tenant", |url| {
            Box::pin(timeline(url))
        })];
    libtest_mimic::run(&args, trials(&scenarios)).exit();
}

/// Entries of one kind land in the same millisecond otherwise (SQLite keeps received and job
/// times to the millisecond), which would leave their order to chance.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> anyhow::Result<String> {
    let answer = client.get(format!("{}{path}", app.address)).send().await?;
    ensure!(answer.status() == 200, "{path}: {}", answer.status());
    Ok(answer.text().await?)
}

/// The timeline part of a tenant page.
fn timeline_of(page: &str) -> anyhow::Result<&str> {
    let start = page.find("<h2 id=\"timeline\">").context("no timeline")?;
    Ok(&page[start..])
}

/// The dashboard's "Create a secret" answer holds the secret once (Tera writes `/` as an entity).
async fn create_secret(app: &TestApp) -> anyhow::Result<SecretString> {
    let dashboard = get(&app.client, app, "/dashboard").await?;
    let page = app
        .client
        .post(format!("{}/dashboard/event-api/secrets", app.address))
        .form(&[("csrf", csrf_in(&dashboard))])
        .send()
        .await?
        .text()
        .await?;
    let start = page.find("whsec_").context("no secret shown")?;
    let end = page[start..].find('<').context("secret not closed")?;
    Ok(SecretString::from(
        page[start..start + end].replace("&#x2F;", "/"),
    ))
}

/// A signed `signup` event through `POST /api/v1/events`, as the tenant's own system sends it.
async fn send_event(app: &TestApp, tenant: TenantId, secret: &SecretString) -> anyhow::Result<()> {
    let body = br#"{"type":"signup","timestamp":"2026-05-28T20:26:00Z","data":{"user_id":"u_42","email":"ada@example.com"}}"#;
    let now = Utc::now().timestamp();
    let signature = dealbridge_events::event_api::sign(secret, "msg_timeline", now, body)?;
    let answer = app
        .client
        .post(format!("{}/api/v1/events", app.address))
        .header("content-type", "application/json")
        .header("dealbridge-tenant", tenant.to_string())
        .header("webhook-id", "msg_timeline")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await?;
    ensure!(answer.status() == 200, "event: {}", answer.text().await?);
    Ok(())
}

/// Pipedrive's refusals of the day as the ledger's flush writes them.
async fn refusals_today(
    app: &TestApp,
    company: CompanyId,
    rate_limited: i64,
    unauthorized: i64,
) -> anyhow::Result<()> {
    let figures = BudgetFigures {
        calls: 10,
        tokens_spent: 40,
        rate_limited,
        unauthorized,
        ..BudgetFigures::default()
    };
    let today = Utc::now().date_naive();
    Ok(app
        .store
        .budget_add_figures(company, today, &figures)
        .await?)
}

/// One call Pipedrive refused, as the budget ledger records it.
async fn refused_call(
    app: &TestApp,
    company: CompanyId,
    status: u16,
    path: &str,
) -> anyhow::Result<()> {
    let refusal = NewRefusal {
        company_id: company,
        at: Utc::now(),
        status,
        method: "GET".into(),
        path: path.into(),
        retry_after_ms: (status == 429).then_some(2_000),
        limit: (status == 429).then(|| "search".into()),
    };
    ensure!(app.store.record_refusal(&refusal).await?, "kept");
    Ok(())
}

/// Another company with an entry of every kind, none of which may show on the demo tenant's page.
async fn other_tenant(app: &TestApp) -> anyhow::Result<Tenant> {
    let other = app
        .store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(990_777),
            company_name: "Elsewhere Co".into(),
            company_domain: "elsewhere".into(),
        })
        .await?;
    app.store
        .append_audit(&NewAuditEntry {
            tenant_id: Some(other.id),
            actor: "staff:someone@dealbridge.test".into(),
            action: "elsewhere.audited".into(),
            detail: serde_json::json!({}),
        })
        .await?;
    let id = uuid::Uuid::now_v7();
    app.store
        .record_event(&InboxEntry {
            id,
            tenant_id: other.id,
            event: NewEvent {
                source: EventSource::Shopify,
                kind: EventType::OrderCreated,
                dedupe_key: "elsewhere-1".into(),
                entity_key: Some("order:ELSEWHERE".into()),
                occurred_at: Utc::now(),
                payload: serde_json::json!({}),
            },
            job: NewJob::new("test.none", serde_json::json!({})),
        })
        .await?;
    dead_job(app, Some(other.id), "elsewhere.job", "elsewhere broke").await?;
    app.store
        .record_token_refresh(&NewTokenRefresh {
            tenant_id: other.id,
            user_id: UserId::new(4),
            outcome: RefreshOutcome::Failed,
            reason: Some("elsewhere unreachable".into()),
            at: Utc::now(),
        })
        .await?;
    refusals_today(app, other.company_id, 77, 0).await?;
    refused_call(app, other.company_id, 401, "/api/v1/elsewhereFields").await?;
    Ok(other)
}

const OTHERS: [&str; 7] = [
    "elsewhere.audited",
    "order:ELSEWHERE",
    "elsewhere.job",
    "elsewhere unreachable",
    "77 calls",
    "Elsewhere",
    "elsewhereFields",
];

/// Where each marker is in `text`, failing on a missing one.
fn positions(text: &str, markers: &[&str]) -> anyhow::Result<Vec<usize>> {
    markers
        .iter()
        .map(|m| {
            text.find(m)
                .with_context(|| format!("{m:?} missing: {text}"))
        })
        .collect()
}

async fn timeline(database_url: Option<String>) -> anyhow::Result<()> {
    let app = spawn_app_with(database_url.as_deref()).await;
    let installed = install_demo_company(&app).await;
    let company = CompanyId::new(i64::try_from(installed.company_id)?);
    let tenant = app
        .store
        .tenant_by_company(company)
        .await?
        .context("installed")?;
    let other = other_tenant(&app).await?;
    // Older entries enough to need a second page.
    for n in 0..35 {
        app.store
            .append_audit(&NewAuditEntry {
                tenant_id: Some(tenant.id),
                actor: "cli:test".into(),
                action: format!("probe.{n:02}"),
                detail: serde_json::json!({ "n": n, "secret": "whsec_never_shown" }),
            })
            .await?;
    }
    tick().await;

    let (operator, csrf) = staff_browser(&app, "otto@dealbridge.test", StaffRole::Operator).await?;
    let base = format!("/console/tenants/{}", tenant.id);
    let refresh = operator
        .post(format!("{}{base}/tokens/refresh", app.address))
        .form(&[("csrf", csrf.as_str()), ("reason", "customer sees 401s")])
        .send()
        .await?;
    ensure!(
        refresh.status() == 303,
        "forced refresh: {}",
        refresh.status()
    );
    tick().await;
    let secret = create_secret(&app).await?;
    tick().await;
    send_event(&app, tenant.id, &secret).await?;
    tick().await;
    dead_job(
        &app,
        Some(tenant.id),
        "test.timeline",
        "Pipedrive said 400: bad field",
    )
    .await?;
    finished_jobs(&app, tenant.id, "test.ran", 3).await?;
    tick().await;
    let pause = operator
        .post(format!("{}{base}/pause", app.address))
        .form(&[("csrf", csrf.as_str()), ("reason", "timeline check")])
        .send()
        .await?;
    ensure!(pause.status() == 303, "pause: {}", pause.status());
    refusals_today(&app, company, 2, 1).await?;
    refused_call(&app, company, 429, "/api/v2/persons/search").await?;
    tick().await;
    refused_call(&app, company, 401, "/api/v2/deals/{id}").await?;

    let page = get(&operator, &app, &base).await?;
    let shown = timeline_of(&page)?;
    let newest_first = [
        "Pipedrive answered 429 (rate limited) to 2 calls and 401 (token refused) to 1 call",
        ">tenant.paused<",
        "Job test.timeline dead after 1 attempts",
        "signup from the event API",
        ">event_api.secret_created<",
        ">tokens.refresh_forced<",
        "Access token refreshed",
        ">probe.34<",
    ];
    let at = positions(shown, &newest_first)?;
    ensure!(
        at.windows(2).all(|w| w[0] < w[1]),
        "not newest first: {at:?}"
    );
    // Today's jobs, one entry at the day's end (now), above what happened earlier today; the
    // other tenant's failed job not in it.
    let today = Utc::now().date_naive().format("%Y-%m-%d");
    let runs = format!("Jobs on {today}: 3 ran well, 1 failed attempt<");
    let by_kind =
        "test.ran: 3 ran well, 0 failed attempts; test.timeline: 0 ran well, 1 failed attempt";
    positions(shown, &[&runs, by_kind, ">tenant.paused<"])?;
    ensure!(
        shown.find(&runs) < shown.find(">tenant.paused<"),
        "the day's jobs above today's entries"
    );
    // Each refused call, newest first, below the day's totals (Tera writes `/` as an entity).
    let calls = [
        "Pipedrive answered 401 (token refused) to GET /api/v2/deals/{id}",
        "Pipedrive answered 429 (rate limited) to GET /api/v2/persons/search",
        ">tenant.paused<",
    ]
    .map(|c| c.replace('/', "&#x2F;"));
    let calls: Vec<&str> = calls.iter().map(String::as_str).collect();
    let at_calls = positions(shown, &calls)?;
    ensure!(
        at_calls.windows(2).all(|w| w[0] < w[1]),
        "refused calls not newest first: {at_calls:?}"
    );
    ensure!(
        shown.contains("limit: the search limit, retry after 2.0 s"),
        "the 429's limit and retry-after"
    );
    ensure!(
        shown.contains(&format!("by Pipedrive user {}", installed.user_id)),
        "the refresh names its installation"
    );
    ensure!(
        shown.contains("Pipedrive said 400: bad field"),
        "the job's error"
    );
    ensure!(
        shown.contains("by staff:otto@dealbridge.test"),
        "who paused"
    );
    ensure!(
        shown.contains("<time datetime=\""),
        "times are time elements"
    );
    ensure!(
        !page.contains("whsec_"),
        "a secret on the page (the created one or the probes')"
    );
    for marker in OTHERS {
        ensure!(!page.contains(marker), "another tenant's {marker:?} shown");
    }
    // The burn-down: today's budget and the 7-day chart.
    ensure!(page.contains("API budget today"), "today's budget");
    ensure!(page.contains("<svg"), "the 7-day chart");

    // The install is further back: the older pages go on without repeating or skipping.
    let mut pages = vec![page.clone()];
    while let Some(older) = older_link(pages.last().context("a page")?) {
        ensure!(pages.len() < 5, "paging does not end");
        pages.push(get(&operator, &app, &older).await?);
    }
    ensure!(pages.len() >= 2, "a second page");
    let all: String = pages
        .iter()
        .map(|p| timeline_of(p).unwrap_or_default())
        .collect();
    for n in 0..35 {
        let probe = format!(">probe.{n:02}<");
        ensure!(all.matches(&probe).count() == 1, "{probe} shown once");
    }
    ensure!(all.matches(">install<").count() == 1, "the install, once");
    ensure!(
        all.matches("Access token refreshed").count() == 1,
        "the refresh, once"
    );

    // Filters by kind.
    let tokens = get(&operator, &app, &format!("{base}?kind=tokens")).await?;
    let tokens = timeline_of(&tokens)?;
    ensure!(tokens.contains("Access token refreshed"), "{tokens}");
    ensure!(
        !tokens.contains("tenant.paused"),
        "only refreshes: {tokens}"
    );
    ensure!(
        tokens.contains("aria-current=\"page\">Token refreshes"),
        "{tokens}"
    );
    let ran = get(&operator, &app, &format!("{base}?kind=runs")).await?;
    let ran = timeline_of(&ran)?;
    ensure!(ran.contains(&runs), "{ran}");
    ensure!(!ran.contains("tenant.paused"), "only jobs run: {ran}");
    ensure!(
        ran.contains("aria-current=\"page\">Jobs run per day"),
        "{ran}"
    );
    let refused = get(&operator, &app, &format!("{base}?kind=refusals")).await?;
    let refused = timeline_of(&refused)?;
    positions(refused, &calls[..2])?;
    ensure!(
        !refused.contains("tenant.paused") && !refused.contains("Jobs on"),
        "only refused calls: {refused}"
    );
    let bad = operator
        .get(format!("{}{base}?kind=everything", app.address))
        .send()
        .await?;
    ensure!(bad.status() == 400, "an unknown kind: {}", bad.status());

    // A viewer reads the same timeline, with no form but signing out.
    let (viewer, _) = staff_browser(&app, "vera@dealbridge.test", StaffRole::Viewer).await?;
    let seen = get(&viewer, &app, &base).await?;
    positions(timeline_of(&seen)?, &newest_first)?;
    ensure!(
        seen.matches("method=\"post\"").count() == 1,
        "a viewer's page has forms"
    );

    // The other tenant's page shows its own, and none of the demo tenant's.
    let theirs = get(&operator, &app, &format!("/console/tenants/{}", other.id)).await?;
    positions(timeline_of(&theirs)?, &OTHERS[..5])?;
    positions(timeline_of(&theirs)?, &OTHERS[6..])?;
    ensure!(
        !theirs.contains("probe."),
        "the demo tenant's entries shown"
    );
    ensure!(
        !theirs.contains("test.timeline"),
        "the demo tenant's job shown"
    );
    Ok(())
}

/// The "Older" link of a page, as a path.
fn older_link(page: &str) -> Option<String> {
    let timeline = timeline_of(page).ok()?;
    let end = timeline.find("\">Older</a>")?;
    let start = timeline[..end].rfind("href=\"")? + "href=\"".len();
    Some(
        timeline[start..end]
            .replace("&amp;", "&")
            .replace("&#x2F;", "/"),
    )
}

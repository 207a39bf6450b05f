//! `/metrics` of a running app after an install and a few requests: every family is there, with
//! the labels operators alert on.

#![allow(clippy::unwrap_used)]

mod helpers;

use std::time::Duration;

use dealbridge_workflows::PROVISION_KIND;
use helpers::install_flow::install_demo_company;

async fn scrape(address: &str) -> String {
    reqwest::get(format!("{address}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the series `name{labels}`, if the page has it.
fn value(page: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    page.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn every_family_is_exported_after_an_install_and_a_few_requests() {
    let app = helpers::spawn_app_with_workers().await;
    let installed = install_demo_company(&app).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/no/such/page/42").await.status(), 404);
    let hook = app
        .client
        .post(format!("{}/hooks/pipedrive/not-a-token", app.address))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 404);

    // The post-install job runs in the background: wait until its outcome is counted.
    let provisioned = format!(r#"kind="{PROVISION_KIND}",outcome="done""#);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = scrape(&app.metrics_address).await;
        if value(&page, "dealbridge_jobs_finished_total", &provisioned) == Some(1.0) {
            break page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the provisioning job was never counted: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let duration = "dealbridge_http_request_duration_seconds";
    for (labels, what) in [
        (
            r#"method="GET",route="/healthz",status="2xx""#,
            "a health check",
        ),
        (
            r#"method="GET",route="unmatched",status="4xx""#,
            "an unknown path",
        ),
        (
            r#"method="POST",route="/hooks/pipedrive/{path_token}",status="4xx""#,
            "a refused webhook, by its pattern",
        ),
        (
            r#"method="GET",route="/oauth/callback",status="3xx""#,
            "the install's callback",
        ),
    ] {
        let count = value(&page, &format!("{duration}_count"), labels);
        assert_eq!(count, Some(1.0), "{what} ({labels}): {page}");
        let le = format!(r#"{labels},le="+Inf""#);
        assert_eq!(value(&page, &format!("{duration}_bucket"), &le), Some(1.0));
    }
    assert!(
        !page.contains("not-a-token") && !page.contains("/no/such/page"),
        "a raw path became a label: {page}"
    );
    assert_eq!(
        value(
            &page,
            "dealbridge_webhook_events_total",
            r#"source="pipedrive",outcome="refused""#
        ),
        Some(1.0),
        "{page}"
    );
    for outcome in ["refreshed", "already_refreshed", "refused", "failed"] {
        let labels = format!(r#"outcome="{outcome}""#);
        assert!(
            value(&page, "dealbridge_token_refreshes_total", &labels).is_some(),
            "no {outcome} refreshes series: {page}"
        );
    }
    let company = format!(r#"company="{}""#, installed.company_id);
    for family in [
        "dealbridge_pipedrive_calls_total",
        "dealbridge_pipedrive_tokens_spent_total",
        "dealbridge_pipedrive_rate_limited_total",
        "dealbridge_pipedrive_errors_total",
        "dealbridge_pipedrive_retries_total",
        "dealbridge_pipedrive_waited_milliseconds_total",
        "dealbridge_pipedrive_deferred_total",
    ] {
        assert!(value(&page, family, &company).is_some(), "{family}: {page}");
    }
    assert!(value(&page, "dealbridge_pipedrive_calls_total", &company).unwrap() >= 4.0);
    assert!(
        value(
            &page,
            "dealbridge_jobs",
            r#"lane="realtime",state="queued""#
        )
        .is_some(),
        "{page}"
    );
    assert!(
        page.contains("dealbridge_jobs_oldest_ready_seconds{lane="),
        "{page}"
    );
    // One company installed, far below the bound: no `other` series.
    assert!(!page.contains(r#"company="other""#), "{page}");
}

#[tokio::test]
async fn companies_beyond_the_bound_are_summed_under_other() {
    let app = helpers::spawn_app_adjusted(|settings| settings.metrics_max_companies = 0).await;
    let installed = install_demo_company(&app).await;
    let page = scrape(&app.metrics_address).await;
    let calls = value(
        &page,
        "dealbridge_pipedrive_calls_total",
        r#"company="other""#,
    );
    assert!(calls.is_some_and(|calls| calls >= 1.0), "{page}");
    assert!(
        !page.contains(&format!(r#"company="{}""#, installed.company_id)),
        "the company kept a series of its own: {page}"
    );
}

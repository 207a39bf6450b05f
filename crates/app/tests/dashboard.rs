//! The tenant dashboard's overview as a new user sees it, against the embedded sandbox: the
//! installer by name (read once, then cached), times the browser can localise, the budget's
//! 7-day chart, the favicon.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

use chrono::Utc;
use dealbridge_core::CompanyId;
use dealbridge_storage::BudgetFigures;
use helpers::install_flow::install_demo_company;
use helpers::spawn_app;

async fn overview(app: &helpers::TestApp) -> String {
    let answer = app.get("/dashboard").await;
    assert_eq!(answer.status(), 200);
    answer.text().await.unwrap()
}

#[tokio::test]
async fn the_installer_is_named_and_read_from_pipedrive_once() {
    let app = spawn_app().await;
    let installed = install_demo_company(&app).await;
    let control = &app.sandbox.as_ref().unwrap().control;
    let user_path = format!("/v1/users/{}", installed.user_id);
    let reads = || {
        control
            .calls(Some(installed.company_id))
            .iter()
            .filter(|c| c.path.ends_with(&user_path))
            .count()
    };

    let first = overview(&app).await;
    assert!(first.contains("Installed by"), "{first}");
    assert!(first.contains("Dana Admin"), "{first}");
    let second = overview(&app).await;
    assert!(second.contains("Dana Admin"));
    assert_eq!(reads(), 1, "the second load is served from the cache");
}

#[tokio::test]
async fn the_installer_falls_back_to_the_id_when_pipedrive_cannot_answer() {
    let app = spawn_app().await;
    let installed = install_demo_company(&app).await;
    let control = &app.sandbox.as_ref().unwrap().control;
    control.set_closed(installed.company_id, true).unwrap();

    let page = overview(&app).await;
    assert!(
        page.contains(&format!("user {}", installed.user_id)),
        "{page}"
    );
    assert!(page.contains("could not be read from Pipedrive"), "{page}");
    assert!(!page.contains("Dana Admin"));
}

#[tokio::test]
async fn the_budget_shows_today_and_a_seven_day_chart_from_the_day_records() {
    let app = spawn_app().await;
    let installed = install_demo_company(&app).await;
    let company = CompanyId::new(i64::try_from(installed.company_id).unwrap());
    let today = Utc::now().date_naive();
    let figures = |tokens| BudgetFigures {
        calls: 2,
        tokens_spent: tokens,
        ..BudgetFigures::default()
    };
    let two_days_ago = today - chrono::Duration::days(2);
    app.store
        .budget_add_figures(company, two_days_ago, &figures(4321))
        .await
        .unwrap();
    // Outside the week: not drawn.
    let old = today - chrono::Duration::days(9);
    app.store
        .budget_add_figures(company, old, &figures(98765))
        .await
        .unwrap();

    let page = overview(&app).await;
    assert!(page.contains("tokens used"), "{page}");
    assert!(page.contains("<svg"), "{page}");
    assert!(page.contains("<title id=\"budget-chart-title\">"));
    assert!(page.contains("<desc id=\"budget-chart-desc\">"));
    assert!(
        page.contains("4321"),
        "the day's tokens are drawn and listed"
    );
    assert!(!page.contains("98765"), "older days are not in the week");
    let listed = format!(
        "<td data-label=\"Day\">{}</td><td data-label=\"Tokens\">4321</td>",
        two_days_ago.format("%Y-%m-%d")
    );
    assert!(page.contains(&listed), "the text alternative: {page}");
    // One bar a day in the budget chart (the events chart has its own).
    assert_eq!(page.matches(" tokens</title></rect>").count(), 7);
}

#[tokio::test]
async fn times_are_time_elements_the_local_script_rewrites() {
    let app = spawn_app().await;
    install_demo_company(&app).await;
    let page = overview(&app).await;
    assert!(page.contains("<time datetime=\""), "{page}");
    assert!(page.contains(" UTC</time>"), "a readable UTC fallback");
    assert!(page.contains("<script src=\"/static/local-time.js\" defer></script>"));
    // Raw RFC 3339 (`2026-12-01T00:16:59.123456789Z`) no longer reaches the text, only the
    // machine-readable attribute.
    let text: String = page
        .split("datetime=\"")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                part.split_once('"').map_or("", |(_, rest)| rest)
            }
        })
        .collect();
    assert!(!has_rfc3339(&text), "{text}");
    let script = app.get("/static/local-time.js").await;
    assert_eq!(script.status(), 200);
    assert!(script.text().await.unwrap().contains("time[datetime]"));
}

#[tokio::test]
async fn the_favicon_is_linked_and_the_old_path_redirects_to_it() {
    let app = spawn_app().await;
    let landing = app.get("/").await.text().await.unwrap();
    assert!(landing.contains("<link rel=\"icon\" href=\"/static/favicon.svg\""));
    let old = app.get("/favicon.ico").await;
    assert_eq!(old.status(), 301);
    assert_eq!(old.headers()["location"], "/static/favicon.svg");
    let icon = app.get("/static/favicon.svg").await;
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
}

/// Whether `text` holds a `dddd-dd-ddTdd:dd` stamp.
fn has_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(16).any(|w| {
        let digits = |r: std::ops::Range<usize>| w[r].iter().all(u8::is_ascii_digit);
        digits(0..4)
            && w[4] == b'-'
            && digits(5..7)
            && w[7] == b'-'
            && digits(8..10)
            && w[10] == b'T'
            && digits(11..13)
            && w[13] == b':'
            && digits(14..16)
    })
}

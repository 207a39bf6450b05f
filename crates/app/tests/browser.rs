//! A real browser (Debian's `chromium`, driven through `chromium-driver` with fantoccini) walks
//! what a new customer and support do: install through the embedded sandbox's OAuth consent,
//! save the workflow settings, send a signed event and see its deal on the dashboard, an operator
//! pausing the tenant in the console, and the tenant seeing it paused. Every page is checked at
//! 1280 px and 360 px for horizontal scrolling and photographed into
//! `target/browser-screenshots/` (CI keeps them as artefacts).
//!
//! Where `chromedriver` is not installed the test says "NOT RUN" with the reason and passes,
//! unless `CI` or `DEALBRIDGE_REQUIRE_BROWSER` is set: then a missing browser fails it.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dealbridge_core::CompanyId;
use dealbridge_events::event_api;
use dealbridge_storage::StaffRole;
use fantoccini::{Client, ClientBuilder, Locator};
use helpers::{spawn_app_with_workers, TestApp};
use secrecy::SecretString;
use serde_json::json;

const OPERATOR: &str = "olga@dealbridge.test";
const PASSWORD: &str = "a long enough password";
/// Desktop and phone widths; every page must fit both without scrolling sideways.
const WIDTHS: [(u32, u32); 2] = [(1280, 900), (360, 780)];

/// The driver process, ended when the test ends (also when it fails).
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Why the browser cannot run here, if it cannot.
fn missing_browser() -> Option<String> {
    if on_path("chromedriver").is_none() {
        return Some(
            "chromedriver is not on PATH (apt-get install chromium chromium-driver)".into(),
        );
    }
    if on_path("chromium").is_none() {
        return Some("chromium is not on PATH (apt-get install chromium)".into());
    }
    None
}

fn browser_required() -> bool {
    ["CI", "DEALBRIDGE_REQUIRE_BROWSER"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let driver = Driver { child, url };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver
}

async fn open_browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    let chromium = on_path("chromium").expect("checked above");
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-GB"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshots folder");
    dir
}

/// At each width: no horizontal scroll, and a screenshot named after the step.
async fn check_page(browser: &Client, step: &str) {
    check_page_at(browser, step, None).await;
}

/// As [`check_page`], the screenshot showing the element `focus` selects (scrolled into view).
async fn check_page_at(browser: &Client, step: &str, focus: Option<&str>) {
    for (width, height) in WIDTHS {
        browser.set_window_size(width, height).await.unwrap();
        if let Some(css) = focus {
            let script = "var e = document.querySelector(arguments[0]); \
                          if (e) { e.scrollIntoView(); } return !!e;";
            let found = browser.execute(script, vec![json!(css)]).await.unwrap();
            assert_eq!(found, json!(true), "{step}: nothing matches {css}");
        }
        let sizes = browser
            .execute(
                "return [document.documentElement.scrollWidth, \
                         document.documentElement.clientWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        let [scroll, client, inner] = [0, 1, 2].map(|i| sizes[i].as_u64().unwrap_or(0));
        assert!(
            inner <= u64::from(width),
            "{step}: the viewport is {inner} px wide, not {width}"
        );
        if scroll > client {
            let culprits = browser
                .execute(
                    "var w = document.documentElement.clientWidth, out = [];\
                     document.querySelectorAll('body *').forEach(function (e) {\
                       var r = e.getBoundingClientRect();\
                       if (r.right > w + 0.5) out.push(e.tagName + '.' + e.className + ' ' + Math.round(r.right));\
                     }); return out.slice(0, 12);",
                    vec![],
                )
                .await
                .unwrap();
            panic!(
                "{step} at {width} px scrolls sideways: scrollWidth {scroll} > clientWidth \
                 {client}; too wide: {culprits}"
            );
        }
        let png = browser.screenshot().await.unwrap();
        let file = screenshots_dir().join(format!("{step}-{width}.png"));
        std::fs::write(&file, png).expect("the screenshot is saved");
    }
    browser.set_window_size(1280, 900).await.unwrap();
}

/// The page's text. A page still loading after a form's redirect can swap its body between
/// finding and reading it (a stale element), so that is tried again for a few seconds.
async fn page_text(browser: &Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let read = async { browser.find(Locator::Css("body")).await?.text().await };
        match read.await {
            Ok(text) => return text,
            Err(e) if Instant::now() > deadline => panic!("the page's text: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The sandbox's consent page: install as the demo company's first user.
async fn install(app: &TestApp, browser: &Client) -> (u64, u64) {
    browser.goto(&app.address).await.unwrap();
    check_page(browser, "01-landing").await;
    browser
        .goto(&format!("{}/install", app.address))
        .await
        .unwrap();
    let control = &app.sandbox.as_ref().expect("sandbox mode").control;
    let demo = control
        .companies()
        .into_iter()
        .find(|c| c.domain == "demo")
        .expect("the demo company");
    let account = format!("{}:{}", demo.id, demo.user_ids[0]);
    let select = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("select[name=account]"))
        .await
        .expect("the sandbox's consent page");
    select.select_by_value(&account).await.unwrap();
    browser
        .find(Locator::Css("button[value=allow]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(browser, "/dashboard").await;
    (demo.id, demo.user_ids[0])
}

async fn wait_for_path(browser: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let url = browser.current_url().await.unwrap();
        if url.path() == path {
            return;
        }
        assert!(Instant::now() < deadline, "still at {url}, not {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn send_signed_event(app: &TestApp, tenant: &str, secret: &SecretString) -> u16 {
    let body = br#"{"type":"signup","timestamp":"2026-05-28T20:26:00Z","data":{"user_id":"u_browser","email":"ada.browser@example.com","name":"Ada Browser","company":"Browser Ltd"}}"#;
    let id = "msg_browser_1";
    let now = chrono::Utc::now().timestamp();
    let signature = event_api::sign(secret, id, now, body).unwrap();
    reqwest::Client::new()
        .post(format!("{}/api/v1/events", app.address))
        .header("content-type", "application/json")
        .header("dealbridge-tenant", tenant)
        .header("webhook-id", id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_and_support_walk_the_pages_at_desktop_and_phone_width() {
    if let Some(reason) = missing_browser() {
        assert!(
            !browser_required(),
            "the browser test must run here (CI or DEALBRIDGE_REQUIRE_BROWSER is set): {reason}"
        );
        println!("NOT RUN: the browser test: {reason}");
        return;
    }
    let app = spawn_app_with_workers().await;
    let driver = start_driver().await;
    let browser = open_browser(&driver).await;
    let walked = walk(&app, &browser).await;
    // The session ends before any assertion failure is reported, so no browser is left behind.
    let _ = browser.close().await;
    walked.unwrap_or_else(|step| panic!("{step}"));
}

/// The walk. A step whose page is wrong returns why, so the caller closes the session before
/// failing; a driver error panics, and the driver process is still ended by `Driver`'s drop.
async fn walk(app: &TestApp, browser: &Client) -> Result<(), String> {
    let (company_id, _user) = install(app, browser).await;
    let overview = page_text(browser).await;
    if !overview.contains("Dana Admin") {
        return Err(format!("the overview names the installer: {overview}"));
    }
    check_page(browser, "02-overview").await;
    check_page_at(browser, "02-overview-budget", Some("figure.chart")).await;

    browser
        .goto(&format!("{}/dashboard/settings", app.address))
        .await
        .unwrap();
    check_page(browser, "03-settings").await;
    click(browser, "form.settings button[type=submit]").await;
    let saved = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".banner.success"))
        .await
        .map_err(|e| format!("the settings save: {e}"))?;
    let banner = saved.text().await.unwrap();
    if !banner.contains("Saved as version") {
        return Err(format!("the settings were not saved: {banner}"));
    }
    check_page(browser, "04-settings-saved").await;

    browser
        .goto(&format!("{}/dashboard", app.address))
        .await
        .unwrap();
    click(
        browser,
        "form[action='/dashboard/event-api/secrets'] button",
    )
    .await;
    let secret_el = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("pre.secret code"))
        .await
        .map_err(|e| format!("the secret page: {e}"))?;
    let secret = SecretString::from(secret_el.text().await.unwrap().trim().to_string());
    check_page(browser, "05-event-secret").await;
    let tenant = app
        .store
        .tenant_by_company(CompanyId::new(i64::try_from(company_id).unwrap()))
        .await
        .unwrap()
        .expect("the installed tenant");
    let status = send_signed_event(app, &tenant.id.to_string(), &secret).await;
    if status != 202 && status != 200 {
        return Err(format!("the signed event was refused: {status}"));
    }

    // The event's job makes it a deal; the dashboard's events list links it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        browser
            .goto(&format!("{}/dashboard", app.address))
            .await
            .unwrap();
        let source = browser.source().await.unwrap();
        if source.contains(">deal ") {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("the event's deal never showed: {source}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    check_page_at(browser, "06-activity-with-deal", Some("table.events")).await;
    // The activity page lists it too, with its filters.
    browser
        .goto(&format!(
            "{}/dashboard/activity?source=event_api",
            app.address
        ))
        .await
        .unwrap();
    let activity = browser.source().await.unwrap();
    if !activity.contains(">deal ") {
        return Err(format!(
            "the activity page lacks the event's deal: {activity}"
        ));
    }
    check_page_at(browser, "06b-activity-page", Some("table.events")).await;

    // Support signs in to the console in the same browser and pauses the tenant.
    dealbridge_web::add_staff_account(
        app.store.as_ref(),
        OPERATOR,
        SecretString::from(PASSWORD),
        StaffRole::Operator,
        "cli:test",
    )
    .await
    .map_err(|e| format!("the operator account: {e}"))?;
    browser
        .goto(&format!("{}/console/login", app.address))
        .await
        .unwrap();
    check_page(browser, "07-console-login").await;
    fill(browser, "input[name=email]", OPERATOR).await;
    fill(browser, "input[name=password]", PASSWORD).await;
    click(browser, "form[action='/console/login'] button[type=submit]").await;
    wait_for_path(browser, "/console").await;
    check_page(browser, "08-console-tenants").await;
    let tenant_page = format!("/console/tenants/{}", tenant.id);
    browser
        .goto(&format!("{}{tenant_page}", app.address))
        .await
        .unwrap();
    check_page(browser, "09-console-tenant").await;
    let pause = format!("form[action='{tenant_page}/pause']");
    fill(
        browser,
        &format!("{pause} input[name=reason]"),
        "browser test: pause",
    )
    .await;
    click(browser, &format!("{pause} button[type=submit]")).await;
    wait_for_path(browser, &tenant_page).await;
    let after = page_text(browser).await;
    if !after.contains("Resume its jobs") {
        return Err(format!("the console shows the tenant paused: {after}"));
    }
    check_page(browser, "10-console-paused").await;
    if !after.contains("tenant.paused") {
        return Err(format!("the timeline shows the pause: {after}"));
    }
    check_page_at(browser, "10-console-timeline", Some("#timeline")).await;

    browser
        .goto(&format!("{}/dashboard", app.address))
        .await
        .unwrap();
    let dashboard = page_text(browser).await;
    if !dashboard.contains("support has paused this company") {
        return Err(format!("the tenant sees it paused: {dashboard}"));
    }
    check_page(browser, "11-dashboard-paused").await;
    Ok(())
}

async fn fill(browser: &Client, css: &str, text: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

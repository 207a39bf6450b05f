//! Starts the real app in-process on port 0 with its own SQLite file (or a given database URL).

#![allow(dead_code)] // each test binary uses a different part of the helpers

pub mod backends;
pub mod console;
pub mod install_flow;
pub mod private_mode;
pub mod processes;
pub mod race;
pub mod records;

use std::sync::Arc;

use dealbridge_app::pipedrive_setup::EmbeddedSandbox;
use dealbridge_app::settings::{DatabaseKind, Settings};
use dealbridge_app::startup::Application;
use dealbridge_storage::Store;

pub struct TestApp {
    pub address: String,
    /// A browser: keeps cookies, does not follow redirects (tests look at each hop).
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub sandbox: Option<EmbeddedSandbox>,
    pub keys: Arc<dealbridge_crypto::KeyRing>,
    /// Where `/metrics` is served (tests always turn it on).
    pub metrics_address: String,
    _data: tempfile::TempDir,
}

impl TestApp {
    pub fn data_path(&self) -> &std::path::Path {
        self._data.path()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request reaches the app")
    }
}

/// Settings as a fresh machine has them, but on port 0 and in a temporary folder.
pub fn test_settings(data: &tempfile::TempDir, database_url: Option<&str>) -> Settings {
    let mut settings = Settings::defaults().expect("defaults are valid");
    let sqlite = format!("sqlite://{}", data.path().join("dealbridge.db").display());
    settings.listen = "127.0.0.1:0".parse().expect("literal address");
    settings.public_url = "http://127.0.0.1:0".parse().expect("literal URL");
    settings.sandbox_listen = "127.0.0.1:0".parse().expect("literal address");
    settings.metrics_listen = Some("127.0.0.1:0".parse().expect("literal address"));
    settings.database_url = database_url.unwrap_or(&sqlite).to_string().into();
    if database_url.is_some_and(|url| url.starts_with("postgres")) {
        settings.database_kind = DatabaseKind::Postgres;
    }
    settings.data_dir = data.path().to_path_buf();
    settings.pipedrive.jwt_secret = Some(TEST_JWT_SECRET.to_string().into());
    settings
}

/// The settings iframe's JWT secret in tests (in production it is configured or the client secret).
pub const TEST_JWT_SECRET: &str = "test-iframe-jwt-secret";

pub async fn spawn_app_with(database_url: Option<&str>) -> TestApp {
    spawn(database_url, false).await
}

/// The app with settings changed by `adjust` (a short session age, an https public URL).
pub async fn spawn_app_adjusted(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let data = tempfile::tempdir().expect("temporary folder");
    let mut settings = test_settings(&data, None);
    adjust(&mut settings);
    start(data, settings, false).await
}

/// The app as `serve` runs it, with settings changed by `adjust`, on `database_url` (a fresh
/// SQLite file when `None`).
pub async fn spawn_app_configured(
    database_url: Option<&str>,
    adjust: impl FnOnce(&mut Settings),
) -> anyhow::Result<TestApp> {
    let data = tempfile::tempdir()?;
    let mut settings = test_settings(&data, database_url);
    adjust(&mut settings);
    let app = Application::build(settings).await?;
    Ok(started(data, app, true))
}

/// The app as `serve` runs it: web server and job workers.
pub async fn spawn_app_with_workers() -> TestApp {
    spawn(None, true).await
}

async fn spawn(database_url: Option<&str>, workers: bool) -> TestApp {
    let data = tempfile::tempdir().expect("temporary folder");
    let settings = test_settings(&data, database_url);
    start(data, settings, workers).await
}

async fn start(data: tempfile::TempDir, settings: Settings, workers: bool) -> TestApp {
    let app = Application::build(settings).await.expect("app builds");
    started(data, app, workers)
}

fn started(data: tempfile::TempDir, app: Application, workers: bool) -> TestApp {
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.store();
    let sandbox = app.sandbox().cloned();
    let keys = app.keys();
    let metrics_address = format!(
        "http://127.0.0.1:{}",
        app.metrics_port().expect("metrics are on in tests")
    );
    if workers {
        tokio::spawn(app.run_with_workers());
    } else {
        tokio::spawn(app.run());
    }
    TestApp {
        address,
        client: browser(),
        store,
        sandbox,
        keys,
        metrics_address,
        _data: data,
    }
}

/// A fresh browser: its own cookie jar, redirects not followed.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

/// A browser whose cookies the test can read, to copy them into another client.
pub fn jar_browser() -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds");
    (client, jar)
}

/// The `Cookie` header the jar would send to the app now.
pub fn cookies_for(jar: &reqwest::cookie::Jar, address: &str) -> String {
    use reqwest::cookie::CookieStore;
    let url = address.parse().expect("the app's address is a URL");
    jar.cookies(&url)
        .and_then(|v| v.to_str().ok().map(str::to_string))
        .expect("the browser holds a cookie")
}

/// Another machine replaying a copied `Cookie` header: it never takes new cookies.
pub fn copied_cookie_client(cookie: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        cookie.parse().expect("a cookie header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

/// The CSRF token of a form on `html`.
pub fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has a CSRF token")
        .to_string()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(None).await
}

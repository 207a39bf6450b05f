//! Settings: built-in defaults, then a TOML file, then `DEALBRIDGE_*` environment variables (and
//! `DATABASE_URL`), validated once at start-up into typed values. A bad value is reported as one line
//! naming the environment variable, because that is what an operator edits.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

const DEFAULT_CONFIG_FILE: &str = "dealbridge.toml";

/// Finished events are kept at least this long: Pipedrive and the stores retry a delivery for
/// up to days, and a usage report may arrive late for its day.
const MIN_EVENT_RETENTION_DAYS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid setting {key}: {reason}")]
    Invalid { key: String, reason: String },
    #[error("cannot read settings file {path}: {reason}")]
    File { path: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

/// Validated settings. `Debug` is safe to log: secrets print as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Where users reach the app; OAuth callbacks and links are built from it.
    pub public_url: Url,
    pub database_url: SecretString,
    pub database_kind: DatabaseKind,
    pub database_max_connections: u32,
    pub data_dir: PathBuf,
    pub log: String,
    pub log_format: LogFormat,
    pub shutdown_timeout: Duration,
    /// `DEALBRIDGE_SESSION_MAX_AGE_SECS`: the longest a dashboard or console sign-in lasts,
    /// whatever the browser does with its cookie (default 12 hours).
    pub session_max_age: Duration,
    pub dev_reload: bool,
    /// Jobs each process runs at once.
    pub worker_concurrency: usize,
    /// `DEALBRIDGE_RETENTION_DAYS`: how long an uninstalled tenant's data is kept before the
    /// purge deletes it (a reinstall within it finds its settings again).
    pub retention_days: u32,
    /// `DEALBRIDGE_EVENT_RETENTION_DAYS`: how long a processed or stale inbox event (with its own
    /// step journal) and a day's usage-note journal are kept (default 30, at least 3).
    pub event_retention_days: u32,
    pub pipedrive: PipedriveSettings,
    /// `DEALBRIDGE_ENCRYPTION_KEYS`: the key ring that seals tokens (see the crypto crate).
    pub encryption_keys: Option<SecretString>,
    /// `DEALBRIDGE_SESSION_KEY`: 64+ bytes, base64, signing and encrypting dashboard cookies.
    pub session_key: Option<SecretString>,
    /// Where the embedded sandbox listens when no Pipedrive credentials are configured.
    pub sandbox_listen: SocketAddr,
    /// `DEALBRIDGE_METRICS_LISTEN`: where `/metrics` (Prometheus text format) is served; unset
    /// means not at all. A separate address, so the figures never face the public internet.
    pub metrics_listen: Option<SocketAddr>,
    /// `DEALBRIDGE_API2CART_URL`: API2Cart's API root (the embedded sandbox's stand-in when
    /// running offline).
    pub api2cart_url: Url,
    /// `DEALBRIDGE_API2CART_API_KEY`: our API2Cart account key; unset means API2Cart stores
    /// cannot be connected (offline, the embedded sandbox provides one).
    pub api2cart_api_key: Option<SecretString>,
    /// `DEALBRIDGE_METRICS_MAX_COMPANIES`: how many companies (the busiest by calls) get
    /// per-company series of their own; the rest are summed under `company="other"`.
    pub metrics_max_companies: usize,
    /// `DEALBRIDGE_OTLP_ENDPOINT`: an OpenTelemetry collector's OTLP/HTTP base URL (traces go to
    /// `/v1/traces` under it); unset means no trace export.
    pub otlp_endpoint: Option<Url>,
}

/// How to reach Pipedrive. Without credentials Dealbridge runs against an embedded sandbox.
#[derive(Debug, Clone)]
pub struct PipedriveSettings {
    pub credentials: Option<PipedriveCredentials>,
    /// Private mode: Dealbridge for one company, with a personal API token instead of OAuth.
    pub private: Option<PrivateMode>,
    pub oauth_url: Url,
    /// Secret of the app settings iframe's JWT; Pipedrive uses the client secret when it is unset.
    pub jwt_secret: Option<SecretString>,
}

/// `DEALBRIDGE_PIPEDRIVE_API_TOKEN` is set: no Marketplace, no install page, one company.
#[derive(Debug, Clone)]
pub struct PrivateMode {
    /// `DEALBRIDGE_PIPEDRIVE_API_TOKEN`: the personal API token of a user of the company.
    pub api_token: SecretString,
    /// `DEALBRIDGE_PIPEDRIVE_API_URL`: the company's API host (`https://COMPANY.pipedrive.com`,
    /// default `https://api.pipedrive.com`); `/api/v1/…` and `/api/v2/…` are appended.
    pub api_url: Url,
    /// `DEALBRIDGE_ADMIN_EMAIL` (normalised): the one person the dashboard opens for, with the
    /// password of the console account of that email.
    pub admin_email: String,
}

#[derive(Debug, Clone)]
pub struct PipedriveCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

/// What the providers give, before validation. Field names are the keys of the TOML file and, in
/// upper case after `DEALBRIDGE_`, of the environment.
#[derive(Deserialize)]
struct Raw {
    #[serde(default = "defaults::listen")]
    listen: String,
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default = "defaults::database_url")]
    database_url: SecretString,
    #[serde(default = "defaults::database_max_connections")]
    database_max_connections: u32,
    #[serde(default = "defaults::data_dir")]
    data_dir: PathBuf,
    #[serde(default = "defaults::log")]
    log: String,
    #[serde(default = "defaults::log_format")]
    log_format: String,
    #[serde(default = "defaults::shutdown_timeout_secs")]
    shutdown_timeout_secs: u64,
    #[serde(default = "defaults::session_max_age_secs")]
    session_max_age_secs: u64,
    #[serde(default)]
    dev_reload: bool,
    #[serde(default = "defaults::worker_concurrency")]
    worker_concurrency: usize,
    #[serde(default = "defaults::retention_days")]
    retention_days: u32,
    #[serde(default = "defaults::event_retention_days")]
    event_retention_days: u32,
    #[serde(default)]
    pipedrive_client_id: Option<String>,
    #[serde(default)]
    pipedrive_client_secret: Option<SecretString>,
    #[serde(default = "defaults::pipedrive_oauth_url")]
    pipedrive_oauth_url: String,
    #[serde(default)]
    pipedrive_jwt_secret: Option<SecretString>,
    #[serde(default)]
    pipedrive_api_token: Option<SecretString>,
    #[serde(default = "defaults::pipedrive_api_url")]
    pipedrive_api_url: String,
    #[serde(default)]
    admin_email: Option<String>,
    #[serde(default)]
    encryption_keys: Option<SecretString>,
    #[serde(default)]
    session_key: Option<SecretString>,
    #[serde(default = "defaults::sandbox_listen")]
    sandbox_listen: String,
    #[serde(default)]
    metrics_listen: Option<String>,
    #[serde(default = "defaults::api2cart_url")]
    api2cart_url: String,
    #[serde(default)]
    api2cart_api_key: Option<SecretString>,
    #[serde(default = "defaults::metrics_max_companies")]
    metrics_max_companies: usize,
    #[serde(default)]
    otlp_endpoint: Option<String>,
}

mod defaults {
    pub fn listen() -> String {
        "127.0.0.1:8080".into()
    }
    pub fn database_url() -> secrecy::SecretString {
        "sqlite://data/dealbridge.db".into()
    }
    pub fn database_max_connections() -> u32 {
        10
    }
    pub fn data_dir() -> std::path::PathBuf {
        "data".into()
    }
    pub fn log() -> String {
        "info".into()
    }
    pub fn log_format() -> String {
        "pretty".into()
    }
    pub fn shutdown_timeout_secs() -> u64 {
        30
    }
    pub fn session_max_age_secs() -> u64 {
        12 * 3600
    }
    pub fn metrics_max_companies() -> usize {
        dealbridge_web::metrics::DEFAULT_MAX_COMPANIES
    }
    pub fn worker_concurrency() -> usize {
        16
    }
    pub fn retention_days() -> u32 {
        30
    }
    pub fn event_retention_days() -> u32 {
        30
    }
    pub fn pipedrive_oauth_url() -> String {
        "https://oauth.pipedrive.com".into()
    }
    pub fn pipedrive_api_url() -> String {
        "https://api.pipedrive.com".into()
    }
    pub fn sandbox_listen() -> String {
        "127.0.0.1:8090".into()
    }
    pub fn api2cart_url() -> String {
        "https://api.api2cart.com/v1.1".into()
    }
}

impl Settings {
    /// Loads from `config` (or `dealbridge.toml` if it exists) and the environment.
    pub fn load(config: Option<&Path>) -> Result<Self, SettingsError> {
        let mut figment = Figment::new();
        match config {
            Some(path) if !path.is_file() => {
                return Err(SettingsError::File {
                    path: path.display().to_string(),
                    reason: "no such file".into(),
                })
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE))
            }
            None => {}
        }
        let figment = figment
            .merge(Env::prefixed("DEALBRIDGE_"))
            .merge(Env::raw().only(&["DATABASE_URL"]));
        Self::from_figment(figment)
    }

    /// The built-in defaults alone, ignoring files and the environment (tests start from these).
    pub fn defaults() -> Result<Self, SettingsError> {
        Self::from_figment(Figment::new())
    }

    fn from_figment(figment: Figment) -> Result<Self, SettingsError> {
        let raw: Raw = figment.extract().map_err(first_error)?;
        raw.validate()
    }
}

impl Raw {
    fn validate(self) -> Result<Settings, SettingsError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!("{:?} is not HOST:PORT (e.g. 127.0.0.1:8080)", self.listen),
            )
        })?;
        let public_url = match self.public_url {
            Some(text) => parse_http_url(&text)
                .ok_or_else(|| invalid("public_url", format!("{text:?} is not an http(s) URL")))?,
            None => default_public_url(listen),
        };
        let database_kind = database_kind(self.database_url.expose_secret())?;
        let log_format = match self.log_format.as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "log_format",
                    format!("{other:?} is not pretty or json"),
                ))
            }
        };
        if self.database_max_connections == 0 {
            return Err(invalid(
                "database_max_connections",
                "must be at least 1".into(),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| invalid("log", format!("{:?} is not a log filter: {e}", self.log)))?;
        let private = private_mode(
            self.pipedrive_api_token,
            &self.pipedrive_api_url,
            self.admin_email.as_deref(),
        )?;
        if private.is_some() && self.pipedrive_client_id.is_some() {
            return Err(invalid(
                "pipedrive_api_token",
                "cannot be combined with DEALBRIDGE_PIPEDRIVE_CLIENT_ID (private mode runs without the Marketplace app)".into(),
            ));
        }
        let pipedrive = PipedriveSettings {
            private,
            credentials: match (self.pipedrive_client_id, self.pipedrive_client_secret) {
                (Some(client_id), Some(client_secret)) if !client_id.is_empty() => {
                    Some(PipedriveCredentials {
                        client_id,
                        client_secret,
                    })
                }
                (None, None) => None,
                (Some(_), None) => {
                    return Err(invalid(
                        "pipedrive_client_secret",
                        "missing (the client id is set)".into(),
                    ))
                }
                _ => {
                    return Err(invalid(
                        "pipedrive_client_id",
                        "missing or empty (the secret is set)".into(),
                    ))
                }
            },
            oauth_url: parse_http_url(&self.pipedrive_oauth_url).ok_or_else(|| {
                invalid(
                    "pipedrive_oauth_url",
                    format!("{:?} is not an http(s) URL", self.pipedrive_oauth_url),
                )
            })?,
            jwt_secret: self.pipedrive_jwt_secret,
        };
        if pipedrive.credentials.is_some() || pipedrive.private.is_some() {
            // Real customer secrets must never be sealed with a key generated on the fly.
            if self.encryption_keys.is_none() {
                return Err(invalid(
                    "encryption_keys",
                    "required when Pipedrive credentials or an API token are set".into(),
                ));
            }
            if self.session_key.is_none() {
                return Err(invalid(
                    "session_key",
                    "required when Pipedrive credentials or an API token are set".into(),
                ));
            }
        }
        let sandbox_listen: SocketAddr = self.sandbox_listen.parse().map_err(|_| {
            invalid(
                "sandbox_listen",
                format!("{:?} is not HOST:PORT", self.sandbox_listen),
            )
        })?;
        if self.session_max_age_secs == 0 {
            return Err(invalid("session_max_age_secs", "must be at least 1".into()));
        }
        if self.retention_days == 0 {
            return Err(invalid(
                "retention_days",
                "must be at least 1 (a reinstall by mistake must not lose the settings)".into(),
            ));
        }
        if self.event_retention_days < MIN_EVENT_RETENTION_DAYS {
            return Err(invalid(
                "event_retention_days",
                format!(
                    "must be at least {MIN_EVENT_RETENTION_DAYS} (senders retry for days, and a \
                     late usage report must find its day's note)"
                ),
            ));
        }
        let metrics_listen =
            match self.metrics_listen.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(address) => Some(address.parse().map_err(|_| {
                    invalid("metrics_listen", format!("{address:?} is not HOST:PORT"))
                })?),
            };
        let api2cart_url = parse_http_url(&self.api2cart_url).ok_or_else(|| {
            invalid(
                "api2cart_url",
                format!("{:?} is not an http(s) URL", self.api2cart_url),
            )
        })?;
        let api2cart_api_key = self
            .api2cart_api_key
            .filter(|key| !key.expose_secret().trim().is_empty());
        let otlp_endpoint = match self.otlp_endpoint.as_deref().map(str::trim) {
            None | Some("") => None,
            // Credentials in the URL are refused: the address is logged.
            Some(endpoint) => Some(
                endpoint
                    .parse::<Url>()
                    .ok()
                    .filter(|url| matches!(url.scheme(), "http" | "https"))
                    .filter(|url| url.username().is_empty() && url.password().is_none())
                    .ok_or_else(|| {
                        invalid(
                            "otlp_endpoint",
                            "must be an http(s) URL without credentials".into(),
                        )
                    })?,
            ),
        };
        Ok(Settings {
            api2cart_url,
            api2cart_api_key,
            otlp_endpoint,
            metrics_listen,
            metrics_max_companies: self.metrics_max_companies,
            retention_days: self.retention_days,
            event_retention_days: self.event_retention_days,
            pipedrive,
            encryption_keys: self.encryption_keys,
            session_key: self.session_key,
            sandbox_listen,
            listen,
            public_url,
            database_url: self.database_url,
            database_kind,
            database_max_connections: self.database_max_connections,
            data_dir: self.data_dir,
            log: self.log,
            log_format,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
            session_max_age: Duration::from_secs(self.session_max_age_secs),
            dev_reload: self.dev_reload,
            worker_concurrency: self.worker_concurrency.max(1),
        })
    }
}

/// Private mode when an API token is set; the admin email is then required, and refused
/// without one (it would open nothing, silently).
fn private_mode(
    api_token: Option<SecretString>,
    api_url: &str,
    admin_email: Option<&str>,
) -> Result<Option<PrivateMode>, SettingsError> {
    let api_token = api_token.filter(|t| !t.expose_secret().trim().is_empty());
    let admin_email = admin_email.map(str::trim).filter(|e| !e.is_empty());
    let Some(api_token) = api_token else {
        if admin_email.is_some() {
            return Err(invalid(
                "admin_email",
                "only used in private mode (set DEALBRIDGE_PIPEDRIVE_API_TOKEN too)".into(),
            ));
        }
        return Ok(None);
    };
    let api_token = SecretString::from(api_token.expose_secret().trim().to_string());
    let api_url = parse_http_url(api_url)
        .filter(|url| url.username().is_empty() && url.password().is_none())
        .ok_or_else(|| {
            invalid(
                "pipedrive_api_url",
                format!("{api_url:?} is not an http(s) URL without credentials"),
            )
        })?;
    let admin_email = admin_email
        .ok_or_else(|| {
            invalid(
                "admin_email",
                "required in private mode (who may open the dashboard)".into(),
            )
        })
        .and_then(|email| {
            dealbridge_web::normalize_email(email)
                .ok_or_else(|| invalid("admin_email", format!("{email:?} is not an email address")))
        })?;
    Ok(Some(PrivateMode {
        api_token,
        api_url,
        admin_email,
    }))
}

/// Only the scheme is inspected and echoed: the rest of the URL may hold a password.
fn database_kind(url: &str) -> Result<DatabaseKind, SettingsError> {
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .unwrap_or_default();
    match scheme {
        "sqlite" => Ok(DatabaseKind::Sqlite),
        "postgres" | "postgresql" => Ok(DatabaseKind::Postgres),
        "" => Err(invalid(
            "database_url",
            "has no scheme (use sqlite://… or postgres://…)".into(),
        )),
        other => Err(invalid(
            "database_url",
            format!("unsupported database {other:?} (use sqlite://… or postgres://…)"),
        )),
    }
}

fn parse_http_url(text: &str) -> Option<Url> {
    Url::parse(text)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
}

fn default_public_url(listen: SocketAddr) -> Url {
    let host = if listen.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        listen.ip().to_string()
    };
    let host = if listen.is_ipv6() && host != "localhost" {
        format!("[{host}]")
    } else {
        host
    };
    Url::parse(&format!("http://{host}:{}", listen.port()))
        .unwrap_or_else(|_| Url::parse("http://localhost:8080").expect("literal URL parses"))
}

/// The environment variable an operator sets for a settings key.
pub fn env_name(key: &str) -> String {
    match key {
        "database_url" => "DATABASE_URL".into(),
        other => format!("DEALBRIDGE_{}", other.to_uppercase()),
    }
}

fn invalid(key: &str, reason: String) -> SettingsError {
    SettingsError::Invalid {
        key: env_name(key),
        reason,
    }
}

/// Figment can report several problems; the first, on one line, is what the operator needs.
fn first_error(err: figment::Error) -> SettingsError {
    let err = err
        .into_iter()
        .next()
        .unwrap_or_else(|| figment::Error::from("unknown".to_string()));
    let key = err
        .path
        .last()
        .cloned()
        .unwrap_or_else(|| "settings".into());
    invalid(&key, err.kind.to_string().replace('\n', " "))
}

#[cfg(test)]
mod tests;

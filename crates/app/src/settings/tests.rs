// figment's `Jail` closures must return its (large) error type.
#![allow(clippy::result_large_err)]

use super::*;
use figment::Jail;

fn load_in(jail: &Jail) -> Result<Settings, SettingsError> {
    let _ = jail;
    Settings::load(None)
}

#[test]
fn defaults_need_no_configuration() {
    Jail::expect_with(|jail| {
        let settings = load_in(jail).map_err(|e| e.to_string())?;
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(
            settings.database_url.expose_secret(),
            "sqlite://data/dealbridge.db"
        );
        assert_eq!(settings.database_kind, DatabaseKind::Sqlite);
        assert_eq!(settings.log_format, LogFormat::Pretty);
        assert_eq!(settings.retention_days, 30);
        assert_eq!(settings.event_retention_days, 30);
        assert_eq!(settings.metrics_listen, None, "metrics are opt-in");
        assert_eq!(settings.metrics_max_companies, 100);
        assert_eq!(settings.otlp_endpoint, None, "trace export is opt-in");
        Ok(())
    });
}

#[test]
fn file_then_environment_override_defaults() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "dealbridge.toml",
            "listen = \"0.0.0.0:9000\"\nlog_format = \"json\"\ndatabase_max_connections = 3\n",
        )?;
        let from_file = load_in(jail).map_err(|e| e.to_string())?;
        assert_eq!(from_file.listen.port(), 9000);
        assert_eq!(from_file.log_format, LogFormat::Json);
        assert_eq!(from_file.database_max_connections, 3);
        assert_eq!(from_file.public_url.as_str(), "http://localhost:9000/");

        jail.set_env("DEALBRIDGE_LISTEN", "127.0.0.1:9100");
        jail.set_env("DATABASE_URL", "postgres://u:hunter2pw@db/dealbridge");
        let from_env = load_in(jail).map_err(|e| e.to_string())?;
        assert_eq!(from_env.listen.port(), 9100);
        assert_eq!(from_env.log_format, LogFormat::Json, "file value kept");
        assert_eq!(from_env.database_kind, DatabaseKind::Postgres);
        assert!(
            !format!("{from_env:?}").contains("hunter2pw"),
            "Debug leaks the database password"
        );
        Ok(())
    });
}

#[test]
fn bad_values_name_their_variable_on_one_line() {
    let cases = [
        ("DEALBRIDGE_LISTEN", "nonsense", "DEALBRIDGE_LISTEN"),
        ("DATABASE_URL", "mysql://root:pw@x/db", "DATABASE_URL"),
        ("DEALBRIDGE_LOG_FORMAT", "xml", "DEALBRIDGE_LOG_FORMAT"),
        (
            "DEALBRIDGE_DATABASE_MAX_CONNECTIONS",
            "many",
            "DEALBRIDGE_DATABASE_MAX_CONNECTIONS",
        ),
        ("DEALBRIDGE_PUBLIC_URL", "ftp://x", "DEALBRIDGE_PUBLIC_URL"),
        (
            "DEALBRIDGE_RETENTION_DAYS",
            "0",
            "DEALBRIDGE_RETENTION_DAYS",
        ),
        (
            "DEALBRIDGE_RETENTION_DAYS",
            "soon",
            "DEALBRIDGE_RETENTION_DAYS",
        ),
        (
            "DEALBRIDGE_EVENT_RETENTION_DAYS",
            "2",
            "DEALBRIDGE_EVENT_RETENTION_DAYS",
        ),
        (
            "DEALBRIDGE_OTLP_ENDPOINT",
            "collector:4318",
            "DEALBRIDGE_OTLP_ENDPOINT",
        ),
        (
            "DEALBRIDGE_OTLP_ENDPOINT",
            "https://user:pw@otel.example",
            "DEALBRIDGE_OTLP_ENDPOINT",
        ),
        (
            "DEALBRIDGE_METRICS_MAX_COMPANIES",
            "all",
            "DEALBRIDGE_METRICS_MAX_COMPANIES",
        ),
    ];
    for (var, value, named) in cases {
        Jail::expect_with(|jail| {
            jail.set_env(var, value);
            let err = load_in(jail).expect_err("bad value accepted").to_string();
            assert!(err.contains(named), "{var}={value}: {err}");
            assert!(!err.contains('\n'), "not one line: {err}");
            assert!(!err.contains("pw@"), "echoes the database password: {err}");
            Ok(())
        });
    }
}

#[test]
fn a_missing_explicit_file_is_an_error() {
    let err = Settings::load(Some(Path::new("/nonexistent/dealbridge.toml"))).unwrap_err();
    assert!(err.to_string().contains("no such file"), "{err}");
}

#[test]
fn trace_export_and_the_company_bound_are_read_from_the_environment() {
    Jail::expect_with(|jail| {
        jail.set_env("DEALBRIDGE_OTLP_ENDPOINT", "http://collector:4318");
        jail.set_env("DEALBRIDGE_METRICS_MAX_COMPANIES", "25");
        let settings = load_in(jail).map_err(|e| e.to_string())?;
        assert_eq!(
            settings.otlp_endpoint.as_ref().map(Url::as_str),
            Some("http://collector:4318/")
        );
        assert_eq!(settings.metrics_max_companies, 25);
        Ok(())
    });
}

/// What private mode needs besides the token: keys, and who may open the dashboard.
fn private_env(jail: &mut Jail) {
    jail.set_env("DEALBRIDGE_PIPEDRIVE_API_TOKEN", "  tok-3f9a1c77e0  ");
    jail.set_env("DEALBRIDGE_ENCRYPTION_KEYS", "k1:x");
    jail.set_env("DEALBRIDGE_SESSION_KEY", "y");
}

#[test]
fn an_api_token_turns_on_private_mode_for_the_admin() {
    Jail::expect_with(|jail| {
        private_env(jail);
        jail.set_env("DEALBRIDGE_ADMIN_EMAIL", " Owner@Acme.Test ");
        jail.set_env("DEALBRIDGE_PIPEDRIVE_API_URL", "https://acme.pipedrive.com");
        let settings = load_in(jail).map_err(|e| e.to_string())?;
        let private = settings.pipedrive.private.as_ref().expect("private mode");
        assert_eq!(private.api_token.expose_secret(), "tok-3f9a1c77e0");
        assert_eq!(private.api_url.as_str(), "https://acme.pipedrive.com/");
        assert_eq!(private.admin_email, "owner@acme.test");
        assert!(settings.pipedrive.credentials.is_none());
        assert!(
            !format!("{settings:?}").contains("tok-3f9a1c77e0"),
            "Debug leaks the API token"
        );
        Ok(())
    });
}

#[test]
fn private_mode_refuses_what_it_cannot_run_with() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "DEALBRIDGE_ADMIN_EMAIL"),
        (
            &[("DEALBRIDGE_ADMIN_EMAIL", "owner")],
            "DEALBRIDGE_ADMIN_EMAIL",
        ),
        (
            &[
                ("DEALBRIDGE_ADMIN_EMAIL", "owner@acme.test"),
                ("DEALBRIDGE_PIPEDRIVE_API_URL", "acme.pipedrive.com"),
            ],
            "DEALBRIDGE_PIPEDRIVE_API_URL",
        ),
        (
            &[
                ("DEALBRIDGE_ADMIN_EMAIL", "owner@acme.test"),
                ("DEALBRIDGE_PIPEDRIVE_CLIENT_ID", "id"),
                ("DEALBRIDGE_PIPEDRIVE_CLIENT_SECRET", "secret"),
            ],
            "DEALBRIDGE_PIPEDRIVE_API_TOKEN",
        ),
    ];
    for (extra, named) in cases {
        Jail::expect_with(|jail| {
            private_env(jail);
            for (var, value) in extra {
                jail.set_env(var, value);
            }
            let err = load_in(jail).expect_err("accepted").to_string();
            assert!(err.contains(named), "{extra:?}: {err}");
            assert!(!err.contains("tok-3f9a1c77e0"), "echoes the token: {err}");
            Ok(())
        });
    }
    Jail::expect_with(|jail| {
        jail.set_env("DEALBRIDGE_PIPEDRIVE_API_TOKEN", "tok-3f9a1c77e0");
        jail.set_env("DEALBRIDGE_ADMIN_EMAIL", "owner@acme.test");
        let err = load_in(jail).expect_err("keys are required").to_string();
        assert!(err.contains("DEALBRIDGE_ENCRYPTION_KEYS"), "{err}");
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.set_env("DEALBRIDGE_ADMIN_EMAIL", "owner@acme.test");
        let err = load_in(jail)
            .expect_err("an admin without private mode")
            .to_string();
        assert!(err.contains("DEALBRIDGE_ADMIN_EMAIL"), "{err}");
        Ok(())
    });
}

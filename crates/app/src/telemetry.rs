//! Logging: human-readable by default, one JSON object per line with `DEALBRIDGE_LOG_FORMAT=json`.
//! `RUST_LOG`, when set, wins over `DEALBRIDGE_LOG` (handy while debugging one module).

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, Settings};

pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Closing spans are logged so every request leaves one line with its status and duration
    // (tracing-actix-web records them on the request's root span).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr);
    // A second init (tests building several apps) keeps the first subscriber; that is fine.
    let _ = match settings.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

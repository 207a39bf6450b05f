//! Logging: human-readable by default, one JSON object per line with `DEALBRIDGE_LOG_FORMAT=json`.
//! `RUST_LOG`, when set, wins over `DEALBRIDGE_LOG` (handy while debugging one module).
//!
//! Traces: with `DEALBRIDGE_OTLP_ENDPOINT` set, the same spans (requests, jobs, with their tenant
//! and job ids) are also sent to an OpenTelemetry collector over OTLP/HTTP with protobuf bodies.

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use url::Url;

use crate::settings::{LogFormat, Settings};

/// The name collectors show for this service.
pub const SERVICE_NAME: &str = "dealbridge";

/// Keeps the trace exporter alive; dropping it sends the spans still buffered.
#[must_use = "dropping the guard stops trace export"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends every span ended so far (tests, and before a planned exit). Blocks: the exporter
    /// sends from a thread of its own with a blocking HTTP client.
    pub fn flush(&self) -> anyhow::Result<()> {
        if let Some(traces) = &self.traces {
            traces.force_flush().context("flushing traces")?;
        }
        Ok(())
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(traces) = self.traces.take() {
            if let Err(e) = traces.shutdown() {
                eprintln!("dealbridge: the last traces were not sent: {e}");
            }
        }
    }
}

/// Installs the process's subscriber. A second call (tests building several apps) keeps the
/// first subscriber and exports nothing of its own; that is fine.
pub fn init(settings: &Settings) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Closing spans are logged so every request leaves one line with its status and duration
    // (tracing-actix-web records them on the request's root span).
    let fmt = tracing_subscriber::fmt::layer()
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr);
    let logs = match settings.log_format {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
        LogFormat::Pretty => fmt.boxed(),
    };
    let traces = settings
        .otlp_endpoint
        .as_ref()
        .map(trace_provider)
        .transpose()?;
    let export = traces
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(SERVICE_NAME)));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(export)
        .try_init()
        .is_ok();
    Ok(Telemetry {
        // A provider no subscriber feeds would only hold a thread.
        traces: traces.filter(|_| installed),
    })
}

/// Spans in batches to `endpoint/v1/traces` (the OTLP/HTTP path for traces).
fn trace_provider(endpoint: &Url) -> anyhow::Result<SdkTracerProvider> {
    let traces_url = traces_url(endpoint);
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url.as_str())
        .build()
        .with_context(|| format!("the OTLP exporter for {traces_url}"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
        .build())
}

fn traces_url(endpoint: &Url) -> String {
    format!("{}/v1/traces", endpoint.as_str().trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_go_to_the_otlp_traces_path_under_the_endpoint() {
        let with_slash: Url = "http://collector:4318/".parse().expect("a URL");
        let under_path: Url = "https://otel.example/ingest".parse().expect("a URL");
        assert_eq!(traces_url(&with_slash), "http://collector:4318/v1/traces");
        assert_eq!(
            traces_url(&under_path),
            "https://otel.example/ingest/v1/traces"
        );
    }
}

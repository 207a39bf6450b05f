//! The app's own recorder: what the request middleware, the job worker and the webhook receivers
//! count as it happens.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use metrics::{
    counter, describe_counter, describe_histogram, histogram, with_local_recorder, Unit,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

pub(crate) const HTTP_DURATION: &str = "dealbridge_http_request_duration_seconds";
pub(crate) const JOBS_FINISHED: &str = "dealbridge_jobs_finished_total";
pub(crate) const WEBHOOK_EVENTS: &str = "dealbridge_webhook_events_total";

/// From a cached page (a few ms) to a slow Pipedrive round trip; Prometheus' usual spread.
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Cheap to clone; every clone records into the same figures.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

/// How a webhook delivery ended at the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Committed to the inbox (a stale event is kept too, so it counts here).
    Recorded,
    /// Already in the inbox; acknowledged, nothing written.
    Duplicate,
    /// Refused: unknown path, wrong credentials, another company's event, or a malformed body.
    Refused,
    /// The store could not take it; the sender was told to retry (503).
    Unavailable,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Recorded => "recorded",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Refused => "refused",
            WebhookOutcome::Unavailable => "unavailable",
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), HTTP_BUCKETS)
            // Only fails for an empty bucket list; HTTP_BUCKETS is not empty.
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        with_local_recorder(&recorder, || {
            describe_histogram!(
                HTTP_DURATION,
                Unit::Seconds,
                "Time to answer an HTTP request, by method, route pattern and status class."
            );
            describe_counter!(
                JOBS_FINISHED,
                Unit::Count,
                "Job attempts whose outcome this process recorded, by kind and outcome."
            );
            describe_counter!(
                WEBHOOK_EVENTS,
                Unit::Count,
                "Webhook deliveries received, by source and outcome."
            );
        });
        Self {
            inner: Arc::new(Inner { recorder, handle }),
        }
    }

    /// One answered request. `route` is the matched pattern (never the raw path, whose ids would
    /// make a series per customer), or `unmatched`.
    pub fn http_request(&self, method: &Method, route: &str, status: StatusCode, took: Duration) {
        self.with(|| {
            histogram!(
                HTTP_DURATION,
                "method" => method_label(method),
                "route" => route.to_owned(),
                "status" => status_class(status),
            )
            .record(took.as_secs_f64());
        });
    }

    /// One recorded job outcome (`done`, `retried` or `dead`).
    pub fn job_finished(&self, kind: &str, outcome: &'static str) {
        self.with(|| {
            counter!(JOBS_FINISHED, "kind" => kind.to_owned(), "outcome" => outcome).increment(1);
        });
    }

    /// One webhook delivery from `source` (`pipedrive`, ...).
    pub fn webhook(&self, source: &'static str, outcome: WebhookOutcome) {
        self.with(|| {
            counter!(WEBHOOK_EVENTS, "source" => source, "outcome" => outcome.as_str())
                .increment(1);
        });
    }

    /// Runs `record` with this app's recorder as the current one.
    pub(crate) fn with<R>(&self, record: impl FnOnce() -> R) -> R {
        with_local_recorder(&self.inner.recorder, record)
    }

    pub(crate) fn render(&self) -> String {
        self.inner.handle.render()
    }
}

/// Methods a client can make up are folded into `other`, so they cannot grow the series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_and_statuses_fold_into_a_few_labels() {
        let custom = Method::from_bytes(b"BREW").expect("a valid token");
        assert_eq!(method_label(&custom), "other");
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(status_class(StatusCode::NO_CONTENT), "2xx");
        assert_eq!(status_class(StatusCode::SEE_OTHER), "3xx");
        assert_eq!(status_class(StatusCode::TOO_MANY_REQUESTS), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }

    #[test]
    fn a_request_lands_in_its_bucket_under_its_route_pattern() {
        let metrics = Metrics::new();
        let route = "/hooks/pipedrive/{path_token}";
        let took = Duration::from_millis(30);
        metrics.http_request(&Method::POST, route, StatusCode::OK, took);
        let page = metrics.render();
        let series = r#"method="POST",route="/hooks/pipedrive/{path_token}",status="2xx""#;
        // 30 ms is above the 25 ms bound and within the 50 ms one.
        assert!(
            page.contains(&format!(
                "{HTTP_DURATION}_bucket{{{series},le=\"0.025\"}} 0"
            )),
            "{page}"
        );
        assert!(
            page.contains(&format!("{HTTP_DURATION}_bucket{{{series},le=\"0.05\"}} 1")),
            "{page}"
        );
        assert!(
            page.contains(&format!("{HTTP_DURATION}_count{{{series}}} 1")),
            "{page}"
        );
    }
}

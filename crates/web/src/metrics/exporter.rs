//! The scrape-time half of `/metrics`: figures that already live elsewhere (the Pipedrive client's
//! per-company counters, which the dashboard reads too; the vault's refreshes; the queue's depth)
//! are read when the page is asked for rather than instrumenting every call twice.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use chrono::Utc;
use dealbridge_core::ErrorChain;
use dealbridge_pipedrive::{CompanyFigures, Pipedrive};
use dealbridge_storage::{LaneOverview, Store};
use dealbridge_tokens::TokenVault;
use metrics::{counter, describe_counter, describe_gauge, gauge, with_local_recorder, Unit};
use metrics_exporter_prometheus::PrometheusBuilder;

use super::{Metrics, Ranked};

pub struct MetricsExporter {
    metrics: Metrics,
    pipedrive: Pipedrive,
    store: Arc<dyn Store>,
    vault: Option<TokenVault>,
    max_companies: usize,
}

/// One exported figure: its name, help text, unit and how to read it from a company's figures.
struct Exported {
    name: &'static str,
    help: &'static str,
    unit: Unit,
    read: fn(&CompanyFigures) -> u64,
}

const COUNTERS: &[Exported] = &[
    Exported {
        name: "dealbridge_pipedrive_calls_total",
        help: "Calls sent to Pipedrive by this process (each try counts).",
        unit: Unit::Count,
        read: |f| f.calls,
    },
    Exported {
        name: "dealbridge_pipedrive_tokens_spent_total",
        help: "API tokens charged for calls this process sent (x-token-cost).",
        unit: Unit::Count,
        read: |f| f.tokens_spent,
    },
    Exported {
        name: "dealbridge_pipedrive_rate_limited_total",
        help: "429 answers Pipedrive gave this process.",
        unit: Unit::Count,
        read: |f| f.rate_limited,
    },
    Exported {
        name: "dealbridge_pipedrive_errors_total",
        help: "Calls that failed after their retries.",
        unit: Unit::Count,
        read: |f| f.errors,
    },
    Exported {
        name: "dealbridge_pipedrive_retries_total",
        help: "Calls tried again after a transient failure or a rate limit.",
        unit: Unit::Count,
        read: |f| f.retries,
    },
    Exported {
        name: "dealbridge_pipedrive_waited_milliseconds_total",
        help: "Time calls waited for budget or backoff before being sent.",
        unit: Unit::Milliseconds,
        read: |f| u64::try_from(f.waited.as_millis()).unwrap_or(u64::MAX),
    },
    Exported {
        name: "dealbridge_pipedrive_deferred_total",
        help: "Calls handed back to the job queue until the company's budget allows them.",
        unit: Unit::Count,
        read: |f| f.deferred,
    },
];

impl MetricsExporter {
    /// `metrics` is the app's recorder (the page includes what it counted); `vault`, when this
    /// process refreshes tokens; `max_companies`, how many companies get series of their own.
    pub fn new(
        metrics: Metrics,
        pipedrive: Pipedrive,
        store: Arc<dyn Store>,
        vault: Option<TokenVault>,
        max_companies: usize,
    ) -> Self {
        metrics.with(|| {
            describe_gauge!(
                JOBS,
                Unit::Count,
                "Jobs in the queue by lane and state, all tenants (the same from every instance)."
            );
            describe_gauge!(
                OLDEST_READY,
                Unit::Seconds,
                "How long the oldest job ready to run in each lane has waited."
            );
            describe_counter!(
                TOKEN_REFRESHES,
                Unit::Count,
                "OAuth token refreshes this process attempted, by outcome."
            );
        });
        Self {
            metrics,
            pipedrive,
            store,
            vault,
            max_companies,
        }
    }

    /// The page as of now.
    pub async fn render(&self) -> String {
        let now = Utc::now();
        // A store that cannot answer leaves the queue gauges at their last values; the page
        // still serves everything else.
        let queue = match self.store.queue_overview(now).await {
            Ok(queue) => queue,
            Err(e) => {
                tracing::warn!(error = %ErrorChain(&e), "metrics: queue overview unavailable");
                Vec::new()
            }
        };
        let refreshes = self.vault.as_ref().map(TokenVault::refresh_counts);
        self.metrics.with(|| {
            for lane in &queue {
                record_lane(lane, now);
            }
            for (outcome, count) in refreshes.iter().flat_map(|r| r.by_outcome()) {
                counter!(TOKEN_REFRESHES, "outcome" => outcome).absolute(count);
            }
        });
        let mut page = self.metrics.render();
        page.push_str(&self.company_series());
        page
    }

    /// The per-company series, drawn afresh each scrape from a recorder of their own: a company
    /// that drops out of the busiest `max_companies` loses its series (and is counted in `other`)
    /// instead of leaving a stale one behind.
    fn company_series(&self) -> String {
        let Ranked(companies) =
            Ranked::new(self.pipedrive.figures().snapshot_all(), self.max_companies);
        let recorder = PrometheusBuilder::new().build_recorder();
        with_local_recorder(&recorder, || {
            for exported in COUNTERS {
                describe_counter!(exported.name, exported.unit, exported.help);
            }
            for (company, figures) in &companies {
                for exported in COUNTERS {
                    counter!(exported.name, "company" => company.clone())
                        .absolute((exported.read)(figures));
                }
            }
        });
        recorder.handle().render()
    }
}

const JOBS: &str = "dealbridge_jobs";
const OLDEST_READY: &str = "dealbridge_jobs_oldest_ready_seconds";
const TOKEN_REFRESHES: &str = "dealbridge_token_refreshes_total";

fn record_lane(lane: &LaneOverview, now: chrono::DateTime<Utc>) {
    let name = lane.lane.as_str();
    for (state, count) in [
        ("queued", lane.counts.queued),
        ("running", lane.counts.running),
        ("dead", lane.counts.dead),
    ] {
        gauge!(JOBS, "lane" => name, "state" => state).set(count as f64);
    }
    let waited = lane.oldest_ready_at.map_or(0.0, |at| {
        (now - at).num_milliseconds().max(0) as f64 / 1000.0
    });
    gauge!(OLDEST_READY, "lane" => name).set(waited);
}

/// Serves `/metrics` on `listener` until the process is told to stop.
pub fn serve(listener: TcpListener, exporter: MetricsExporter) -> std::io::Result<Server> {
    let exporter = web::Data::new(Arc::new(exporter));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(exporter.clone())
            .route("/metrics", web::get().to(page))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok(server)
}

async fn page(exporter: web::Data<Arc<MetricsExporter>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(exporter.render().await)
}

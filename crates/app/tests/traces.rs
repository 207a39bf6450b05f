//! Trace export over OTLP/HTTP: a stand-in collector (accepting `POST /v1/traces` and decoding the
//! protobuf body as a real one does) receives the spans of a request and of a job, with their
//! tenant and job ids. One test in this binary: the tracing subscriber is per process.

#![allow(clippy::unwrap_used)]

mod helpers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use dealbridge_core::CompanyId;
use dealbridge_workflows::PROVISION_KIND;
use helpers::install_flow::install_demo_company;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

/// A span as the collector received it: its name and its attributes as strings.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    attributes: HashMap<String, String>,
    service: Option<String>,
}

type Spans = Arc<Mutex<Vec<Received>>>;

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

async fn receive_traces(spans: web::Data<Spans>, body: web::Bytes) -> HttpResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut received = spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans.resource.and_then(|resource| {
            resource
                .attributes
                .into_iter()
                .find(|kv| kv.key == "service.name")
                .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
        });
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                let attributes = span
                    .attributes
                    .into_iter()
                    .map(|kv| {
                        let value = text(kv.value.as_ref().and_then(|v| v.value.as_ref()));
                        (kv.key, value)
                    })
                    .collect();
                received.push(Received {
                    name: span.name,
                    attributes,
                    service: service.clone(),
                });
            }
        }
    }
    // An empty ExportTraceServiceResponse: everything accepted.
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .finish()
}

/// The stand-in collector: its base URL and what it received.
fn start_collector() -> (String, Spans) {
    let spans: Spans = Arc::default();
    let data = web::Data::new(spans.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
            .route("/v1/traces", web::post().to(receive_traces))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_job_spans_reach_the_collector_with_their_ids() {
    let (collector, spans) = start_collector();
    let scratch = tempfile::tempdir().unwrap();
    let mut settings = helpers::test_settings(&scratch, None);
    settings.log = "info".into();
    settings.otlp_endpoint = Some(collector.parse().unwrap());
    let telemetry = dealbridge_app::telemetry::init(&settings).unwrap();

    let app = helpers::spawn_app_with_workers().await;
    let installed = install_demo_company(&app).await;
    let tenant = app
        .store
        .tenant_by_company(CompanyId::new(i64::try_from(installed.company_id).unwrap()))
        .await
        .unwrap()
        .expect("installed tenant");
    assert_eq!(app.get("/dashboard").await.status(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app
        .store
        .provisioned_fields(tenant.id)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline, "never provisioned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The job's span ends just after its fields are stored.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Flushing blocks until the exporter's thread has sent, so not on this runtime's threads.
    tokio::task::spawn_blocking(move || telemetry.flush())
        .await
        .unwrap()
        .unwrap();

    let spans = spans.lock().unwrap().clone();
    let tenant_id = tenant.id.to_string();
    let dashboard = spans
        .iter()
        .find(|s| s.name == "HTTP request" && s.attributes["http.route"].starts_with("/dashboard"))
        .unwrap_or_else(|| panic!("no dashboard request span in {spans:#?}"));
    assert_eq!(dashboard.attributes.get("tenant.id"), Some(&tenant_id));
    assert_eq!(
        dashboard.attributes.get("http.method").map(String::as_str),
        Some("GET")
    );
    assert_eq!(dashboard.service.as_deref(), Some("dealbridge"));
    assert!(
        spans.iter().any(|s| s.name == "HTTP request"
            && s.attributes.get("http.route").map(String::as_str) == Some("/oauth/callback")),
        "no callback span in {spans:#?}"
    );
    let job = spans
        .iter()
        .find(|s| {
            s.name == "job"
                && s.attributes.get("job.kind").map(String::as_str) == Some(PROVISION_KIND)
        })
        .unwrap_or_else(|| panic!("no provisioning job span in {spans:#?}"));
    assert_eq!(job.attributes.get("tenant.id"), Some(&tenant_id));
    let job_id = job.attributes.get("job.id").expect("job.id");
    assert!(uuid::Uuid::parse_str(job_id).is_ok(), "job.id {job_id:?}");
}

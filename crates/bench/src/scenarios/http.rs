//! `http`: `/healthz` of the real app (all middleware on) against a bare actix-web handler, both at
//! the same connection count in the same run, so the ratio shows what our stack costs per request.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use dealbridge_app::settings::Settings;
use dealbridge_app::startup::Application;

use super::Options;
use crate::loadgen;
use crate::report::Report;

const WARM_UP: Duration = Duration::from_secs(1);

pub async fn run(options: Options) -> anyhow::Result<Report> {
    let data = tempfile::tempdir()?;
    let app_addr = start_app(&data).await?;
    let bare_addr = start_bare()?;

    let request = loadgen::request("GET", "/healthz", &[], None);
    let app = measure(app_addr, &request, options).await?;
    let bare = measure(bare_addr, &request, options).await?;

    let mut report = Report::new("http");
    report
        .row("connections", options.connections.to_string())
        .row("seconds per server", options.duration.as_secs().to_string())
        .figure(
            "rps",
            app.rps(),
            format!("{:.0} req/s (dealbridge /healthz)", app.rps()),
        )
        .figure(
            "bare_rps",
            bare.rps(),
            format!("{:.0} req/s (bare actix-web)", bare.rps()),
        )
        .figure(
            "ratio",
            app.rps() / bare.rps(),
            format!("{:.2} of bare", app.rps() / bare.rps()),
        )
        .row(
            "app p50 / p99",
            format!("{:?} / {:?}", app.p(0.5), app.p(0.99)),
        )
        .row(
            "bare p50 / p99",
            format!("{:?} / {:?}", bare.p(0.5), bare.p(0.99)),
        )
        .row(
            "errors (app, bare)",
            format!("{}, {}", app.errors, bare.errors),
        );
    Ok(report)
}

async fn measure(
    addr: SocketAddr,
    request: &std::sync::Arc<[u8]>,
    options: Options,
) -> anyhow::Result<loadgen::LoadResult> {
    loadgen::run(addr, request.clone(), options.connections, WARM_UP).await?;
    let result = loadgen::run(addr, request.clone(), options.connections, options.duration).await?;
    anyhow::ensure!(
        result.errors == 0,
        "{} requests to {addr} failed",
        result.errors
    );
    Ok(result)
}

async fn start_app(data: &tempfile::TempDir) -> anyhow::Result<SocketAddr> {
    let mut settings = Settings::defaults()?;
    settings.listen = "127.0.0.1:0".parse()?;
    settings.database_url = format!("sqlite://{}", data.path().join("bench.db").display()).into();
    settings.data_dir = data.path().to_path_buf();
    let app = Application::build(settings).await?;
    let addr = SocketAddr::from(([127, 0, 0, 1], app.port()));
    tokio::spawn(app.run());
    Ok(addr)
}

fn start_bare() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(|| {
        App::new().route(
            "/healthz",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(r#"{"status":"ok"}"#)
            }),
        )
    })
    .listen(listener)?
    .run();
    tokio::spawn(server);
    Ok(addr)
}

//! `sandbox`: the local Pipedrive's own request rate for a GET and a POST over keep-alive, with its
//! limits lifted, so other scenarios can check it is never their bottleneck.

use std::net::SocketAddr;

use dealbridge_sandbox::{CompanySpec, Plan, SandboxConfig, UserSpec};

use super::Options;
use crate::loadgen;
use crate::report::Report;

pub async fn run(options: Options) -> anyhow::Result<Report> {
    let sandbox = dealbridge_sandbox::spawn(SandboxConfig::default()).await?;
    let company = sandbox.control().create_company(CompanySpec {
        name: "Bench".into(),
        domain: "bench".into(),
        plan: Plan::Ultimate,
        seats: 1,
        // Limits off: this measures the server, not its rate limiter.
        daily_budget: Some(u64::MAX / 4),
        burst_limit: Some(u32::MAX / 4),
        users: vec![UserSpec {
            name: "B".into(),
            email: "b@bench.test".into(),
            is_admin: true,
        }],
    })?;
    let grant = sandbox.control().mint_token(company.id, None, Vec::new())?;
    let base = url::Url::parse(sandbox.base_url())?;
    let addr = SocketAddr::new(
        base.host_str().unwrap_or("127.0.0.1").parse()?,
        base.port().unwrap_or(80),
    );
    let api_path = url::Url::parse(&grant.api_domain)?
        .path()
        .trim_end_matches('/')
        .to_string();
    let auth = format!("Bearer {}", grant.access_token);
    let headers = [("Authorization", auth.as_str())];

    let post = loadgen::request(
        "POST",
        &format!("{api_path}/api/v2/deals"),
        &headers,
        Some(r#"{"title":"Bench deal","value":100,"currency":"EUR"}"#),
    );
    let get = loadgen::request("GET", &format!("{api_path}/api/v2/deals/1"), &headers, None);

    let post_result = measure(addr, post, options).await?;
    let get_result = measure(addr, get, options).await?;
    sandbox.stop().await;

    let mut report = Report::new("sandbox");
    report
        .row("connections", options.connections.to_string())
        .figure(
            "get_rps",
            get_result.rps(),
            format!("{:.0} req/s (GET deal)", get_result.rps()),
        )
        .figure(
            "post_rps",
            post_result.rps(),
            format!("{:.0} req/s (POST deal)", post_result.rps()),
        )
        .row(
            "GET p50 / p99",
            format!("{:?} / {:?}", get_result.p(0.5), get_result.p(0.99)),
        )
        .row(
            "POST p50 / p99",
            format!("{:?} / {:?}", post_result.p(0.5), post_result.p(0.99)),
        );
    Ok(report)
}

async fn measure(
    addr: SocketAddr,
    request: std::sync::Arc<[u8]>,
    options: Options,
) -> anyhow::Result<loadgen::LoadResult> {
    let result = loadgen::run(addr, request, options.connections, options.duration).await?;
    anyhow::ensure!(
        result.errors == 0,
        "{} of {} requests failed",
        result.errors,
        result.requests
    );
    Ok(result)
}

//! Measures how many requests per second the sandbox serves with keep-alive connections:
//! `cargo run --release -p dealbridge-sandbox --example throughput -- [concurrency] [seconds]`.
//! Limits are lifted for the company so the number is the server's, not the rate limiter's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dealbridge_sandbox::{CompanySpec, Plan, SandboxConfig, UserSpec};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let company = CompanySpec {
        name: "Bench".into(),
        domain: "bench".into(),
        plan: Plan::Ultimate,
        seats: 1,
        daily_budget: Some(u64::MAX / 2),
        burst_limit: Some(u32::MAX),
        users: vec![UserSpec {
            name: "B".into(),
            email: "b@bench.test".into(),
            is_admin: true,
        }],
    };
    let config = SandboxConfig {
        companies: vec![company],
        call_log_capacity: 10_000,
        ..SandboxConfig::default()
    };
    let sandbox = dealbridge_sandbox::spawn(config).await?;
    let info = sandbox.control().companies().remove(0);
    let token = sandbox.control().mint_token(info.id, None, vec![])?;
    let http = reqwest::Client::new();
    let base = token.api_domain.clone();
    http.post(format!("{base}/api/v2/persons"))
        .bearer_auth(&token.access_token)
        .json(&json!({ "name": "seed" }))
        .send()
        .await?;
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let (http, base, bearer) = (http.clone(), base.clone(), token.access_token.clone());
        let (done, errors) = (done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                // Nine reads for each write, roughly what a sync job does.
                let req = if n.is_multiple_of(10) {
                    http.post(format!("{base}/api/v2/persons"))
                        .json(&json!({ "name": format!("p{i}-{n}") }))
                } else {
                    http.get(format!("{base}/api/v2/persons/1"))
                };
                match req.bearer_auth(&bearer).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += 1;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let ok = done.load(Ordering::Relaxed);
    println!(
        "{ok} requests in {seconds} s = {:.0} req/s ({} errors, concurrency {concurrency})",
        ok as f64 / seconds as f64,
        errors.load(Ordering::Relaxed)
    );
    sandbox.stop().await;
    Ok(())
}

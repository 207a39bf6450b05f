//! `dealbridge healthcheck`: asks this machine's own server for `/healthz`, for container health
//! checks. The runtime image has no curl or wget; the binary that serves can also probe.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;

use crate::settings::Settings;

/// Docker's default health check timeout is 30 s; answering well within it leaves room to retry.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Succeeds when `/healthz` on the configured listen address answers 200.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let url = format!("http://{}/healthz", probe_address(settings.listen));
    let client = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .build()
        .context("building the probe client")?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("no answer from {url}"))?;
    anyhow::ensure!(
        response.status() == reqwest::StatusCode::OK,
        "{url} answered {}",
        response.status()
    );
    println!("healthy");
    Ok(())
}

/// A server listening on every interface (`0.0.0.0`, `::`) is reached on loopback.
fn probe_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interface_is_probed_on_loopback() {
        let probe = |text: &str| probe_address(text.parse().expect("address")).to_string();
        assert_eq!(probe("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(probe("[::]:8080"), "[::1]:8080");
        assert_eq!(probe("10.1.2.3:9000"), "10.1.2.3:9000");
    }
}

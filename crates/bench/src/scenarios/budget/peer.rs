//! The second app process of the ledger run: this binary run again with `PEER_VAR` set. It reads
//! its share of the backlogs (and the tokens to work them with) as one JSON line on stdin, so no
//! token shows in the process list; connects its own pool, ledger and client to the same schema
//! and sandbox; says `ready`; starts on `go`; and prints what it saw as the report's JSON line.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dealbridge_sandbox::Plan;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgConnectOptions;

use super::instance::{Instance, InstanceFigures};
use super::{deadline, Company};
use crate::report::Report;

/// Set when this binary runs as the peer process of the `budget` scenario.
pub(crate) const PEER_VAR: &str = "DEALBRIDGE_BENCH_BUDGET_PEER";

/// A company as the peer gets it: its details and the share of the backlog it works.
#[derive(Serialize, Deserialize)]
struct CompanyShare {
    id: u64,
    user_id: u64,
    plan: Plan,
    budget: u64,
    api_domain: String,
    token: String,
    deal_id: u64,
    bulk: i64,
    webhook: i64,
}

#[derive(Serialize, Deserialize)]
struct Spec {
    postgres_url: String,
    schema: String,
    sandbox_url: String,
    companies: Vec<CompanyShare>,
}

/// The peer side: runs the instance and returns the report the parent reads.
pub(crate) async fn run() -> anyhow::Result<Report> {
    let spec: Spec = {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        serde_json::from_str(&line).context("peer spec")?
    };
    let options =
        PgConnectOptions::from_str(&spec.postgres_url)?.options([("search_path", &*spec.schema)]);
    let instance = Instance::connect(options, &spec.sandbox_url, false).await?;
    let companies = spec
        .companies
        .into_iter()
        .map(|c| {
            Ok(Arc::new(Company {
                id: c.id,
                user_id: c.user_id,
                plan: c.plan,
                budget: c.budget,
                api_domain: url::Url::parse(&c.api_domain)?,
                token: c.token,
                deal_id: c.deal_id,
                bulk_left: AtomicI64::new(c.bulk),
                webhook_left: AtomicI64::new(c.webhook),
            }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    println!("ready");
    std::io::stdout().flush()?;
    let mut go = String::new();
    std::io::stdin().read_line(&mut go)?;
    let figures = instance.work(&companies, deadline()).await?;
    let mut report = Report::new("budget-peer");
    report
        .figure("done", figures.done as f64, figures.done.to_string())
        .figure(
            "deferred",
            figures.deferred as f64,
            figures.deferred.to_string(),
        )
        .figure("errors", figures.errors as f64, figures.errors.to_string())
        .figure(
            "rate_limited",
            figures.rate_limited as f64,
            figures.rate_limited.to_string(),
        )
        .figure(
            "waited_ms",
            figures.waited.as_millis() as f64,
            format!("{:?}", figures.waited),
        );
    Ok(report)
}

/// The parent's handle on a peer process. Killed if dropped before it finished (the parent
/// failed), so a failed run leaves no process behind.
pub(crate) struct Peer {
    pub pid: u32,
    child: Option<Child>,
    stdin: ChildStdin,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Peer {
    /// Starts the peer with half of every company's remaining backlog (taken from `companies`)
    /// and waits until it is connected.
    pub async fn start(
        companies: &[Arc<Company>],
        postgres_url: &str,
        schema: &str,
        sandbox_url: &str,
    ) -> anyhow::Result<Self> {
        let shares = companies
            .iter()
            .map(|c| {
                let bulk = c.bulk_left.load(Ordering::Relaxed) / 2;
                let webhook = c.webhook_left.load(Ordering::Relaxed) / 2;
                c.bulk_left.fetch_sub(bulk, Ordering::Relaxed);
                c.webhook_left.fetch_sub(webhook, Ordering::Relaxed);
                CompanyShare {
                    id: c.id,
                    user_id: c.user_id,
                    plan: c.plan,
                    budget: c.budget,
                    api_domain: c.api_domain.to_string(),
                    token: c.token.clone(),
                    deal_id: c.deal_id,
                    bulk,
                    webhook,
                }
            })
            .collect();
        let spec = Spec {
            postgres_url: postgres_url.to_string(),
            schema: schema.to_string(),
            sandbox_url: sandbox_url.to_string(),
            companies: shares,
        };
        let mut child = Command::new(std::env::current_exe()?)
            .arg("budget")
            .env(PEER_VAR, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the peer process")?;
        let mut stdin = child.stdin.take().context("peer stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("peer stdout")?);
        let mut peer = Self {
            pid: child.id(),
            child: Some(child),
            stdin: {
                serde_json::to_writer(&mut stdin, &spec)?;
                stdin.write_all(b"\n")?;
                stdin.flush()?;
                stdin
            },
            stdout: None,
        };
        let (line, stdout) = tokio::task::spawn_blocking(move || {
            let mut stdout = stdout;
            let mut line = String::new();
            let read = stdout.read_line(&mut line);
            (read.map(|_| line), stdout)
        })
        .await?;
        let line = line?;
        anyhow::ensure!(line.trim() == "ready", "peer process said {line:?}");
        peer.stdout = Some(stdout);
        Ok(peer)
    }

    pub fn go(&mut self) -> anyhow::Result<()> {
        writeln!(self.stdin, "go")?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Waits for the peer to finish (it stops by the run's deadline) and reads its figures.
    pub async fn finish(mut self) -> anyhow::Result<InstanceFigures> {
        let (Some(mut child), Some(stdout)) = (self.child.take(), self.stdout.take()) else {
            anyhow::bail!("peer process not started");
        };
        let (last, status) = tokio::task::spawn_blocking(move || {
            let last = stdout
                .lines()
                .map_while(Result::ok)
                .last()
                .unwrap_or_default();
            (last, child.wait())
        })
        .await?;
        anyhow::ensure!(status?.success(), "peer process failed");
        let figures: serde_json::Value = serde_json::from_str(&last).context("peer report")?;
        let count = |key: &str| figures[key].as_f64().unwrap_or_default() as u64;
        Ok(InstanceFigures {
            done: count("done"),
            deferred: count("deferred"),
            errors: count("errors"),
            rate_limited: count("rate_limited"),
            waited: Duration::from_millis(count("waited_ms")),
        })
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

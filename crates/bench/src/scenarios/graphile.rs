//! The graphile-worker peer of `queue`: runs the harness in `compare/graphile-worker` (Node) at the
//! best setting its sweep found, so one `queue` run prints both sides measured back to back on the
//! same machine and Postgres. The harness is installed (`npm install`) on first use; without
//! `node` on the PATH the peer is reported as not run, never estimated.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Context;

/// The sweep's best setting (crates/bench/README.md, "graphile-worker sweep"): local queue size
/// and concurrency per process. `GW_LOCAL_QUEUE` / `GW_CONCURRENCY` in the environment override
/// them, to re-check another setting.
pub const BEST_LOCAL_QUEUE: u32 = 1000;
pub const BEST_CONCURRENCY: u32 = 128;

/// The peer's figures, with the same meaning as ours.
#[derive(Debug, Clone, Copy)]
pub struct PeerFigures {
    pub jobs_per_s_1: f64,
    pub jobs_per_s_2: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cpu_us_per_job: f64,
}

fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compare/graphile-worker")
}

/// Why the peer cannot run here, if it cannot: no `node`, or its install failed.
pub fn unavailable() -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("node is not on the PATH".into());
    }
    let dir = harness_dir();
    if dir.join("node_modules/graphile-worker").is_dir() {
        return None;
    }
    eprintln!(
        "installing the graphile-worker harness in {}",
        dir.display()
    );
    let installed = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status();
    match installed {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!("npm install in {} failed: {status}", dir.display())),
        Err(e) => Some(format!("npm could not run: {e}")),
    }
}

/// Runs the harness once (its whole scenario, latency phase `seconds` long) and reads its last
/// line, the JSON figures.
pub async fn run(seconds: u64) -> anyhow::Result<PeerFigures> {
    let output = tokio::task::spawn_blocking(move || {
        let mut command = Command::new("node");
        command
            .args(["bench.mjs", "--seconds", &seconds.to_string()])
            .current_dir(harness_dir())
            .stderr(Stdio::inherit());
        for (var, best) in [
            ("GW_LOCAL_QUEUE", BEST_LOCAL_QUEUE),
            ("GW_CONCURRENCY", BEST_CONCURRENCY),
        ] {
            if std::env::var_os(var).is_none() {
                command.env(var, best.to_string());
            }
        }
        command.output()
    })
    .await?
    .context("running the graphile-worker harness")?;
    anyhow::ensure!(
        output.status.success(),
        "graphile-worker harness failed: {}",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let figures: serde_json::Value =
        serde_json::from_str(last).context("graphile-worker harness's JSON line")?;
    let figure = |key: &str| {
        figures[key]
            .as_f64()
            .with_context(|| format!("graphile-worker harness did not report {key}"))
    };
    Ok(PeerFigures {
        jobs_per_s_1: figure("jobs_per_s_1")?,
        jobs_per_s_2: figure("jobs_per_s_2")?,
        p50_ms: figure("p50_ms")?,
        p99_ms: figure("p99_ms")?,
        cpu_us_per_job: figure("cpu_us_per_job")?,
    })
}

/// The setting actually used (the environment may override the best one).
pub fn setting() -> String {
    let pick = |var: &str, best: u32| std::env::var(var).unwrap_or_else(|_| best.to_string());
    format!(
        "localQueue.size {}, concurrency {} per process",
        pick("GW_LOCAL_QUEUE", BEST_LOCAL_QUEUE),
        pick("GW_CONCURRENCY", BEST_CONCURRENCY)
    )
}

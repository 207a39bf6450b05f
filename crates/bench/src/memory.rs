//! Peak memory of a process, as Linux reports it.

use anyhow::Context;

/// The peak resident set (`VmHWM`) in a `/proc/<pid>/status` file, in MB.
pub fn peak_rss_mb(status_path: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(status_path)?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmHWM in {status_path}"))?;
    Ok(kb / 1024.0)
}

/// This process's peak resident set, in MB.
pub fn own_peak_rss_mb() -> anyhow::Result<f64> {
    peak_rss_mb("/proc/self/status")
}

//! A sandbox in a child process, reached only over HTTP, as Pipedrive is. The sandbox keeps every
//! record it is given in memory; in the bench's own process that memory would be counted as the
//! app's, so scenarios that measure the app's memory (`import`) run the sandbox here instead.
//!
//! The child is this same binary started with [`CHILD_ARG`] and the sandbox's configuration as
//! JSON. It prints its base URL on its first line of output and stops when its standard input
//! closes, so it never outlives the bench, even one that is killed.

use std::io::Write;
use std::net::TcpListener;
use std::process::Stdio;

use anyhow::Context;
use dealbridge_sandbox::{CompanyInfo, DuplicateReport, SandboxConfig, SandboxHandle};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// The first argument that makes `dealbridge-bench` serve a sandbox instead of running a scenario.
pub const CHILD_ARG: &str = "__sandbox-process";

/// The child's side: serves `config_json` on a free local port until standard input closes.
pub fn serve_child(config_json: &str) -> anyhow::Result<()> {
    let config: SandboxConfig =
        serde_json::from_str(config_json).context("the sandbox configuration")?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "http://{}", listener.local_addr()?)?;
    out.flush()?;
    drop(out);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let parent_gone = tokio::task::spawn_blocking(|| {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        });
        dealbridge_sandbox::serve(config, listener, async {
            let _ = parent_gone.await;
        })
        .await
    })?;
    Ok(())
}

/// Where a scenario's sandbox runs: in this process (tests) or in a child process (measurements).
pub enum SandboxLink {
    InProcess(SandboxHandle),
    Process(Box<ChildSandbox>),
}

pub struct ChildSandbox {
    child: Child,
    base_url: String,
    /// Held open, so a line the child writes later never meets a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl SandboxLink {
    pub async fn in_process(config: SandboxConfig) -> anyhow::Result<Self> {
        Ok(Self::InProcess(dealbridge_sandbox::spawn(config).await?))
    }

    /// Starts this binary as a sandbox child and waits for its address.
    pub async fn child_process(config: &SandboxConfig) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(CHILD_ARG)
            .arg(serde_json::to_string(config)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the sandbox process")?;
        let stdout = child.stdout.take().context("the sandbox's output")?;
        let (mut stdout, mut first_line) = (BufReader::new(stdout), String::new());
        let read = stdout.read_line(&mut first_line);
        tokio::time::timeout(std::time::Duration::from_secs(30), read)
            .await
            .context("the sandbox process did not say its address within 30 s")??;
        let base_url = first_line.trim().to_owned();
        anyhow::ensure!(
            base_url.starts_with("http://"),
            "the sandbox process said {first_line:?}"
        );
        Ok(Self::Process(Box::new(ChildSandbox {
            child,
            base_url,
            _stdout: stdout,
        })))
    }

    pub fn base_url(&self) -> &str {
        match self {
            Self::InProcess(handle) => handle.base_url(),
            Self::Process(child) => &child.base_url,
        }
    }

    /// The sandbox process's peak resident set in MB (`None` in process: it is ours).
    pub fn child_peak_rss_mb(&self) -> Option<f64> {
        let Self::Process(sandbox) = self else {
            return None;
        };
        let pid = sandbox.child.id()?;
        crate::memory::peak_rss_mb(&format!("/proc/{pid}/status")).ok()
    }

    pub async fn companies(&self) -> anyhow::Result<Vec<CompanyInfo>> {
        self.get("/_sandbox/companies").await
    }

    /// The consent page's "Allow": the callback URL with the authorization code.
    pub async fn approve_install(
        &self,
        client_id: &str,
        company_id: u64,
        user_id: u64,
    ) -> anyhow::Result<String> {
        let body = json!({ "client_id": client_id, "company_id": company_id, "user_id": user_id });
        let answer: serde_json::Value = self.post("/_sandbox/installs", &body).await?;
        let url = answer["redirect_url"].as_str().context("no redirect_url")?;
        Ok(url.to_owned())
    }

    /// Records of `kind` (plural, as in the API: `persons`) sharing a value of `field`.
    pub async fn duplicates(
        &self,
        company_id: u64,
        kind: &str,
        field: &str,
    ) -> anyhow::Result<DuplicateReport> {
        let path = format!("/_sandbox/companies/{company_id}/duplicates/{kind}?field={field}");
        self.get(&path).await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = reqwest::get(format!("{}{path}", self.base_url())).await?;
        Ok(response.error_for_status()?.json().await?)
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<T> {
        let client = reqwest::Client::new();
        let response = client
            .post(format!("{}{path}", self.base_url()))
            .json(body)
            .send()
            .await?;
        Ok(response.error_for_status()?.json().await?)
    }
}

//! Real `dealbridge` OS processes for multi-instance tests: each one is the binary as an operator
//! runs it, configured only through its environment, with its log captured in a file the test
//! reads (and prints when it fails).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `dealbridge serve`; killed when dropped, so a failed test leaves no process behind.
pub struct Instance {
    pub address: String,
    pub log: PathBuf,
    child: Child,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A port free now. Another process could take it before the instance binds it; on a test machine
/// that is rare, and the instance then fails to start with a clear message in its log.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// The binary with a clean environment plus `env`, run from `dir`.
pub fn dealbridge(dir: &Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dealbridge"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    command
}

/// Starts `dealbridge serve` on `port` and waits until its `/readyz` answers 200.
pub async fn serve(dir: &Path, name: &str, port: u16, env: &[(String, String)]) -> Instance {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).expect("instance folder");
    let log = data.join("log.jsonl");
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file handle");
    let mut env = env.to_vec();
    env.push(("DEALBRIDGE_LISTEN".into(), format!("127.0.0.1:{port}")));
    env.push(("DEALBRIDGE_DATA_DIR".into(), data.display().to_string()));
    let child = dealbridge(&data, &env)
        .arg("serve")
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("dealbridge starts");
    let instance = Instance {
        address: format!("http://127.0.0.1:{port}"),
        log,
        child,
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client
            .get(format!("{}/readyz", instance.address))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            return instance;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not ready after 60 s:\n{}",
            instance.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

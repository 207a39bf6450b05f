//! The binary as an operator meets it: help text, start-up refusals and the health probe.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn dealbridge() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dealbridge"));
    // A clean environment: only what each test sets counts.
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command.current_dir(std::env::temp_dir());
    command
}

#[test]
fn help_lists_every_subcommand() {
    let output = dealbridge().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for command in [
        "serve",
        "serve-web",
        "worker",
        "migrate",
        "sandbox",
        "staff",
        "healthcheck",
    ] {
        assert!(help.contains(command), "--help misses {command}:\n{help}");
    }
}

#[test]
fn bad_settings_stop_start_up_with_one_line() {
    let cases = [
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("DEALBRIDGE_LISTEN", "nonsense", "DEALBRIDGE_LISTEN"),
    ];
    for (var, value, named) in cases {
        let output = dealbridge().env(var, value).output().unwrap();
        assert!(!output.status.success(), "{var}={value} started");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{var}: {stderr}");
        assert!(stderr.contains(named), "{var}: {stderr}");
    }
}

#[test]
fn migrate_creates_the_default_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = dealbridge()
        .current_dir(dir.path())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("data/dealbridge.db").is_file());
    assert!(String::from_utf8_lossy(&output.stdout).contains("migrations are current"));
}

#[test]
fn staff_add_reads_the_password_from_stdin_and_refuses_short_ones() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let add = |password: &str| {
        let mut child = dealbridge()
            .current_dir(dir.path())
            .args(["staff", "add", "Ada@Dealbridge.Test"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let short = add("short-pass");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));

    let added = add("a long enough password");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let stdout = String::from_utf8_lossy(&added.stdout);
    assert!(stdout.contains("ada@dealbridge.test"), "{stdout}");
    assert!(!stdout.contains("a long enough password"));

    let again = add("another long password");
    assert!(!again.status.success(), "one account per email");
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    let remove = || {
        dealbridge()
            .current_dir(dir.path())
            .args(["staff", "remove", "ADA@dealbridge.test"])
            .output()
            .unwrap()
    };
    let removed = remove();
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert!(String::from_utf8_lossy(&removed.stdout).contains("removed"));
    let missing = remove();
    assert!(!missing.status.success(), "nothing left to remove");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no support console account"));
    assert!(
        add("a long enough password").status.success(),
        "the email is free again"
    );
}

#[test]
fn staff_accounts_get_a_role_that_can_be_changed() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut child = dealbridge()
            .current_dir(dir.path())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "a long enough password").unwrap();
        let output = child.wait_with_output().unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (
            output.status.success(),
            text(&output.stdout),
            text(&output.stderr),
        )
    };
    let (ok, out, err) = run(&["staff", "add", "vera@dealbridge.test", "--role", "viewer"]);
    assert!(ok, "{err}");
    assert!(out.contains("(viewer)"), "{out}");
    let (ok, out, err) = run(&["staff", "add", "otto@dealbridge.test"]);
    assert!(ok, "{err}");
    assert!(out.contains("(operator)"), "operator by default: {out}");

    let (ok, _, err) = run(&["staff", "add", "eve@dealbridge.test", "--role", "admin"]);
    assert!(!ok, "unknown roles are refused");
    assert!(err.contains("viewer") && err.contains("operator"), "{err}");

    let (ok, out, err) = run(&["staff", "role", "Vera@dealbridge.test", "operator"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("now has the operator role (had viewer)"),
        "{out}"
    );
    let (ok, out, _) = run(&["staff", "role", "vera@dealbridge.test", "operator"]);
    assert!(ok);
    assert!(out.contains("already has the operator role"), "{out}");
    let (ok, _, err) = run(&["staff", "role", "nobody@dealbridge.test", "viewer"]);
    assert!(!ok);
    assert!(err.contains("no support console account"), "{err}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn healthcheck(dir: &std::path::Path, port: u16) -> std::process::Output {
    dealbridge()
        .current_dir(dir)
        .env("DEALBRIDGE_LISTEN", format!("0.0.0.0:{port}"))
        .arg("healthcheck")
        .output()
        .unwrap()
}

/// What the container's HEALTHCHECK runs: unhealthy while nothing serves, healthy once `serve`
/// answers, probing the listen address on loopback when it is every interface.
#[test]
fn healthcheck_probes_the_servers_own_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let down = healthcheck(dir.path(), port);
    assert!(!down.status.success(), "healthy with nothing listening");
    assert!(String::from_utf8_lossy(&down.stderr).contains("no answer"));

    let mut server = dealbridge()
        .current_dir(dir.path())
        .env("DEALBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("DEALBRIDGE_SANDBOX_LISTEN", "127.0.0.1:0")
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let healthy = loop {
        let probe = healthcheck(dir.path(), port);
        if probe.status.success() {
            break Some(probe);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = server.kill();
    let _ = server.wait();
    let probe = healthy.expect("the server became healthy within 60 s");
    assert!(String::from_utf8_lossy(&probe.stdout).contains("healthy"));
}

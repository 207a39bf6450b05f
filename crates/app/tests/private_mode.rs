//! Private mode (one company, a personal API token, no Marketplace) end to end on SQLite; the
//! Postgres suite runs the same scenario.

// Helper functions of integration tests are not `#[test]`s, so clippy's test allowance misses them
// (rust-clippy#13981); a failed unwrap here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod helpers;

#[tokio::test]
async fn private_mode_runs_one_company_with_an_api_token() {
    if let Err(e) = helpers::private_mode::scenario(None).await {
        panic!("{e:#}");
    }
}

/// `dealbridge worker` on its own: a refused token stops it with a message naming the setting;
/// with the company's token it records the company and runs the post-install job.
#[tokio::test]
async fn a_worker_process_runs_private_mode_alone() {
    use base64::Engine as _;
    use secrecy::ExposeSecret as _;

    let sandbox = helpers::private_mode::sandbox().await.unwrap();
    let control = sandbox.control().clone();
    let company = control.companies().remove(0);
    let token = control.api_token(company.id, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = dealbridge_crypto::KeyRing::generate_entry("k1").unwrap();
    let session_key = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
    let env = |token: &str| -> Vec<(String, String)> {
        [
            (
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("db.sqlite").display()),
            ),
            ("DEALBRIDGE_PIPEDRIVE_API_TOKEN", token.to_string()),
            ("DEALBRIDGE_PIPEDRIVE_API_URL", company.api_domain.clone()),
            (
                "DEALBRIDGE_ADMIN_EMAIL",
                helpers::private_mode::ADMIN.to_string(),
            ),
            (
                "DEALBRIDGE_ENCRYPTION_KEYS",
                keys.expose_secret().to_string(),
            ),
            ("DEALBRIDGE_SESSION_KEY", session_key.clone()),
            ("DEALBRIDGE_DATA_DIR", dir.path().display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    };

    let wrong = "ffffffffffffffffffffffffffffffffffffffff";
    let mut refused = helpers::processes::dealbridge(dir.path(), &env(wrong));
    let output = tokio::task::spawn_blocking(move || refused.arg("worker").output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a wrong token started: {stderr}");
    assert!(
        stderr.contains("DEALBRIDGE_PIPEDRIVE_API_TOKEN"),
        "{stderr}"
    );
    assert!(!stderr.contains(wrong), "the token is shown: {stderr}");

    let mut worker = helpers::processes::dealbridge(dir.path(), &env(&token))
        .arg("worker")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let created = || {
        control
            .calls(Some(company.id))
            .iter()
            .filter(|c| c.method == "POST" && c.path.ends_with("/api/v2/dealFields"))
            .count()
    };
    for _ in 0..150 {
        if created() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert_eq!(created(), 3, "the worker did not create the three fields");
    sandbox.stop().await;
}

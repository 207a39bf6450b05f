//! `dealbridge keys rotate` as an operator runs it, against a SQLite database.

use std::process::{Command, Output};

use dealbridge_core::installation::NewInstallation;
use dealbridge_core::tenant::NewTenant;
use dealbridge_core::{CompanyId, UserId};
use dealbridge_crypto::{ExposeSecret, KeyRing, SecretString};
use dealbridge_storage::{Installations, Maintenance, Tenants};
use dealbridge_storage_sql::SqliteStore;

fn rotate(url: &str, keys: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dealbridge"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("DEALBRIDGE_ENCRYPTION_KEYS", keys)
        .current_dir(std::env::temp_dir())
        .args(["keys", "rotate", "--batch-size", "2"])
        .output()
        .expect("running dealbridge")
}

#[tokio::test]
async fn keys_rotate_reencrypts_everything_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("rotate.db").display());
    let store = SqliteStore::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let tenant = store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(77),
            company_name: "Acme".into(),
            company_domain: "acme".into(),
        })
        .await
        .unwrap();
    let (old_ring, old) = KeyRing::generate("old").unwrap();
    let (_, new) = KeyRing::generate("new").unwrap();
    for user in 1..=3 {
        let tokens = dealbridge_tokens::seal(
            &old_ring,
            tenant.company_id,
            UserId::new(user),
            &SecretString::from(format!("access-{user}")),
            &SecretString::from(format!("refresh-{user}")),
            chrono::Utc::now(),
        )
        .unwrap();
        store
            .upsert_installation(
                tenant.id,
                &NewInstallation {
                    user_id: UserId::new(user),
                    api_domain: "https://acme.pipedrive.com".into(),
                    scopes: vec!["base".into()],
                    tokens,
                },
            )
            .await
            .unwrap();
    }

    // The old key left out of the ring too early: nothing is lost, every row is reported failed.
    let early = rotate(&url, new.expose_secret());
    let stdout = String::from_utf8_lossy(&early.stdout);
    assert!(
        !early.status.success(),
        "rotation without the old key succeeded: {stdout}"
    );
    assert!(stdout.contains("scanned 3, re-encrypted 0"), "{stdout}");
    assert!(stdout.contains("failed 3, remaining 3"), "{stdout}");

    let ring = format!("{},{}", new.expose_secret(), old.expose_secret());
    let done = rotate(&url, &ring);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(
        stdout.contains("active key new: scanned 3, re-encrypted 3"),
        "{stdout}"
    );
    assert!(stdout.contains("failed 0, remaining 0"), "{stdout}");

    let again = rotate(&url, &ring);
    assert!(String::from_utf8_lossy(&again.stdout).contains("scanned 0, re-encrypted 0"));

    let new_only = KeyRing::from_env_str(new.expose_secret()).unwrap();
    for installation in store.installations(tenant.id).await.unwrap() {
        let tokens = installation.tokens.unwrap();
        assert_eq!(tokens.key_id, "new");
        let open =
            dealbridge_tokens::open(&new_only, tenant.company_id, installation.user_id, &tokens)
                .unwrap();
        let user = installation.user_id.get();
        assert_eq!(open.access_token.expose_secret(), format!("access-{user}"));
        assert_eq!(
            open.refresh_token.expose_secret(),
            format!("refresh-{user}")
        );
    }
}

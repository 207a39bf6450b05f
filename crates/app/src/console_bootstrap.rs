//! The support console's first account. Offline (the embedded sandbox, no Pipedrive credentials)
//! a fresh install gets `support@localhost` with a random password written to a file in the data
//! folder, so the console can be tried at once. With real credentials nothing is created: an
//! operator adds accounts with `dealbridge staff add`, and the sign-in page says so.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;
use dealbridge_storage::Store;
use dealbridge_web::StaffAccountError;
use secrecy::{ExposeSecret, SecretString};

use crate::settings::Settings;

pub const FIRST_ACCOUNT: &str = "support@localhost";
pub const PASSWORD_FILE: &str = "console-password";

/// Creates the offline first account when there is none. Returns the password file to point
/// people to, when the first account is the offline one.
pub async fn first_staff_account(
    store: &dyn Store,
    settings: &Settings,
    offline: bool,
) -> anyhow::Result<Option<PathBuf>> {
    let path = settings.data_dir.join(PASSWORD_FILE);
    if !offline {
        if store.staff_account_count().await? == 0 {
            tracing::info!(
                "the support console has no account yet: add one with `dealbridge staff add EMAIL`"
            );
        }
        return Ok(None);
    }
    if store.staff_account_count().await? > 0 {
        return Ok(store
            .staff_account_by_email(FIRST_ACCOUNT)
            .await?
            .and(path.is_file().then_some(path)));
    }
    let password = random_password();
    match dealbridge_web::add_staff_account(store, FIRST_ACCOUNT, password.clone()).await {
        Ok(_) => {}
        // Another instance starting at the same moment made it (and wrote its file).
        Err(StaffAccountError::Exists(_)) => return Ok(path.is_file().then_some(path)),
        Err(err) => return Err(err).context("creating the first support console account"),
    }
    write_private(&path, &password)?;
    tracing::warn!(
        path = %path.display(),
        account = FIRST_ACCOUNT,
        "created the support console's offline account; its password is in this file"
    );
    Ok(Some(path))
}

fn random_password() -> SecretString {
    let mut bytes = [0u8; 18];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(bytes)
        .into()
}

/// Readable by the owner only. An old file (from a database since deleted) is replaced.
fn write_private(path: &std::path::Path, password: &SecretString) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        crate::secrets::create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    // `mode` applies only to new files; an existing one is narrowed too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    writeln!(file, "{}", password.expose_secret())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

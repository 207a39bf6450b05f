//! The support console's first account. Offline (the embedded sandbox, no Pipedrive credentials)
//! a fresh install gets `support@localhost` with a random password written to a file in the data
//! folder, so the console can be tried at once. With real credentials nothing is created: an
//! operator adds accounts with `dealbridge staff add`, and the sign-in page says so.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use dealbridge_storage::{StaffRole, Store, StoreError};
use secrecy::{ExposeSecret, SecretString};

use super::staff::{add_account, StaffAccountError};

pub const FIRST_ACCOUNT: &str = "support@localhost";
/// The file, in the data folder, that holds the offline account's password.
pub const PASSWORD_FILE: &str = "console-password";

#[derive(Debug, thiserror::Error)]
pub enum FirstAccountError {
    #[error("reading the staff accounts")]
    Store(#[from] StoreError),
    #[error("creating the first support console account")]
    Account(#[source] StaffAccountError),
    #[error("writing the console password file {path}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Creates the offline first account when there is none. Returns the password file to point
/// people to, when the first account is the offline one.
pub async fn first_console_account(
    store: &dyn Store,
    data_dir: &Path,
    offline: bool,
) -> Result<Option<PathBuf>, FirstAccountError> {
    let path = data_dir.join(PASSWORD_FILE);
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
    // The only account there is: it must be able to act.
    let role = StaffRole::Operator;
    match add_account(store, FIRST_ACCOUNT, password.clone(), role, "first-run").await {
        Ok(_) => {}
        // Another instance starting at the same moment made it (and wrote its file).
        Err(StaffAccountError::Exists(_)) => return Ok(path.is_file().then_some(path)),
        Err(err) => return Err(FirstAccountError::Account(err)),
    }
    write_private(&path, &password).map_err(|source| FirstAccountError::File {
        path: path.clone(),
        source,
    })?;
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
fn write_private(path: &Path, password: &SecretString) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        // The data folder holds keys and the database too: readable by its owner only.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // `mode` applies only to new files; an existing one is narrowed too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    writeln!(file, "{}", password.expose_secret())
}

//! The key ring and the session key. Configured values always win. Without them, in sandbox mode
//! only, keys are generated once into the data folder (with a warning) so a fresh machine runs with
//! no setup and a restart can still read what it stored. With real Pipedrive credentials settings
//! validation has already refused to start without them.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use base64::Engine as _;
use dealbridge_crypto::KeyRing;
use dealbridge_web::MIN_SESSION_KEY_BYTES;
use secrecy::{ExposeSecret, SecretString};

use crate::settings::Settings;

const KEYS_FILE: &str = "encryption-keys";
const SESSION_KEY_FILE: &str = "session-key";

pub fn key_ring(settings: &Settings) -> anyhow::Result<KeyRing> {
    let text = match &settings.encryption_keys {
        Some(keys) => keys.clone(),
        None => local_secret(&settings.data_dir, KEYS_FILE, || {
            KeyRing::generate_entry("dev1").map_err(anyhow::Error::new)
        })?,
    };
    KeyRing::from_env_str(text.expose_secret()).context("DEALBRIDGE_ENCRYPTION_KEYS")
}

pub fn session_key(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    let text = match &settings.session_key {
        Some(key) => key.clone(),
        None => local_secret(&settings.data_dir, SESSION_KEY_FILE, || {
            let mut bytes = [0u8; 64];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            Ok(base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into())
        })?,
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(text.expose_secret().trim())
        .context("DEALBRIDGE_SESSION_KEY is not base64")?;
    anyhow::ensure!(
        key.len() >= MIN_SESSION_KEY_BYTES,
        "DEALBRIDGE_SESSION_KEY must hold at least {MIN_SESSION_KEY_BYTES} bytes"
    );
    Ok(key)
}

/// Creates `dir` (and missing parents) readable by its owner only: the data folder holds keys, the
/// console's first password and the SQLite database.
pub(crate) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Reads `file` from the data folder, or generates and writes it (readable by its owner only).
fn local_secret(
    data_dir: &Path,
    file: &str,
    generate: impl FnOnce() -> anyhow::Result<SecretString>,
) -> anyhow::Result<SecretString> {
    let path = data_dir.join(file);
    if path.is_file() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return Ok(text.trim().to_string().into());
    }
    tracing::warn!(
        path = %path.display(),
        "no key configured: generated a development key for the embedded sandbox; never use it with real Pipedrive"
    );
    create_private_dir(data_dir)?;
    let secret = generate()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut handle = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    handle.write_all(secret.expose_secret().as_bytes())?;
    Ok(secret)
}

//! What the support console keeps in memory: the stand-in hash that unknown emails are checked
//! against, and where the offline first run's password is. (The sign-in throttle is in the store,
//! shared by every instance.)

use std::path::PathBuf;

use tokio::sync::OnceCell;

pub struct ConsoleState {
    dummy_hash: OnceCell<String>,
    /// Offline first run: where the generated password of `support@localhost` was written.
    pub first_run_password_file: Option<PathBuf>,
}

impl ConsoleState {
    pub fn new(first_run_password_file: Option<PathBuf>) -> Self {
        Self {
            dummy_hash: OnceCell::new(),
            first_run_password_file,
        }
    }

    /// A hash of a random password with the same parameters as real ones, made once: verifying
    /// against it costs what a real check costs, so response times do not tell which emails exist.
    pub(crate) async fn dummy_hash(&self) -> Result<&str, crate::AppError> {
        let hash = self
            .dummy_hash
            .get_or_try_init(|| async {
                let random = secrecy::SecretString::from(uuid::Uuid::new_v4().to_string());
                crate::services::staff::hash_blocking(random).await
            })
            .await?;
        Ok(hash.as_str())
    }
}

//! Wires the support console's first account (the rule lives in `dealbridge_web`) to this
//! process's data folder.

use std::path::PathBuf;

use dealbridge_storage::Store;

pub use dealbridge_web::{FIRST_ACCOUNT, PASSWORD_FILE};

use crate::settings::Settings;

/// The offline first account, created when there is none; see
/// [`dealbridge_web::first_console_account`].
pub async fn first_staff_account(
    store: &dyn Store,
    settings: &Settings,
    offline: bool,
) -> anyhow::Result<Option<PathBuf>> {
    Ok(dealbridge_web::first_console_account(store, &settings.data_dir, offline).await?)
}

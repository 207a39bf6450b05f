#![doc = include_str!("../README.md")]

mod history;
mod lease;
mod refresh_counts;
mod rotate;
mod seal;
mod vault;

pub use refresh_counts::RefreshFigures;
pub use rotate::{rotate_keys, KeyRotation};
pub use seal::{open, seal, OpenTokens, SealError};
pub use vault::{IdleSweep, InstallationTokens, TokenVault, VaultConfig, VaultError};

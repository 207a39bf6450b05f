//! `dealbridge keys rotate`: re-encrypts every stored token under the active key of
//! `DEALBRIDGE_ENCRYPTION_KEYS`, online and in batches. Running it again resumes.

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::settings::Settings;

#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// Re-encrypt every stored secret under the active (first) key of DEALBRIDGE_ENCRYPTION_KEYS.
    /// Put the new key first and keep the old ones until this reports nothing remaining.
    Rotate {
        /// Rows read and re-encrypted per batch.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
    },
}

pub async fn run(settings: &Settings, args: KeysArgs) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::Rotate { batch_size } => rotate(settings, batch_size).await,
    }
}

async fn rotate(settings: &Settings, batch_size: u32) -> anyhow::Result<()> {
    // The same ring `serve` uses (settings file or environment), so both agree on the active key.
    let keys = crate::secrets::key_ring(settings)?;
    let store = crate::store::open(settings).await?;
    let counts = dealbridge_tokens::rotate_keys(store.as_ref(), &keys, batch_size)
        .await
        .context("rotating keys")?;
    println!(
        "active key {}: scanned {}, re-encrypted {}, changed meanwhile {}, failed {}, remaining {}",
        keys.active_key_id(),
        counts.scanned,
        counts.reencrypted,
        counts.changed_meanwhile,
        counts.failed,
        counts.remaining
    );
    anyhow::ensure!(
        counts.failed == 0,
        "{} rows could not be re-encrypted (see the log); keep their keys in the ring",
        counts.failed
    );
    Ok(())
}

//! `dealbridge staff add EMAIL`: creates a support console account. The password is read as one
//! line from standard input (never from the command line, where `ps` and shell history see it).
//! `dealbridge staff remove EMAIL` deletes one; its console sessions end with it (every console
//! request checks that the account still exists).

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use clap::{Args, Subcommand};
use secrecy::SecretString;

use crate::settings::Settings;

#[derive(Debug, Clone, Args)]
pub struct StaffArgs {
    #[command(subcommand)]
    pub command: StaffCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum StaffCommand {
    /// Add a support console account; the password (at least 12 characters) is read from stdin.
    Add {
        /// The engineer's email, used to sign in.
        email: String,
    },
    /// Remove a support console account; its signed-in sessions end at their next request.
    Remove {
        /// The engineer's email.
        email: String,
    },
}

pub async fn run(settings: &Settings, args: StaffArgs) -> anyhow::Result<()> {
    match args.command {
        StaffCommand::Add { email } => add(settings, &email).await,
        StaffCommand::Remove { email } => remove(settings, &email).await,
    }
}

async fn remove(settings: &Settings, email: &str) -> anyhow::Result<()> {
    let normalized = dealbridge_web::normalize_email(email)
        .with_context(|| format!("{email:?} is not an email address"))?;
    let store = crate::store::open(settings).await?;
    anyhow::ensure!(
        store.delete_staff_account(&normalized).await?,
        "no support console account for {normalized}"
    );
    println!("removed support console account {normalized}");
    Ok(())
}

async fn add(settings: &Settings, email: &str) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!(
            "Password for {email} (at least {} characters): ",
            dealbridge_web::MIN_PASSWORD_CHARS
        );
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = SecretString::from(line.trim_end_matches(['\r', '\n']).to_string());
    line.clear();
    let store = crate::store::open(settings).await?;
    let account = dealbridge_web::add_staff_account(store.as_ref(), email, password).await?;
    println!("added support console account {}", account.email);
    Ok(())
}

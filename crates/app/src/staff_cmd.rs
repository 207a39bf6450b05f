//! `dealbridge staff add EMAIL [--role viewer|operator]`: creates a support console account
//! (an operator unless told otherwise). The password is read as one line from standard input
//! (never from the command line, where `ps` and shell history see it).
//! `dealbridge staff role EMAIL viewer|operator` changes an account's role; it holds from the
//! account's next request. `dealbridge staff remove EMAIL` deletes one; its console sessions end
//! with it (every console request checks that the account still exists). Each is audited, with
//! the shell user who ran it as the actor. `dealbridge staff two-step EMAIL [--off]` turns the
//! account's two-step sign-in on (printing the authenticator secret once) or off.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use dealbridge_storage::StaffRole;
use secrecy::{ExposeSecret, SecretString};

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
        /// What the account may do: `viewer` reads, `operator` also acts.
        #[arg(long, value_enum, default_value_t = RoleArg::Operator)]
        role: RoleArg,
    },
    /// Change a support console account's role.
    Role {
        /// The engineer's email.
        email: String,
        /// The new role: `viewer` reads, `operator` also acts.
        #[arg(value_enum)]
        role: RoleArg,
    },
    /// Remove a support console account; its signed-in sessions end at their next request.
    Remove {
        /// The engineer's email.
        email: String,
    },
    /// Turn on two-step sign-in (a code from an authenticator app as well as the password) and
    /// show the new secret once; `--off` turns it off.
    TwoStep {
        /// The engineer's email.
        email: String,
        /// Turn it off instead.
        #[arg(long)]
        off: bool,
    },
}

/// The console roles as the command line spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Viewer,
    Operator,
}

impl From<RoleArg> for StaffRole {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Viewer => StaffRole::Viewer,
            RoleArg::Operator => StaffRole::Operator,
        }
    }
}

pub async fn run(settings: &Settings, args: StaffArgs) -> anyhow::Result<()> {
    match args.command {
        StaffCommand::Add { email, role } => add(settings, &email, role.into()).await,
        StaffCommand::Role { email, role } => change_role(settings, &email, role.into()).await,
        StaffCommand::Remove { email } => remove(settings, &email).await,
        StaffCommand::TwoStep { email, off } => two_step(settings, &email, off).await,
    }
}

/// How the audit log names whoever ran the command: the shell user, when known.
fn actor() -> String {
    let user = std::env::var("USER").unwrap_or_default();
    let user = user.trim();
    if user.is_empty() {
        "cli".to_string()
    } else {
        format!("cli:{user}")
    }
}

async fn two_step(settings: &Settings, email: &str, off: bool) -> anyhow::Result<()> {
    let store = crate::store::open(settings).await?;
    if off {
        dealbridge_web::disable_staff_two_step(store.as_ref(), email, &actor()).await?;
        println!("two-step sign-in is off for {}", email.trim());
        return Ok(());
    }
    let keys = crate::secrets::key_ring(settings)?;
    let enrolment =
        dealbridge_web::enable_staff_two_step(store.as_ref(), &keys, email, &actor()).await?;
    // Shown once, to the engineer at the terminal; it is stored only sealed.
    println!(
        "two-step sign-in is on for {}. Add this to your authenticator app (shown only now):\n  {}\n  secret: {}",
        email.trim(),
        enrolment.url.expose_secret(),
        enrolment.secret.expose_secret()
    );
    Ok(())
}

async fn remove(settings: &Settings, email: &str) -> anyhow::Result<()> {
    let store = crate::store::open(settings).await?;
    let removed = dealbridge_web::remove_staff_account(store.as_ref(), email, &actor()).await?;
    println!("removed support console account {removed}");
    Ok(())
}

async fn change_role(settings: &Settings, email: &str, role: StaffRole) -> anyhow::Result<()> {
    let store = crate::store::open(settings).await?;
    let before = dealbridge_web::change_staff_role(store.as_ref(), email, role, &actor()).await?;
    if before == role {
        println!("{} already has the {role} role", email.trim());
    } else {
        println!("{} now has the {role} role (had {before})", email.trim());
    }
    Ok(())
}

async fn add(settings: &Settings, email: &str, role: StaffRole) -> anyhow::Result<()> {
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
    let account =
        dealbridge_web::add_staff_account(store.as_ref(), email, password, role, &actor()).await?;
    println!(
        "added support console account {} ({})",
        account.email, account.role
    );
    Ok(())
}

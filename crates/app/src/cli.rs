use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "dealbridge",
    version,
    about = "Turns events from your other systems into Pipedrive records and keeps them in sync."
)]
pub struct Cli {
    /// Settings file (TOML). Default: `dealbridge.toml` in the working folder, if present.
    #[arg(long, global = true, env = "DEALBRIDGE_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Default, Subcommand)]
pub enum Command {
    /// Run the web app and job workers (the default): migrates, then serves until SIGTERM or Ctrl-C.
    #[default]
    Serve,
    /// Run the web app without job workers (run `dealbridge worker` elsewhere).
    ServeWeb,
    /// Run job workers only.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Run the local Pipedrive sandbox on its own (OAuth, REST, limits, webhooks, faults).
    Sandbox(crate::sandbox_cmd::SandboxArgs),
    /// Encryption key maintenance (`keys rotate`).
    Keys(crate::keys_cmd::KeysArgs),
    /// Support console accounts (`staff add EMAIL`, password on stdin).
    Staff(crate::staff_cmd::StaffArgs),
    /// Probe this machine's server (`/healthz` on the listen address); exit 0 when healthy.
    /// For container health checks: the image has no curl.
    Healthcheck,
}

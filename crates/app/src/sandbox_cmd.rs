//! `dealbridge sandbox`: the local Pipedrive on its own, for demos, manual testing and other tools.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;
use clap::Args;
use dealbridge_sandbox::{AppSpec, CompanySpec, Plan, SandboxConfig, UserSpec};

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Seed for ids, tokens and codes: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, default_value_t = 3599)]
    pub expires_in: u64,
    /// Issue a new refresh token on every refresh (and spend the old one).
    #[arg(long)]
    pub rotate_refresh_tokens: bool,
    /// Multiplier for webhook retry delays (0.01 makes +3 s into +30 ms).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Register an app: CLIENT_ID:CLIENT_SECRET:CALLBACK_URL (repeatable).
    #[arg(long = "app", value_parser = parse_app)]
    pub apps: Vec<AppSpec>,
    /// Create a company with one admin user: DOMAIN[:PLAN[:SEATS]], plan lite|growth|premium|ultimate
    /// (repeatable).
    #[arg(long = "company", value_parser = parse_company)]
    pub companies: Vec<CompanySpec>,
}

pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let config = SandboxConfig {
        seed: args.seed,
        expires_in: args.expires_in,
        rotate_refresh_tokens: args.rotate_refresh_tokens,
        time_scale: args.time_scale,
        apps: args.apps,
        companies: args.companies,
        ..SandboxConfig::default()
    };
    println!(
        "Pipedrive sandbox on http://{} (demo page: /_sandbox/)",
        args.listen
    );
    dealbridge_sandbox::run(config, listener)
        .await
        .context("sandbox server")
}

fn parse_app(text: &str) -> Result<AppSpec, String> {
    let mut parts = text.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(id), Some(secret), Some(callback)) if !id.is_empty() && !secret.is_empty() => {
            Ok(AppSpec {
                client_id: id.into(),
                client_secret: secret.into(),
                callback_url: callback.into(),
                scopes: Vec::new(),
            })
        }
        _ => Err("expected CLIENT_ID:CLIENT_SECRET:CALLBACK_URL".into()),
    }
}

fn parse_company(text: &str) -> Result<CompanySpec, String> {
    let mut parts = text.split(':');
    let domain = parts
        .next()
        .filter(|d| !d.is_empty())
        .ok_or("expected DOMAIN[:PLAN[:SEATS]]")?;
    let plan = match parts.next().unwrap_or("growth") {
        "lite" => Plan::Lite,
        "growth" => Plan::Growth,
        "premium" => Plan::Premium,
        "ultimate" => Plan::Ultimate,
        other => {
            return Err(format!(
                "unknown plan {other:?} (lite, growth, premium, ultimate)"
            ))
        }
    };
    let seats = match parts.next() {
        Some(seats) => seats
            .parse()
            .map_err(|_| format!("seats {seats:?} is not a number"))?,
        None => 3,
    };
    Ok(CompanySpec {
        name: format!("{domain} (sandbox)"),
        domain: domain.into(),
        plan,
        seats,
        daily_budget: None,
        burst_limit: None,
        users: vec![UserSpec {
            name: "Admin".into(),
            email: format!("admin@{domain}.test"),
            is_admin: true,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_flags_keep_the_colons_of_the_callback_url() {
        let app = parse_app("id:secret:http://127.0.0.1:8080/oauth/callback").unwrap();
        assert_eq!(app.callback_url, "http://127.0.0.1:8080/oauth/callback");
        assert!(parse_app("id-only").is_err());
    }

    #[test]
    fn company_flags_default_and_validate() {
        let company = parse_company("acme").unwrap();
        assert_eq!((company.plan, company.seats), (Plan::Growth, 3));
        let big = parse_company("big:ultimate:12").unwrap();
        assert_eq!((big.plan, big.seats), (Plan::Ultimate, 12));
        assert!(parse_company("x:gold")
            .unwrap_err()
            .contains("unknown plan"));
        assert!(parse_company("x:lite:many").is_err());
    }
}

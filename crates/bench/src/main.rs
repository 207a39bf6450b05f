//! `dealbridge-bench SCENARIO`: see the crate README.

mod loadgen;
mod memory;
mod report;
mod sandbox_process;
mod scenarios;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "dealbridge-bench",
    about = "Benchmark scenarios for Dealbridge"
)]
struct Cli {
    /// Scenario to run (`list` shows them all).
    scenario: String,
    /// Seconds each measured phase runs.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent connections for HTTP scenarios.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Postgres URL for `ingest` (default: `TEST_POSTGRES_URL`, else the local server),
    /// `import` and `pipeline` (default: `BENCH_POSTGRES_URL`, else the local `dealbridge_bench`
    /// database) and `pages`/`pages-sqlite` (the server to make its own database on, for
    /// `pages-sqlite` the scratch one the fill is made in: default `BENCH_POSTGRES_URL`, else
    /// `TEST_POSTGRES_URL`, else the local server).
    #[arg(long)]
    url: Option<String>,
    /// Rounds, back to back, for scenarios that compare with a peer (`queue`); medians go in the
    /// JSON line.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Rows of the CSV file `import` generates.
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// Duplicate policy of `import`: create (no search per row), skip or update.
    #[arg(long, default_value = "create")]
    policy: String,
    /// Events `pipeline` records (default: the full 10,000), or inbox events `pages` fills
    /// (default: 1,000,000).
    #[arg(long)]
    events: Option<usize>,
    /// Tenants `pipeline` spreads them over (default: the full 20), or `pages` fills (default:
    /// 1,000).
    #[arg(long)]
    tenants: Option<usize>,
    /// Job rows `pages` fills (default: 1,000,000).
    #[arg(long)]
    jobs: Option<u64>,
    /// Timed requests per page in `pages` (default: 500).
    #[arg(long)]
    requests: Option<usize>,
    /// `pipeline` and `import` with the mirror not known to be complete: every mirror miss is
    /// searched for in Pipedrive (how the workflows and `skip`/`update` imports run before a
    /// tenant's first full sweep).
    #[arg(long)]
    mirror_unknown: bool,
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some(sandbox_process::CHILD_ARG) {
        let config = args.next().unwrap_or_default();
        return sandbox_process::serve_child(&config);
    }
    let cli = Cli::parse();
    let options = scenarios::Options {
        duration: std::time::Duration::from_secs(cli.seconds.max(1)),
        connections: cli.connections.max(1),
        // Lives for the whole run; leaking it keeps `Options` a plain `Copy` value.
        url: cli.url.clone().map(|url| &*Box::leak(url.into_boxed_str())),
        rounds: cli.rounds.max(1),
        rows: cli.rows.max(1),
        policy: dealbridge_storage::DuplicatePolicy::parse(&cli.policy).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown --policy {:?}; known: create, skip, update",
                cli.policy
            )
        })?,
        events: cli.events.map(|n| n.max(1)),
        tenants: cli.tenants.map(|n| n.max(1)),
        jobs: cli.jobs,
        requests: cli.requests.map(|n| n.max(1)),
        mirror_unknown: cli.mirror_unknown,
    };
    if cli.scenario == "list" {
        for (name, about, _) in scenarios::ALL {
            println!("{name:<12} {about}");
        }
        return Ok(());
    }
    let Some((_, _, run)) = scenarios::ALL
        .iter()
        .find(|(name, _, _)| *name == cli.scenario)
    else {
        let names: Vec<&str> = scenarios::ALL.iter().map(|(name, _, _)| *name).collect();
        anyhow::bail!(
            "unknown scenario {:?}; known: {}",
            cli.scenario,
            names.join(", ")
        );
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(options))?;
    report.print();
    Ok(())
}

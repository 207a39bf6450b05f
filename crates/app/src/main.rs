use clap::Parser;
use dealbridge_app::cli::{Cli, Command};
use dealbridge_app::settings::Settings;
use dealbridge_app::{startup, store, telemetry};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            // One line, naming the key: the operator fixes it and starts again.
            eprintln!("dealbridge: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    let telemetry = match telemetry::init(&settings) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("dealbridge: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("dealbridge: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command.unwrap_or_default() {
            Command::Serve => {
                startup::Application::build(settings)
                    .await?
                    .run_with_workers()
                    .await
            }
            Command::ServeWeb => startup::Application::build(settings).await?.run().await,
            Command::Worker => dealbridge_app::workers::worker_only(&settings).await,
            Command::Migrate => store::migrate_only(&settings).await,
            Command::Sandbox(args) => dealbridge_app::sandbox_cmd::run(args).await,
            Command::Keys(args) => dealbridge_app::keys_cmd::run(&settings, args).await,
            Command::Staff(args) => dealbridge_app::staff_cmd::run(&settings, args).await,
            Command::Healthcheck => dealbridge_app::healthcheck_cmd::run(&settings).await,
        }
    });
    // The runtime goes first: its tasks' spans end, then the exporter sends what is buffered.
    drop(runtime);
    let code = match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error.cause = ?err, "dealbridge stopped with an error");
            eprintln!("dealbridge: {err:#}");
            std::process::ExitCode::FAILURE
        }
    };
    drop(telemetry);
    code
}

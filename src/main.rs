//! The `omsd` command line: `run`, `migrate`, `check-config`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use omsd::config::Config;

/// omsd: crypto exchange connector and order-management daemon.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(
        long,
        short,
        global = true,
        env = "OMSD_CONFIG",
        default_value = "config/default.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon until SIGINT or SIGTERM.
    Run,
    /// Run the store's migrations and exit.
    Migrate,
    /// Validate the configuration, report every problem, and exit.
    CheckConfig,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{}: {e}", cli.config.display());
            std::process::exit(2);
        }
    };
    if let Command::CheckConfig = cli.command {
        println!("{}: ok", cli.config.display());
        return Ok(());
    }
    omsd::telemetry::init_logging(&config.log.format, &config.log.level);
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run => omsd::app::run(config, shutdown_signal()).await,
            Command::Migrate => {
                let store = omsd::app::open_store(&config).await?;
                store.close().await;
                tracing::info!("migrations applied");
                Ok(())
            }
            Command::CheckConfig => Ok(()),
        }
    });
    // A stop that ran out of its grace period may leave work behind: do not wait for it.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_WAIT);
    result
}

/// How long the process waits, after the daemon stopped, for leftover runtime work.
const RUNTIME_SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

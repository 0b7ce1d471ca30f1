//! The `omsd` command line: the daemon (`run`, `migrate`, `check-config`) and the client
//! subcommands that talk to a running daemon over its control port (`omsd::cli`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use omsd::cli::{ClientArgs, ClientCommand};
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
    #[command(flatten)]
    client: ClientArgs,
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
    #[command(flatten)]
    Client(Box<ClientCommand>),
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Command::Client(command) = cli.command {
        return Ok(client(&cli.config, &cli.client, *command));
    }
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{}: {e}", cli.config.display());
            std::process::exit(2);
        }
    };
    if let Command::CheckConfig = cli.command {
        println!("{}: ok", cli.config.display());
        return Ok(ExitCode::SUCCESS);
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
            Command::CheckConfig | Command::Client(_) => Ok(()),
        }
    });
    // A stop that ran out of its grace period may leave work behind: do not wait for it.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_WAIT);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a client subcommand. The daemon's address: `--url`, else `control.listen` of the
/// configuration file when it loads, else the default port on loopback.
fn client(config: &std::path::Path, args: &ClientArgs, command: ClientCommand) -> ExitCode {
    let base = match &args.url {
        Some(url) => url.clone(),
        None => {
            let listen = Config::load(config)
                .map(|c| c.control.listen)
                .unwrap_or_else(|_| omsd::config::ControlConfig::default().listen);
            format!("http://{listen}")
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("omsd: starting the runtime: {e}");
            return ExitCode::from(omsd::cli::exit::DAEMON);
        }
    };
    runtime.block_on(omsd::cli::run(&base, args, command))
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

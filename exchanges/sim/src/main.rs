//! `omsd-sim`: runs the simulated exchange until SIGINT or SIGTERM.
//!
//! Prints `rest=...`, `stream=...` and `ws-api=...` on stdout once listening; logs go to
//! stderr (`RUST_LOG` filters them).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use exchange_sim::SimConfig;

/// Simulated exchange speaking the Binance Spot protocol (REST, market streams, WebSocket API).
#[derive(Debug, Parser)]
#[command(name = "omsd-sim", version)]
struct Cli {
    /// Address to listen on [default: 127.0.0.1:18080, or `listen` from --config]
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// TOML configuration file (see sim.example.toml)
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed of the synthetic market (same seed, same market)
    #[arg(long)]
    seed: Option<u64>,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:18080";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let mut config = match &cli.config {
        Some(path) => SimConfig::from_toml_file(path)
            .with_context(|| format!("loading {}", path.display()))?,
        None => SimConfig {
            listen: DEFAULT_LISTEN.parse().context("default listen address")?,
            ..SimConfig::demo()
        },
    };
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    if let Some(seed) = cli.seed {
        config.seed = seed;
    }
    let sim = exchange_sim::start(config)
        .await
        .context("starting the simulator")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "rest={}", sim.rest_url())?;
    writeln!(stdout, "stream={}", sim.stream_url())?;
    writeln!(stdout, "ws-api={}", sim.ws_api_url())?;
    stdout.flush()?;
    drop(stdout);
    wait_for_signal().await?;
    sim.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

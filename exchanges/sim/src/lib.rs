//! exchange-sim (`omsd-sim`): a simulated crypto exchange that is a real HTTP + WebSocket
//! server speaking the Binance Spot wire protocol, for integration tests and as the embedded
//! default venue. It shares no code with any adapter, so adapter-against-simulator tests really
//! test the protocol.
//!
//! Layout:
//! - `engine/`: the pure matching engine (books, orders, balances, filters); no I/O.
//! - `market`: the synthetic market (random-walk mid, maker and taker agents).
//! - `feed`: depth diff events with contiguous update ids, and the book REST depth serves.
//! - `venue`: the actor that owns engine, market and feed; handlers talk to it by message.
//! - `bus`: bounded broadcast fan-out of market data and user events.
//! - `wire/`: Binance payload shapes; `errors`: venue error bodies; `auth`: keys, signatures.
//! - `rest/`, `streams`, `ws_api`, `ws`: the protocol surfaces; `server`: router and serving.
//! - `limits`, `stats`, `clock`, `config`, `format`, `error`: support.
//! - `faults/`: fault injection ([`SimFaults`], `/_sim/faults`). It hooks in at a few places:
//!   a REST middleware inside `rest::track_weight` (429/418, 5xx, hangs, latency, swallowed
//!   acks), the per-connection loops in `streams` and `ws_api` (drop, silence, pings, pongs),
//!   the venue's publication (depth gaps, duplicated or reordered user events), the listener
//!   (downtime) and `clock`, the one source of time (skew).
//!
//! ```no_run
//! # async fn demo() -> Result<(), exchange_sim::SimError> {
//! let sim = exchange_sim::start(exchange_sim::SimConfig::demo()).await?;
//! println!("rest={} stream={} ws-api={}", sim.rest_url(), sim.stream_url(), sim.ws_api_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod auth;
mod bus;
mod clock;
pub mod config;
pub mod engine;
mod error;
mod errors;
pub mod faults;
mod feed;
mod format;
mod limits;
mod listen_keys;
mod maintenance;
mod market;
mod rest;
mod server;
mod stats;
mod streams;
mod tape;
mod venue;
mod wire;
mod ws;
mod ws_api;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

pub use config::{
    DEFAULT_API_KEY, DEFAULT_API_SECRET, DEFAULT_ED25519_API_KEY, FeeConfig, LimitConfig,
    MarketConfig, SimConfig, StreamConfig, SymbolConfig,
};
pub use error::SimError;
pub use faults::{FaultId, FaultSpec, SimFaults};
pub use stats::SimStats;

use crate::auth::Keys;
use crate::bus::Bus;
use crate::clock::Clock;
use crate::engine::{Catalog, Fees};
use crate::faults::FaultListener;
use crate::server::{AppState, WsSettings};
use crate::venue::{Venue, VenueClient};

/// Bound of the venue's command queue; handlers wait (backpressure) when it is full.
const COMMAND_QUEUE: usize = 1024;

/// A running simulator. Dropping it leaves the tasks running; call [`SimHandle::shutdown`].
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    api_key: String,
    api_secret: String,
    stats: Arc<stats::Stats>,
    faults: SimFaults,
    signatures: auth::SignatureLog,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// Validates the config, binds, spawns the server and market tasks, and returns at once.
pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
    config.validate()?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: config.listen,
        source,
    })?;
    let catalog = Arc::new(Catalog::new(
        &config.symbols,
        config.balances.keys().map(String::as_str),
    ));
    let stats = Arc::new(stats::Stats::default());
    let bus = Bus::new(config.streams.broadcast_capacity);
    let clock = Clock::default();
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let faults = SimFaults::new(
        Arc::clone(&catalog),
        clock.clone(),
        Arc::clone(&stats),
        config.seed,
        shutdown.clone(),
        tracker.clone(),
    );
    let limits = Arc::new(limits::Limits::new(config.limits.clone()));
    let (venue, user) = Venue::new(
        &config,
        Arc::clone(&catalog),
        clock.clone(),
        Arc::clone(&stats),
        bus.clone(),
        faults.clone(),
        Arc::clone(&limits),
    );
    let mut keys = Keys::default();
    keys.insert(&config.api_key, &config.api_secret, user);
    if let Some(public) = config
        .ed25519_public_key
        .as_deref()
        .and_then(auth::parse_ed25519_public_key)
    {
        keys.insert_ed25519(&config.ed25519_api_key, public, user);
    }
    let signatures = keys.signatures();
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let state = AppState {
        venue: VenueClient::new(cmd_tx),
        catalog,
        keys: Arc::new(keys),
        clock,
        stats: Arc::clone(&stats),
        limits,
        listen_keys: Arc::new(listen_keys::ListenKeys::new(
            config.streams.listen_key_ttl_ms,
            config.seed,
        )),
        bus,
        fees: Fees {
            maker: config.fees.maker,
            taker: config.fees.taker,
        },
        ws: WsSettings {
            ping_interval: Duration::from_millis(config.streams.ping_interval_ms),
            pong_timeout: Duration::from_millis(config.streams.pong_timeout_ms),
            max_age: Duration::from_millis(config.streams.max_connection_age_ms),
            max_incoming_per_sec: config.streams.max_incoming_per_sec,
        },
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
        faults: faults.clone(),
        maintenance: maintenance::Maintenance::default(),
    };
    tracker.spawn(venue.run(cmd_rx, shutdown.clone()));
    tracker.spawn(server::serve(
        FaultListener::new(listener, addr, faults.clone()),
        server::app(state),
        shutdown.clone(),
    ));
    info!(%addr, symbols = config.symbols.len(), seed = config.seed, "simulator started");
    Ok(SimHandle {
        addr,
        api_key: config.api_key,
        api_secret: config.api_secret,
        signatures,
        stats,
        faults,
        shutdown,
        tracker,
    })
}

impl SimHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT`; clients append `/ws/...` or `/stream?...`.
    pub fn stream_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/ws-api/v3`
    pub fn ws_api_url(&self) -> String {
        format!("ws://{}/ws-api/v3", self.addr)
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn api_secret(&self) -> &str {
        &self.api_secret
    }

    /// The fault registry: inject, list and clear faults from tests (the same registry as
    /// `/_sim/faults`).
    pub fn faults(&self) -> &SimFaults {
        &self.faults
    }

    /// The most recent signatures (REST and WebSocket API) the simulator accepted, oldest
    /// first, up to 10 000.
    pub fn signatures_seen(&self) -> Vec<String> {
        self.signatures.snapshot()
    }

    /// The simulator's counters now.
    pub fn stats(&self) -> SimStats {
        self.stats.snapshot()
    }

    /// Stops accepting, closes every WebSocket, lets open requests finish and ends all tasks.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        info!(addr = %self.addr, "simulator stopped");
    }
}

//! The composition root and supervisor: builds every component from the configuration, spawns
//! every long-lived task, reports readiness after start-up reconciliation, and shuts down in
//! order (stop intake, drain the OMS, stop streams, close the store).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use exchange_core::{MarketEvent, UserEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, ShutdownConfig};
use crate::control::{self, AppState, EventFeed};
use crate::heartbeat::{self, HEARTBEAT_TICK, Heartbeats};
use crate::market::writer::{MarketWriter, WriterSettings};
use crate::market::{MarketData, MarketHandle, Recording, SampleSpec};
use crate::oms::{Oms, OmsHandle, OmsSettings};
use crate::queues::{QueueProbe, Queues};
use crate::store::{self, Store};
use crate::supervisor::{Readiness, Supervisor};
use crate::telemetry;
use crate::venues::{self, Venue, VenueEndpoints, Venues};

/// A running daemon. [`App::stop`] shuts it down in order.
pub struct App {
    control_addr: SocketAddr,
    /// Stops the control port (and ends the live event streams).
    intake: CancellationToken,
    shutdown: CancellationToken,
    /// Stops the watchdog pings, last of all.
    watchdog_stop: CancellationToken,
    watchdog: Option<tokio::task::JoinHandle<()>>,
    tasks: TaskTracker,
    store: Arc<dyn Store>,
    oms: OmsHandle,
    sims: Vec<exchange_sim::SimHandle>,
    readiness: Arc<Readiness>,
    supervisor: Supervisor,
    stopping: ShutdownConfig,
}

/// Runs the daemon until `shutdown` completes, then stops it gracefully. Returns an error
/// (the process exits non-zero, so systemd restarts it) when a long-lived task failed.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let app = App::start(config).await?;
    // Start-up reconciliation has finished: App::start returns only after it.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let failed = app.supervisor.failed();
    tokio::select! {
        () = shutdown => tracing::info!("shutdown requested"),
        () = failed.cancelled() => {}
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let failure = app.readiness.failure();
    let clean = app.stop().await;
    match failure {
        Some(failure) => anyhow::bail!("{failure}"),
        None if !clean => anyhow::bail!("the shutdown did not finish within shutdown.grace_ms"),
        None => Ok(()),
    }
}

/// Opens the configured store and runs its migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::open_with(&config.store.url, config.store.max_connections)
        .await
        .context("opening the store")?;
    store.migrate().await.context("running migrations")?;
    let policies = config.market_data.policies();
    if store
        .apply_market_policies(&policies)
        .await
        .context("setting the market-data policies")?
    {
        tracing::info!(
            ?policies,
            "TimescaleDB keeps market data: retention and compression set"
        );
    }
    Ok(store)
}

impl App {
    /// Starts every component; returns once start-up reconciliation finished and the control
    /// port serves requests.
    pub async fn start(config: Config) -> anyhow::Result<App> {
        if config.metrics.enabled {
            telemetry::install_exporter(config.metrics.listen);
        }
        telemetry::ready(false);
        let tasks = TaskTracker::new();
        // Pings from the start (start-up may take a while); each loop is watched once it runs.
        let heartbeats = Arc::new(Heartbeats::default());
        let watchdog_stop = CancellationToken::new();
        let watchdog = heartbeat::spawn_watchdog(heartbeats.clone(), watchdog_stop.clone());
        let store = open_store(&config).await?;
        let (venues, sims) = connect_venues(&config, &store).await?;
        let venues = Arc::new(venues);

        let shutdown = CancellationToken::new();
        let intake = CancellationToken::new();
        let request_timeout = Duration::from_millis(config.oms.request_timeout_ms);
        let settings = OmsSettings {
            request_timeout,
            poll_interval: Duration::from_millis(config.oms.poll_interval_ms),
        };
        let readiness = Arc::new(Readiness::default());
        let supervisor = Supervisor::new(tasks.clone(), shutdown.clone(), readiness.clone());
        let (recording, writer) = market_recording(&config, &venues, &store);
        let (market, market_handle) = MarketData::new(recording.clone());
        let market = market.watched(heartbeats.register("market_data"));
        let (mut oms, oms_handle) = Oms::new(
            store.clone(),
            venues.clone(),
            market_handle.mids(),
            settings,
            shutdown.child_token(),
        );
        oms.load().await.context("loading the order working set")?;
        let oms = oms.watched(heartbeats.register("order_processor"));
        supervisor.spawn("order_processor", oms.run());
        supervisor.spawn("market_data", market.run(shutdown.child_token()));
        let queues = Queues::default();
        queues.watch(oms_handle.command_queue());
        if let (Some(writer), Some(handle)) = (writer, &recording.writer) {
            queues.watch(handle.queue());
            let writer = writer.watched(heartbeats.register("market_writer"));
            supervisor.spawn("market_writer", writer.run());
        }
        drop(recording);
        queues.watch(QueueProbe::of(
            "market_events",
            None,
            &market_handle.events_tx(),
        ));
        spawn_health_sampler(&venues, &queues, &tasks, &shutdown);
        spawn_streams(
            &venues,
            &oms_handle,
            &market_handle,
            &queues,
            &supervisor,
            (&shutdown, &heartbeats),
        );

        let listener = tokio::net::TcpListener::bind(config.control.listen)
            .await
            .with_context(|| format!("binding the control port {}", config.control.listen))?;
        let control_addr = listener.local_addr()?;
        let state = AppState {
            oms: oms_handle.clone(),
            venues: venues.clone(),
            market: market_handle,
            readiness: readiness.clone(),
            store: store.clone(),
            market_data_stored: config.market_data.store,
            submit_wait: Duration::from_millis(config.oms.submit_wait_ms),
            queues: queues.clone(),
            events: EventFeed {
                queue: config.events.queue,
                keep_alive: Duration::from_millis(config.events.keep_alive_ms),
                closing: intake.clone(),
            },
        };
        let intake_token = intake.clone();
        supervisor.spawn("control_port", async move {
            if let Err(e) = control::serve(listener, state, intake_token).await {
                tracing::error!(error = %e, "control port failed");
            }
        });
        tracing::info!(%control_addr, "control port listening");

        spawn_instrument_refresh(&venues, &store, &tasks, &shutdown);
        for venue in venues.iter() {
            if venue.instruments_stale() {
                // It reconciles when its user stream first connects, once the venue is back.
                tracing::warn!(
                    venue = venue.name(),
                    "venue unreachable at start: not reconciled yet; orders for it are refused until it answers"
                );
                continue;
            }
            // The user stream's first subscription starts a reconciliation; start-up joins it,
            // so that once ready no second pause follows at once.
            let deadline = tokio::time::Instant::now() + STREAM_WAIT;
            while !venue.user_stream_up() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if !venue.user_stream_up() {
                tracing::warn!(
                    venue = venue.name(),
                    "user stream not up yet: reconciling over REST; orders are polled until it is"
                );
            }
            let report = oms_handle
                .reconcile(venue.name())
                .await
                .context("start-up reconciliation")?;
            if report.failed > 0 {
                anyhow::bail!(
                    "start-up reconciliation of venue {} failed for {} orders",
                    venue.name(),
                    report.failed
                );
            }
        }
        readiness.set_reconciled(true);
        telemetry::ready(oms_handle.store_up() && !readiness.failed());
        Ok(App {
            control_addr,
            intake,
            shutdown,
            watchdog_stop,
            watchdog,
            tasks,
            store,
            oms: oms_handle,
            sims,
            readiness,
            supervisor,
            stopping: config.shutdown.clone(),
        })
    }

    /// The bound address of the control port.
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// Endpoints of the embedded simulators, if any.
    pub fn simulators(&self) -> &[exchange_sim::SimHandle] {
        &self.sims
    }

    /// Whether the daemon reports ready (reconciled, store up, no task failed).
    pub fn readiness(&self) -> &Arc<Readiness> {
        &self.readiness
    }

    /// Runs `task` under supervision: if it panics or ends before shutdown, readiness turns
    /// false and [`run`] stops the daemon with an error.
    pub fn spawn_supervised<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.supervisor.spawn(name, task);
    }

    /// Fires when a supervised task failed.
    pub fn failed(&self) -> CancellationToken {
        self.supervisor.failed()
    }

    /// Stops in order, within `shutdown.grace_ms`: refuses new orders (503 `shutting_down`),
    /// cancels every open order when `shutdown.cancel_open_orders` is set, lets the order
    /// processor drain in-flight venue calls and write what they answered, stops the streams
    /// and the book keeper (the market writer then flushes), and only then the control port
    /// and the live event streams. Returns false when the grace period ran out: what was
    /// still running is logged and abandoned.
    pub async fn stop(self) -> bool {
        let started = std::time::Instant::now();
        self.readiness.set_reconciled(false);
        telemetry::ready(false);
        self.oms.close_intake();
        let grace = self.stopping.grace();
        let clean = tokio::time::timeout(grace, self.drain()).await.is_ok();
        if !clean {
            tracing::error!(
                ?grace,
                still_running = ?self.supervisor.running(),
                "shutdown grace period exceeded: abandoning the tasks still running"
            );
        }
        self.shutdown.cancel();
        self.intake.cancel();
        if tokio::time::timeout(STORE_CLOSE_WAIT, self.store.close())
            .await
            .is_err()
        {
            tracing::error!("the store did not close in time: abandoned");
        }
        for sim in self.sims {
            sim.shutdown().await;
        }
        self.watchdog_stop.cancel();
        if let Some(watchdog) = self.watchdog {
            let _ = watchdog.await;
        }
        telemetry::shutdown_finished(clean, started.elapsed());
        tracing::info!("omsd stopped");
        clean
    }

    /// The ordered part of [`App::stop`] that the grace period bounds.
    async fn drain(&self) {
        if self.stopping.cancel_open_orders {
            self.cancel_open_orders().await;
        }
        self.shutdown.cancel();
        // The control port stays up meanwhile: orders are refused with 503, reads answer.
        let mut running = self.supervisor.running();
        while running.iter().any(|(name, _)| DRAINED_FIRST.contains(name)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            running = self.supervisor.running();
        }
        self.intake.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Cancels every open order and waits for the venue's answers; asks again while new
    /// orders accepted before intake closed are still being written.
    async fn cancel_open_orders(&self) {
        let mut canceled = 0;
        for _ in 0..MAX_CANCEL_ROUNDS {
            let round = match self.oms.cancel_open().await {
                Ok(round) => round,
                Err(e) => {
                    tracing::error!(error = %e, "cannot cancel the open orders at shutdown");
                    return;
                }
            };
            let done = round.answers.is_empty() && round.settled;
            canceled += round.answers.len();
            for answer in round.answers {
                let _ = answer.await;
            }
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::info!(canceled, "shutdown: open orders canceled");
    }
}

/// The tasks whose end the control port waits for when stopping: the order processor (its
/// drain) and the market-data path (the writer's flush).
const DRAINED_FIRST: [&str; 3] = ["order_processor", "market_data", "market_writer"];

/// Rounds of cancel-all at shutdown (a round waits for the venue's answers).
const MAX_CANCEL_ROUNDS: usize = 20;

/// How long a stop waits for the store to close.
const STORE_CLOSE_WAIT: Duration = Duration::from_secs(5);

async fn connect_venues(
    config: &Config,
    store: &Arc<dyn Store>,
) -> anyhow::Result<(Venues, Vec<exchange_sim::SimHandle>)> {
    let mut venues = Venues::default();
    let mut sims = Vec::new();
    for venue_config in &config.venues {
        let (api_key, api_secret) = venues::credentials(venue_config)?;
        let endpoints = if venue_config.embedded_sim {
            let mut sim_config = exchange_sim::SimConfig::demo();
            sim_config.api_key = api_key.clone();
            sim_config.api_secret = api_secret.clone();
            let sim = exchange_sim::start(sim_config)
                .await
                .context("starting the embedded simulator")?;
            tracing::info!(
                venue = %venue_config.name,
                "embedded simulator started: rest={} stream={} ws-api={}",
                sim.rest_url(),
                sim.stream_url(),
                sim.ws_api_url()
            );
            let endpoints = VenueEndpoints {
                rest_url: sim.rest_url(),
                stream_url: sim.stream_url(),
                ws_api_url: sim.ws_api_url(),
                api_key,
                api_secret,
            };
            sims.push(sim);
            endpoints
        } else {
            VenueEndpoints {
                rest_url: venue_config.rest_url.clone().unwrap_or_default(),
                stream_url: venue_config.stream_url.clone().unwrap_or_default(),
                ws_api_url: venue_config.ws_api_url.clone().unwrap_or_default(),
                api_key,
                api_secret,
            }
        };
        let exchange = venues::build_exchange(venue_config, endpoints)?;
        venues.insert(Venue::connect(venue_config.clone(), exchange, store).await?);
    }
    Ok((venues, sims))
}

/// Spawns each venue's user and market streams with forwarders into the OMS and book keeper.
/// The forwarders are the streams' side of the watchdog: each stamps a heartbeat per event and
/// idle tick, so one stuck handing events on stops the pings.
fn spawn_streams(
    venues: &Venues,
    oms: &OmsHandle,
    market: &MarketHandle,
    queues: &Queues,
    supervisor: &Supervisor,
    (shutdown, heartbeats): (&CancellationToken, &Heartbeats),
) {
    for venue in venues.iter() {
        let name = venue.name().to_string();
        let (user_tx, mut user_rx) = mpsc::channel::<UserEvent>(USER_EVENT_QUEUE);
        queues.watch(QueueProbe::of("user_events", Some(&name), &user_tx));
        supervisor.watch(
            "user_stream",
            venue
                .exchange
                .spawn_user_stream(user_tx, shutdown.child_token()),
        );
        let (oms, venue_name) = (oms.clone(), name.clone());
        let forwarder_shutdown = shutdown.clone();
        let heartbeat = heartbeats.register("user_forwarder");
        supervisor.spawn("user_forwarder", async move {
            let mut idle = tokio::time::interval(HEARTBEAT_TICK);
            loop {
                heartbeat.beat();
                let event = tokio::select! {
                    () = forwarder_shutdown.cancelled() => return,
                    _ = idle.tick() => continue,
                    event = user_rx.recv() => event,
                };
                let Some(event) = event else { return };
                if !oms.user_event(&venue_name, event).await {
                    return;
                }
            }
        });

        let (market_tx, mut market_rx) = mpsc::channel::<MarketEvent>(crate::market::MARKET_QUEUE);
        queues.watch(QueueProbe::of("market_stream", Some(&name), &market_tx));
        let symbols = venue
            .instruments()
            .values()
            .map(|i| i.venue_symbol.clone())
            .collect();
        supervisor.watch(
            "market_stream",
            venue
                .exchange
                .spawn_market_stream(symbols, market_tx, shutdown.child_token()),
        );
        let events_tx = market.events_tx();
        let forwarder_shutdown = shutdown.clone();
        let heartbeat = heartbeats.register("market_forwarder");
        supervisor.spawn("market_forwarder", async move {
            let mut dropped = 0u64;
            let mut idle = tokio::time::interval(HEARTBEAT_TICK);
            loop {
                heartbeat.beat();
                let event = tokio::select! {
                    () = forwarder_shutdown.cancelled() => return,
                    _ = idle.tick() => continue,
                    event = market_rx.recv() => event,
                };
                let Some(event) = event else { return };
                // Book updates are never dropped (a lost delta would corrupt the book; back
                // pressure makes the adapter fall behind and resync instead). Trades may be.
                let sent = match event {
                    MarketEvent::Book(_) => events_tx.send((name.clone(), event)).await.is_ok(),
                    MarketEvent::Trade(_) => match events_tx.try_send((name.clone(), event)) {
                        Ok(()) => true,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            dropped += 1;
                            true
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => false,
                    },
                };
                if !sent {
                    break;
                }
                if dropped > 0 && market_rx.is_empty() {
                    telemetry::market_events_dropped(&name, dropped);
                    dropped = 0;
                }
            }
        });
    }
}

/// The market-data writer (when market data is stored) and every configured book's snapshot
/// sampling.
fn market_recording(
    config: &Config,
    venues: &Venues,
    store: &Arc<dyn Store>,
) -> (Recording, Option<MarketWriter>) {
    let md = &config.market_data;
    if !md.store {
        return (Recording::default(), None);
    }
    let settings = WriterSettings {
        queue: md.queue,
        flush_rows: md.flush_rows,
        flush_interval: Duration::from_millis(md.flush_interval_ms),
    };
    let (writer, handle) = MarketWriter::new(store.clone(), settings);
    let mut samples = HashMap::new();
    for venue in venues.iter() {
        for (symbol, instrument) in venue.instruments().iter() {
            if let Some(spec) = venue.config.snapshots.resolve(&md.snapshots, symbol) {
                let key = (venue.name().to_string(), instrument.venue_symbol.clone());
                let interval = Duration::from_millis(spec.interval_ms);
                samples.insert(
                    key,
                    SampleSpec {
                        depth: spec.depth,
                        interval,
                    },
                );
            }
        }
    }
    let recording = Recording {
        writer: Some(handle),
        samples,
    };
    (recording, Some(writer))
}

/// Asks every venue that started with cached instruments for its instruments again, with
/// backoff, until it answers (the venue is then no longer stale).
fn spawn_instrument_refresh(
    venues: &Arc<Venues>,
    store: &Arc<dyn Store>,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) {
    for venue in venues.iter().filter(|v| v.instruments_stale()) {
        let (venue, store, shutdown) = (venue.clone(), store.clone(), shutdown.clone());
        tasks.spawn(async move {
            let mut delay = INSTRUMENT_RETRY_MIN;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
                match venue.refresh_instruments(&store).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::debug!(venue = venue.name(), error = %e, ?delay, "venue still unreachable");
                        delay = (delay * 2).min(INSTRUMENT_RETRY_MAX);
                    }
                }
            }
        });
    }
}

/// First and longest wait between attempts at a stale venue's instruments.
const INSTRUMENT_RETRY_MIN: Duration = Duration::from_millis(500);
const INSTRUMENT_RETRY_MAX: Duration = Duration::from_secs(30);

/// How long start-up waits for a venue's user stream before reconciling without it.
const STREAM_WAIT: Duration = Duration::from_secs(10);

/// Events a venue's user stream may queue for the order processor.
const USER_EVENT_QUEUE: usize = 1024;

/// How often adapters' health snapshots are exported as metrics.
const HEALTH_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Samples every venue's health and the daemon's queues into metrics until shutdown.
fn spawn_health_sampler(
    venues: &Arc<Venues>,
    queues: &Queues,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) {
    let (venues, queues, shutdown) = (venues.clone(), queues.clone(), shutdown.clone());
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(HEALTH_SAMPLE_INTERVAL);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    for venue in venues.iter() {
                        telemetry::venue_health(&venue.exchange.health());
                    }
                    queues.sample();
                }
            }
        }
    });
}

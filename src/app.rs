//! The composition root and supervisor: builds every component from the configuration, spawns
//! every long-lived task, reports readiness after start-up reconciliation, and shuts down in
//! order (stop intake, drain the OMS, stop streams, close the store).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use exchange_core::{MarketEvent, UserEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::control::{self, AppState};
use crate::market::{MarketData, MarketHandle};
use crate::oms::{Oms, OmsHandle, OmsSettings};
use crate::store::{self, Store};
use crate::telemetry;
use crate::venues::{self, Venue, VenueEndpoints, Venues};

/// A running daemon. [`App::stop`] shuts it down in order.
pub struct App {
    control_addr: SocketAddr,
    intake: CancellationToken,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    adapter_tasks: Vec<JoinHandle<()>>,
    store: Arc<dyn Store>,
    sims: Vec<exchange_sim::SimHandle>,
    ready: Arc<AtomicBool>,
}

/// Runs the daemon until `shutdown` completes, then stops it gracefully.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let app = App::start(config).await?;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    shutdown.await;
    tracing::info!("shutdown requested");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    app.stop().await;
    Ok(())
}

/// Opens the configured store and runs its migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::open(&config.store.url)
        .await
        .context("opening the store")?;
    store.migrate().await.context("running migrations")?;
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
        let store = open_store(&config).await?;
        let (venues, sims) = connect_venues(&config).await?;
        let venues = Arc::new(venues);

        let shutdown = CancellationToken::new();
        let intake = CancellationToken::new();
        let tasks = TaskTracker::new();
        let request_timeout = Duration::from_millis(config.oms.request_timeout_ms);
        let settings = OmsSettings {
            request_timeout,
            poll_interval: Duration::from_millis(config.oms.poll_interval_ms),
        };
        let (oms, oms_handle) = Oms::new(
            store.clone(),
            venues.clone(),
            settings,
            shutdown.child_token(),
        );
        tasks.spawn(oms.run());
        let (market, market_handle) = MarketData::new();
        tasks.spawn(market.run(shutdown.child_token()));
        spawn_health_sampler(&venues, &tasks, &shutdown);
        let adapter_tasks = spawn_streams(&venues, &oms_handle, &market_handle, &tasks, &shutdown);

        let ready = Arc::new(AtomicBool::new(false));
        let listener = tokio::net::TcpListener::bind(config.control.listen)
            .await
            .with_context(|| format!("binding the control port {}", config.control.listen))?;
        let control_addr = listener.local_addr()?;
        let state = AppState {
            oms: oms_handle.clone(),
            venues: venues.clone(),
            market: market_handle,
            ready: ready.clone(),
            submit_wait: Duration::from_millis(config.oms.submit_wait_ms),
        };
        let intake_token = intake.clone();
        tasks.spawn(async move {
            if let Err(e) = control::serve(listener, state, intake_token).await {
                tracing::error!(error = %e, "control port failed");
            }
        });
        tracing::info!(%control_addr, "control port listening");

        for venue in venues.iter() {
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
        ready.store(true, Ordering::Relaxed);
        telemetry::ready(true);
        Ok(App {
            control_addr,
            intake,
            shutdown,
            tasks,
            adapter_tasks,
            store,
            sims,
            ready,
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

    /// Stops intake, drains in-flight venue calls, stops streams, closes the store.
    pub async fn stop(self) {
        self.ready.store(false, Ordering::Relaxed);
        telemetry::ready(false);
        self.intake.cancel();
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(30), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within 30 s");
        }
        for task in self.adapter_tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.store.close().await;
        for sim in self.sims {
            sim.shutdown().await;
        }
        tracing::info!("omsd stopped");
    }
}

async fn connect_venues(config: &Config) -> anyhow::Result<(Venues, Vec<exchange_sim::SimHandle>)> {
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
        venues.insert(Venue::connect(venue_config.clone(), exchange).await?);
    }
    Ok((venues, sims))
}

/// Spawns each venue's user and market streams with forwarders into the OMS and book keeper.
fn spawn_streams(
    venues: &Venues,
    oms: &OmsHandle,
    market: &MarketHandle,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    for venue in venues.iter() {
        let name = venue.name().to_string();
        let (user_tx, mut user_rx) = mpsc::channel::<UserEvent>(1024);
        handles.push(
            venue
                .exchange
                .spawn_user_stream(user_tx, shutdown.child_token()),
        );
        let (oms, venue_name) = (oms.clone(), name.clone());
        tasks.spawn(async move {
            while let Some(event) = user_rx.recv().await {
                if !oms.user_event(&venue_name, event).await {
                    break;
                }
            }
        });

        let (market_tx, mut market_rx) = mpsc::channel::<MarketEvent>(crate::market::MARKET_QUEUE);
        let symbols = venue
            .instruments
            .values()
            .map(|i| i.venue_symbol.clone())
            .collect();
        handles.push(venue.exchange.spawn_market_stream(
            symbols,
            market_tx,
            shutdown.child_token(),
        ));
        let events_tx = market.events_tx();
        tasks.spawn(async move {
            let mut dropped = 0u64;
            while let Some(event) = market_rx.recv().await {
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
    handles
}

/// How often adapters' health snapshots are exported as metrics.
const HEALTH_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Samples every venue's health into metrics until shutdown.
fn spawn_health_sampler(venues: &Arc<Venues>, tasks: &TaskTracker, shutdown: &CancellationToken) {
    let (venues, shutdown) = (venues.clone(), shutdown.clone());
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(HEALTH_SAMPLE_INTERVAL);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    for venue in venues.iter() {
                        telemetry::venue_health(&venue.exchange.health());
                    }
                }
            }
        }
    });
}

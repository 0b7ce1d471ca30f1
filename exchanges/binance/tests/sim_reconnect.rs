//! Reconnect discipline against the real simulator: connections that subscribe and die at once
//! must not reset the reconnect backoff, and every connection the adapter opens (market
//! streams and WebSocket API) draws on one per-venue connection budget, so a venue that keeps
//! dropping us never sees a connection storm, a 429 or a 418 (DESIGN invariant 7).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::sim::{SYMBOL, Venue};
use exchange_core::{BookUpdate, Exchange, MarketEvent, UserEvent};
use exchange_sim::FaultSpec;
use exchange_sim::faults::{DropConnections, Target};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Connection attempts allowed in any window, scaled down from the venue's 300 per 5 minutes.
const BUDGET: u32 = 8;
const WINDOW: Duration = Duration::from_secs(10);
/// How long the venue drops every connection shortly after it opened.
const STORM: Duration = Duration::from_secs(8);
/// Sampling period of the simulator's connection counter.
const SAMPLE: Duration = Duration::from_millis(50);

/// What the stream consumers saw.
#[derive(Default)]
struct Seen {
    user_connected: Vec<Instant>,
    book_synced: Vec<Instant>,
}

#[tokio::test]
async fn connections_dropped_after_subscribe_stay_within_the_connection_budget() {
    let sim = match exchange_sim::start(exchange_sim::SimConfig::demo()).await {
        Ok(sim) => sim,
        Err(e) => panic!("simulator did not start: {e}"),
    };
    let mut config = common::sim_config(&sim);
    config.limiter.connect_budget = BUDGET;
    config.limiter.connect_window = WINDOW;
    let exchange = common::adapter_with(config);
    let venue = Venue { sim, exchange };
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shutdown = CancellationToken::new();
    let (user_tx, mut user_rx) = mpsc::channel(1_000);
    let (market_tx, mut market_rx) = mpsc::channel(100_000);
    let _user = venue.exchange.spawn_user_stream(user_tx, shutdown.clone());
    let _market =
        venue
            .exchange
            .spawn_market_stream(vec![SYMBOL.into()], market_tx, shutdown.clone());
    let consumer = tokio::spawn({
        let seen = seen.clone();
        async move {
            loop {
                tokio::select! {
                    Some(event) = user_rx.recv() => if event == UserEvent::Connected {
                        lock(&seen).user_connected.push(Instant::now());
                    },
                    Some(event) = market_rx.recv() => {
                        if let MarketEvent::Book(BookUpdate::Snapshot(_)) = event {
                            lock(&seen).book_synced.push(Instant::now());
                        }
                    }
                    else => return,
                }
            }
        }
    });
    wait_for(&seen, Instant::now(), "both streams up").await;

    // The storm: every connection is dropped within 250 ms of opening, for STORM. The
    // simulator's connection counter is sampled all along, and until both streams are back.
    let mut samples = Vec::new();
    let storm_end = Instant::now() + STORM;
    let mut tick = 0u32;
    while Instant::now() < storm_end {
        if tick % 5 == 0 {
            let drop = FaultSpec::DropConnections(DropConnections {
                target: Target::All,
                rate: 1.0,
            });
            if let Err(e) = venue.sim.faults().inject(drop) {
                panic!("inject: {e}");
            }
        }
        tick += 1;
        samples.push((Instant::now(), venue.sim.stats().ws_connections_total));
        tokio::time::sleep(SAMPLE).await;
    }
    let give_up = Instant::now() + Duration::from_secs(30);
    while !up_since(&seen, storm_end) {
        assert!(
            Instant::now() < give_up,
            "streams not back within 30 s of the storm"
        );
        samples.push((Instant::now(), venue.sim.stats().ws_connections_total));
        tokio::time::sleep(SAMPLE).await;
    }
    samples.push((Instant::now(), venue.sim.stats().ws_connections_total));

    let mut worst = 0;
    for (i, (start, before)) in samples.iter().enumerate() {
        for (end, after) in &samples[i..] {
            // Connections counted between two samples opened within (start - SAMPLE, end].
            if end.duration_since(*start) + SAMPLE <= WINDOW {
                worst = worst.max(after - before);
            }
        }
    }
    let total = samples.last().map_or(0, |s| s.1) - samples.first().map_or(0, |s| s.1);
    assert!(
        worst <= u64::from(BUDGET),
        "{worst} connections within {WINDOW:?} (budget {BUDGET}); {total} in all"
    );
    assert!(total >= 2, "the storm did reconnect the streams: {total}");
    let stats = venue.sim.stats();
    assert_eq!(
        (stats.rate_limited_total, stats.banned_total),
        (0, 0),
        "the venue never throttled us"
    );
    let connect = venue.exchange.health().limiter.connect;
    assert_eq!((connect.budget, connect.window_ms), (BUDGET, 10_000));
    shutdown.cancel();
    consumer.abort();
    venue.sim.shutdown().await;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// True once the user stream subscribed and the book synced, both after `since`.
fn up_since(seen: &Mutex<Seen>, since: Instant) -> bool {
    let seen = lock(seen);
    seen.user_connected.iter().any(|t| *t >= since) && seen.book_synced.iter().any(|t| *t >= since)
}

/// Waits until both streams are up after `since`.
async fn wait_for(seen: &Mutex<Seen>, since: Instant, what: &str) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while !up_since(seen, since) {
        assert!(Instant::now() < give_up, "{what}: not within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! Planned connection replacement against the real simulator, for both causes: a 2 s maximum
//! connection age, and the venue's `serverShutdown` notice (`/_sim/maintenance` with a grace
//! period before it closes the connections). Both streams are replaced while orders fill, and
//! the consumer never sees it: no book is ever reported out of sync, no `Disconnected` and no
//! second `Connected` is sent, and every fill of the orders placed meanwhile arrives exactly
//! once.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::sim::{DEADLINE, SYMBOL, Venue, btc, client_id, limit, ok, top_of_book};
use exchange_core::{BookUpdate, Exchange, MarketEvent, Side, UserEvent};
use rust_decimal_macros::dec;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The second, quieter book followed alongside [`SYMBOL`].
const OTHER: &str = "ETHUSDT";
/// How long orders are placed while connections keep being replaced.
const WINDOW: Duration = Duration::from_secs(9);

/// What the consumers saw.
#[derive(Default)]
struct Seen {
    /// Books that published a snapshot.
    synced: Vec<String>,
    /// `OutOfSync` updates (with their reason) after the first snapshot of that book.
    out_of_sync: Vec<String>,
    connected: u32,
    disconnected: Vec<String>,
    /// Fills by client order id and trade id: how many times each arrived.
    fills: HashMap<(String, String), u32>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What replaces the connections during the order window.
#[derive(Clone, Copy)]
enum Cause {
    /// A 2 s maximum connection age.
    MaxAge,
    /// `serverShutdown` notices to every connection, each closed 3 s later, at these offsets
    /// into the window.
    ServerShutdown(&'static [Duration]),
}

#[tokio::test]
async fn rotations_under_order_flow_are_invisible_to_the_consumer() {
    replacements_are_invisible(Cause::MaxAge, 3).await;
}

#[tokio::test]
async fn server_shutdown_notices_are_invisible_to_the_consumer() {
    const NOTICES: &[Duration] = &[Duration::from_secs(1), Duration::from_secs(5)];
    replacements_are_invisible(Cause::ServerShutdown(NOTICES), 2).await;
}

/// Asks the simulator to announce maintenance on every connection, closing them `grace` later.
async fn announce_maintenance(sim: &exchange_sim::SimHandle, grace: Duration) {
    let url = format!(
        "{}/_sim/maintenance?target=all&grace_ms={}",
        sim.rest_url(),
        grace.as_millis()
    );
    let answer = reqwest::Client::new()
        .post(url)
        .send()
        .await
        .expect("simulator answers");
    assert!(answer.status().is_success(), "{answer:?}");
}

async fn replacements_are_invisible(cause: Cause, min_rotations: u64) {
    let sim = match exchange_sim::start(exchange_sim::SimConfig::demo()).await {
        Ok(sim) => sim,
        Err(e) => panic!("simulator did not start: {e}"),
    };
    let mut config = common::sim_config(&sim);
    if let Cause::MaxAge = cause {
        config.max_connection_age = Duration::from_secs(2);
    }
    let venue = Venue {
        exchange: common::adapter_with(config),
        sim,
    };
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shutdown = CancellationToken::new();
    let (user_tx, mut user_rx) = mpsc::channel(10_000);
    let (market_tx, mut market_rx) = mpsc::channel(100_000);
    let _user = venue.exchange.spawn_user_stream(user_tx, shutdown.clone());
    let symbols = vec![SYMBOL.to_owned(), OTHER.to_owned()];
    let _market = venue
        .exchange
        .spawn_market_stream(symbols, market_tx, shutdown.clone());
    let consumer = tokio::spawn({
        let seen = seen.clone();
        async move {
            loop {
                tokio::select! {
                    Some(event) = user_rx.recv() => {
                        let mut seen = lock(&seen);
                        match event {
                            UserEvent::Connected => seen.connected += 1,
                            UserEvent::Disconnected { reason } => seen.disconnected.push(reason),
                            UserEvent::Execution(report) => {
                                if let Some(fill) = report.fill {
                                    *seen.fills.entry((fill.client_order_id, fill.trade_id)).or_default() += 1;
                                }
                            }
                            _ => {}
                        }
                    }
                    Some(event) = market_rx.recv() => {
                        let mut seen = lock(&seen);
                        match event {
                            MarketEvent::Book(BookUpdate::Snapshot(s)) => seen.synced.push(s.venue_symbol),
                            MarketEvent::Book(BookUpdate::OutOfSync { venue_symbol, reason })
                                if seen.synced.contains(&venue_symbol) =>
                            {
                                seen.out_of_sync.push(format!("{venue_symbol}: {reason}"));
                            }
                            _ => {}
                        }
                    }
                    else => return,
                }
            }
        }
    });
    let give_up = Instant::now() + DEADLINE;
    loop {
        {
            let seen = lock(&seen);
            let both = [SYMBOL, OTHER]
                .iter()
                .all(|s| seen.synced.iter().any(|t| t == s));
            if seen.connected == 1 && both {
                break;
            }
        }
        assert!(Instant::now() < give_up, "streams not up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Crossing orders all along the window: each fills at once.
    let tick = btc(&venue.exchange).await.filters.tick_size;
    let mut placed = Vec::new();
    let start = Instant::now();
    let end = start + WINDOW;
    let mut notices = match cause {
        Cause::ServerShutdown(at) => at.to_vec(),
        Cause::MaxAge => Vec::new(),
    };
    let mut n = 0;
    let (_, mut ask) = top_of_book(&venue.exchange).await;
    while Instant::now() < end {
        if notices
            .first()
            .is_some_and(|at| start + *at <= Instant::now())
        {
            notices.remove(0);
            announce_maintenance(&venue.sim, Duration::from_secs(3)).await;
        }
        if n % 8 == 7 {
            ask = top_of_book(&venue.exchange).await.1;
        }
        let id = client_id(&format!("rot{n}"));
        let order = limit(&id, Side::Buy, ask + tick * dec!(20), dec!(0.001));
        let placed_order = ok(venue.exchange.place_order(&order).await, "place");
        let venue_id = placed_order.venue_order_id;
        let fills = ok(venue.exchange.order_fills(SYMBOL, &venue_id).await, "fills");
        if fills.is_empty() {
            // The maker had not quoted again yet; the order must not fill later unseen.
            let _ = venue.exchange.cancel_order(SYMBOL, &id).await;
        }
        placed.extend(fills.into_iter().map(|f| (f.client_order_id, f.trade_id)));
        n += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let give_up = Instant::now() + DEADLINE;
    while !placed.iter().all(|key| lock(&seen).fills.contains_key(key)) {
        assert!(
            Instant::now() < give_up,
            "fills missing from the user stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let health = venue.exchange.health();
    {
        let seen = lock(&seen);
        assert!(seen.out_of_sync.is_empty(), "{:?}", seen.out_of_sync);
        assert!(seen.disconnected.is_empty(), "{:?}", seen.disconnected);
        assert_eq!(
            seen.connected, 1,
            "subscribed once, as far as the consumer knows"
        );
        let twice: Vec<_> = seen.fills.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "fills delivered twice: {twice:?}");
        assert!(placed.len() >= 5, "order flow: {} fills", placed.len());
    }
    for stream in &health.streams {
        let rotations = stream
            .reconnects_total
            .get("rotation")
            .copied()
            .unwrap_or(0);
        assert!(
            rotations >= min_rotations,
            "{} rotated {rotations} times",
            stream.kind
        );
        assert!(stream.connected, "{stream:?}");
    }
    shutdown.cancel();
    consumer.abort();
    venue.sim.shutdown().await;
}

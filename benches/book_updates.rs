//! Book updates: how fast the book keeper applies them, and whether omsd keeps up with the
//! venue's streams end to end.
//!
//! - In process: synthetic depth diffs (10 levels per side each, 1 in 5 a removal) pushed
//!   into the book keeper's queue; updates applied per second on its one task (one core).
//! - End to end: the simulator with 50 symbols; for the same window, depth updates omsd applied
//!   (its `omsd_book_updates_total{reason="delta"}`) next to the depth frames a raw WebSocket
//!   receive loop reads from the same combined stream. Target: omsd >= 0.8x the raw loop.
//!
//! Bounded (200 000 synthetic updates, a 20 s window), loopback only.
//!
//!   cargo bench --bench book_updates

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use exchange_core::{BookDelta, BookSnapshot, BookUpdate, Level, MarketEvent};
use futures_util::StreamExt;
use omsd::market::{MarketData, Recording};
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

const SYNTHETIC: u64 = 200_000;
const WINDOW: Duration = Duration::from_secs(20);
const SYMBOLS: usize = 50;

fn level(price: i64, quantity: i64) -> Level {
    Level::new(Decimal::new(price, 2), Decimal::new(quantity, 4))
}

/// The `n`-th synthetic diff: 10 bid and 10 ask levels near a mid of 300.00.
fn delta(n: u64) -> BookDelta {
    let side = |base: i64, dir: i64| {
        (0..10)
            .map(|k| {
                let price = base + dir * ((n as i64 * 7 + k * 13) % 200);
                let quantity = if (n + k as u64) % 5 == 0 {
                    0
                } else {
                    1 + (n as i64 % 977)
                };
                level(price, quantity)
            })
            .collect()
    };
    BookDelta {
        venue_symbol: "BENCHUSDT".into(),
        first_update_id: n,
        last_update_id: n,
        bids: side(29_999, -1),
        asks: side(30_001, 1),
        event_time_ms: 0,
    }
}

async fn in_process() -> f64 {
    let (market, handle) = MarketData::new(Recording::default());
    let shutdown = CancellationToken::new();
    let keeper = tokio::spawn(market.run(shutdown.clone()));
    let tx = handle.events_tx();
    let snapshot = BookSnapshot {
        venue_symbol: "BENCHUSDT".into(),
        last_update_id: 0,
        bids: (0..200).map(|k| level(29_999 - k, 10_000)).collect(),
        asks: (0..200).map(|k| level(30_001 + k, 10_000)).collect(),
    };
    tx.send((
        "bench".into(),
        MarketEvent::Book(BookUpdate::Snapshot(snapshot)),
    ))
    .await
    .expect("book keeper");
    let started = Instant::now();
    for n in 1..=SYNTHETIC {
        let event = MarketEvent::Book(BookUpdate::Delta(delta(n)));
        tx.send(("bench".into(), event)).await.expect("book keeper");
    }
    for _ in 0..100_000 {
        let status = handle.status("bench").await;
        if status
            .first()
            .is_some_and(|b| b.last_update_id == SYNTHETIC)
        {
            break;
        }
        tokio::task::yield_now().await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    shutdown.cancel();
    let _ = keeper.await;
    SYNTHETIC as f64 / elapsed
}

async fn end_to_end() -> (f64, f64) {
    let (sim_config, symbols) = common::sim_with_symbols(SYMBOLS);
    let metrics_port = common::daemon::free_port();
    let configured = symbols.clone();
    let tweak = move |config: &mut omsd::config::Config| {
        config.venues[0].symbols = configured;
        config.metrics.enabled = true;
        config.metrics.listen = std::net::SocketAddr::from(([127, 0, 0, 1], metrics_port));
    };
    let stack = common::Stack::start_with(common::Backend::Sqlite, sim_config, tweak)
        .await
        .expect("stack");
    // Every book in sync first.
    common::poll(Duration::from_secs(60), || async {
        let (_, venues) = stack.get_json("/v1/venues").await;
        let books = venues[0]["books"].as_array().cloned().unwrap_or_default();
        (books.iter().filter(|b| b["in_sync"] == true).count() == SYMBOLS).then_some(())
    })
    .await
    .expect("50 books in sync");

    let streams: Vec<String> = symbols
        .iter()
        .map(|s| format!("{}@depth@100ms", s.replace('-', "").to_ascii_lowercase()))
        .collect();
    let url = format!(
        "{}/stream?streams={}",
        stack.sim.stream_url(),
        streams.join("/")
    );
    let (mut raw, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("raw stream");
    // Let the raw connection start receiving before the window opens.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let scrape = || async {
        let url = format!("http://127.0.0.1:{metrics_port}/metrics");
        let text = stack
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        common::counter_sum(&text, "omsd_book_updates_total", "reason=\"delta\"")
    };
    let before = scrape().await;
    let deadline = tokio::time::Instant::now() + WINDOW;
    let mut frames = 0u64;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            msg = raw.next() => match msg {
                Some(Ok(m)) if m.is_text() => {
                    if m.to_text().is_ok_and(|t| t.contains("depthUpdate")) {
                        frames += 1;
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    let applied = scrape().await - before;
    let secs = WINDOW.as_secs_f64();
    stack.stop().await;
    (applied / secs, frames as f64 / secs)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let per_core = runtime.block_on(in_process());
    println!("book_updates");
    println!("{:<52} {:>14}", "measure", "updates/s");
    println!(
        "{:<52} {per_core:>14.0}",
        "in process: book keeper, 10+10 levels per diff (1 core)"
    );
    let (omsd, raw) = runtime.block_on(end_to_end());
    println!(
        "{:<52} {omsd:>14.0}",
        "end to end: omsd applied, 50 symbols"
    );
    println!(
        "{:<52} {raw:>14.0}",
        "end to end: raw WebSocket receive loop, same streams"
    );
    let ratio = omsd / raw;
    let verdict = if ratio >= 0.8 { "met" } else { "NOT met" };
    println!(
        "{:<52} {ratio:>14.2}   target >= 0.80: {verdict}",
        "ratio omsd / raw"
    );
}

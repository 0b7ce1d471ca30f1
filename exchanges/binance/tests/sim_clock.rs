//! The venue clock is watched: requests are signed only with a measured, certain offset, and a
//! venue clock step larger than `recvWindow` (either way) is absorbed: orders are accepted
//! again after at most one `-1021`, and the market stream neither reconnects nor loses its
//! books, because event lag is judged against a freshly measured venue clock.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::sim::{SYMBOL, Venue, btc, client_id, limit, top_of_book, venue};
use common::{HttpReply, http_mock};
use exchange_core::{
    BookUpdate, Exchange, ExchangeError, MarketEvent, NewOrder, OrderStatus, OrderType, Side,
    TimeInForce,
};
use exchange_sim::faults::{ClockSkew, FaultSpec};
use rust_decimal_macros::dec;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Book updates and when they arrived.
type Updates = Arc<Mutex<Vec<(Instant, &'static str)>>>;

fn kind(update: &BookUpdate) -> &'static str {
    match update {
        BookUpdate::Snapshot(_) => "snapshot",
        BookUpdate::Delta(_) => "delta",
        BookUpdate::OutOfSync { .. } => "out_of_sync",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits (with a deadline) until `n` deltas arrived after `since`.
async fn deltas_since(updates: &Updates, since: Instant, n: usize, skew_ms: i64) {
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        let count = lock(updates)
            .iter()
            .filter(|(at, k)| *at >= since && *k == "delta")
            .count();
        if count >= n {
            return;
        }
        assert!(Instant::now() < give_up, "{skew_ms}: {count} of {n} deltas");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn resting_buy(venue: &Venue, id: &str) -> NewOrder {
    let tick = btc(&venue.exchange).await.filters.tick_size;
    let (bid, _) = top_of_book(&venue.exchange).await;
    limit(
        id,
        Side::Buy,
        (bid * dec!(0.95) / tick).floor() * tick,
        dec!(0.001),
    )
}

#[tokio::test]
async fn venue_clock_steps_beyond_recv_window_end_in_sync_with_orders_accepted() {
    for skew_ms in [-20_000i64, 20_000] {
        let venue = venue().await;
        // As the daemon does: instruments first, which measures the clock.
        let _ = btc(&venue.exchange).await;
        let recv_window = i64::try_from(venue.exchange.config().recv_window_ms).unwrap_or(0);
        assert!(skew_ms.abs() > recv_window);
        let (tx, mut rx) = mpsc::channel(100_000);
        let shutdown = CancellationToken::new();
        let _task = venue
            .exchange
            .spawn_market_stream(vec![SYMBOL.into()], tx, shutdown.clone());
        let updates: Updates = Arc::default();
        let consumer = tokio::spawn({
            let updates = updates.clone();
            async move {
                while let Some(event) = rx.recv().await {
                    if let MarketEvent::Book(update) = event {
                        lock(&updates).push((Instant::now(), kind(&update)));
                    }
                }
            }
        });
        let give_up = Instant::now() + Duration::from_secs(20);
        while !lock(&updates).iter().any(|(_, k)| *k == "delta") {
            assert!(Instant::now() < give_up, "{skew_ms}: book never synced");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let skew = ClockSkew {
            offset_ms: skew_ms,
            duration_ms: None,
        };
        if let Err(e) = venue.sim.faults().inject(FaultSpec::ClockSkew(skew)) {
            panic!("clock skew: {e}");
        }
        let stepped = Instant::now();
        // Let the stream see a couple of seconds of events stamped on the stepped clock.
        deltas_since(&updates, stepped, 20, skew_ms).await;

        // Orders: at most one -1021, then accepted on the re-measured clock.
        let mut outcomes = Vec::new();
        for attempt in 0..3 {
            let order = resting_buy(&venue, &client_id(&format!("skew{attempt}"))).await;
            let placed = venue.exchange.submit_order(&order).await.result;
            let accepted = matches!(&placed, Ok(o) if o.status == OrderStatus::New);
            outcomes.push(placed.map(|o| o.status).map_err(|e| e.to_string()));
            if accepted {
                break;
            }
        }
        assert!(
            matches!(outcomes.last(), Some(Ok(OrderStatus::New))) && outcomes.len() <= 2,
            "{skew_ms}: {outcomes:?}"
        );
        deltas_since(&updates, Instant::now(), 5, skew_ms).await;

        let health = venue.exchange.health();
        let market = health.streams.iter().find(|s| s.kind == "market");
        let reconnects: u64 = market.map_or(0, |m| m.reconnects_total.values().sum());
        assert_eq!(reconnects, 0, "{skew_ms}: no reconnect loop: {market:?}");
        assert!(health.clock.synced, "{skew_ms}: {:?}", health.clock);
        assert!(
            (health.clock.offset_ms - skew_ms).abs() < 1_000,
            "{skew_ms}: offset {} re-measured",
            health.clock.offset_ms
        );
        let after: Vec<&'static str> = lock(&updates)
            .iter()
            .filter(|(at, _)| *at >= stepped)
            .map(|(_, k)| *k)
            .collect();
        assert!(
            !after.contains(&"out_of_sync") && after.contains(&"delta"),
            "{skew_ms}: the book stayed in sync: {} updates, out of sync: {}",
            after.len(),
            after.iter().filter(|k| **k == "out_of_sync").count()
        );
        shutdown.cancel();
        consumer.abort();
        venue.sim.shutdown().await;
    }
}

#[tokio::test]
async fn nothing_is_signed_while_the_venue_clock_is_unknown() {
    let orders = Arc::new(Mutex::new(0u32));
    let seen = orders.clone();
    let url = http_mock(move |request| {
        if request.path == "/api/v3/order" {
            *lock(&seen) += 1;
        }
        // The venue's clock cannot be read: every request fails.
        HttpReply(503, Vec::new(), "{}".into())
    })
    .await;
    let mut config = common::config(&url, "ws://127.0.0.1:9");
    config.retry.min_delay = Duration::from_millis(5);
    config.retry.max_delay = Duration::from_millis(20);
    let exchange = common::adapter_with(config);
    let order = NewOrder {
        client_order_id: "clock-unknown".into(),
        venue_symbol: SYMBOL.into(),
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        quantity: dec!(0.001),
        price: Some(dec!(100)),
    };
    let placement = exchange.submit_order(&order).await;
    assert!(
        matches!(&placement.result, Err(ExchangeError::Unavailable { message, .. })
            if message.contains("clock")),
        "a clear local refusal, not an unknown outcome: {placement:?}"
    );
    assert_eq!(placement.signed_timestamp_ms, None);
    let query = exchange.query_order(SYMBOL, "clock-unknown").await;
    assert!(
        matches!(query, Err(ExchangeError::Unavailable { .. })),
        "{query:?}"
    );
    assert_eq!(*lock(&orders), 0, "no signed request reached the venue");
    assert!(!exchange.health().clock.synced);
}

//! A flood of requests through the adapter against the real simulator with small venue limits:
//! our limiter must hold it back locally (`Unavailable`) so that the simulator never answers
//! 429 or 418 (DESIGN invariant 7).

use std::sync::Arc;
use std::time::Duration;

mod common;

use exchange_binance::BinanceExchange;
use exchange_core::{Exchange, ExchangeError, NewOrder, OrderType, Side, TimeInForce};
use rust_decimal_macros::dec;

const SYMBOL: &str = "BTCUSDT";

#[tokio::test]
async fn a_flood_never_draws_a_429_from_the_simulator() {
    let mut sim_config = exchange_sim::SimConfig::demo();
    sim_config.limits.request_weight_per_minute = 300;
    sim_config.limits.orders_per_10s = 5;
    let sim = match exchange_sim::start(sim_config).await {
        Ok(sim) => sim,
        Err(e) => panic!("simulator did not start: {e}"),
    };
    let mut config = common::sim_config(&sim);
    config.limiter.data_max_wait = Duration::from_millis(500);
    config.limiter.order_max_wait = Duration::from_millis(500);
    let exchange = match BinanceExchange::new(config) {
        Ok(ex) => Arc::new(ex),
        Err(e) => panic!("adapter: {e}"),
    };
    // exchangeInfo publishes the small limits; the limiter resizes to them.
    let instruments = match exchange.instruments().await {
        Ok(i) => i,
        Err(e) => panic!("instruments: {e}"),
    };
    let weight = exchange.health().limiter.scopes;
    let weight = weight.iter().find(|s| s.scope == "request_weight_1m");
    assert_eq!(
        weight.map(|s| (s.venue_limit, s.effective_limit)),
        Some((300, 240))
    );
    let tick = instruments
        .iter()
        .find(|i| i.venue_symbol == SYMBOL)
        .map(|i| i.filters.tick_size)
        .unwrap_or(dec!(0.01));
    let bid = match exchange.depth_snapshot(SYMBOL, 5).await {
        Ok(depth) => depth.bids.first().map(|l| l.price).unwrap_or(dec!(20000)),
        Err(e) => panic!("depth: {e}"),
    };
    let price = (bid * dec!(0.9) / tick).floor() * tick;

    // 60 snapshots (weight 5 each: 300, the venue's whole minute), 20 order queries
    // (weight 4) and 10 new orders (the venue allows 5 per 10 s), all at once.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let ex = exchange.clone();
        tasks.spawn(async move { ex.depth_snapshot(SYMBOL, 100).await.map(|_| ()) });
    }
    for i in 0..20 {
        let ex = exchange.clone();
        tasks.spawn(async move {
            match ex.query_order(SYMBOL, &format!("flood-missing-{i}")).await {
                Err(ExchangeError::NotFound { .. }) => Ok(()),
                other => other.map(|_| ()),
            }
        });
    }
    let run = std::process::id();
    for i in 0..10 {
        let ex = exchange.clone();
        let order = NewOrder {
            client_order_id: format!("flood-{run}-{i}"),
            venue_symbol: SYMBOL.into(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            quantity: dec!(0.001),
            price: Some(price),
        };
        tasks.spawn(async move { ex.place_order(&order).await.map(|_| ()) });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => ok += 1,
            Ok(Err(ExchangeError::Unavailable { .. })) => refused += 1,
            Ok(Err(e)) => panic!("the venue refused us: {e}"),
            Err(e) => panic!("task: {e}"),
        }
    }
    let stats = sim.stats();
    assert_eq!(
        (stats.rate_limited_total, stats.banned_total),
        (0, 0),
        "{stats:?}"
    );
    assert!(
        ok > 10 && refused > 10,
        "ok {ok}, refused locally {refused}"
    );
    assert!(stats.orders_received <= 4, "{stats:?}");
    let health = exchange.health();
    assert_eq!(health.limiter.throttled_429_total, 0);
    assert!(health.limiter.scopes.iter().any(|s| s.rejected_total > 0));
    sim.shutdown().await;
}

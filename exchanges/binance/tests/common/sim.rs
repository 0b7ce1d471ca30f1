//! The real simulator (`exchange-sim`) with the adapter on its demo account, and the helpers
//! the simulator tests share: unique client order ids, the instrument, the top of the book.

use std::time::Duration;

use exchange_binance::BinanceExchange;
use exchange_core::{Exchange, ExchangeError, Instrument, NewOrder, OrderType, Side, TimeInForce};
use rust_decimal::Decimal;

/// The symbol the tests trade.
pub const SYMBOL: &str = "BTCUSDT";
/// How long a simulator test waits for any one thing.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A running simulator and the adapter on its demo account.
pub struct Venue {
    pub sim: exchange_sim::SimHandle,
    pub exchange: BinanceExchange,
}

/// Starts a fresh simulator (demo configuration) and an adapter for it.
pub async fn venue() -> Venue {
    let sim = match exchange_sim::start(exchange_sim::SimConfig::demo()).await {
        Ok(sim) => sim,
        Err(e) => panic!("simulator did not start: {e}"),
    };
    let config = super::sim_config(&sim);
    let exchange = match BinanceExchange::new(config) {
        Ok(ex) => ex,
        Err(e) => panic!("adapter: {e}"),
    };
    Venue { sim, exchange }
}

/// The value, or a panic naming the call.
pub fn ok<T>(result: Result<T, ExchangeError>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// A client order id unique across tests and runs.
pub fn client_id(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("t-{tag}-{}", nanos % 1_000_000_000_000)
}

/// The BTCUSDT instrument as the venue lists it.
pub async fn btc(exchange: &BinanceExchange) -> Instrument {
    let instruments = ok(exchange.instruments().await, "instruments");
    match instruments.into_iter().find(|i| i.venue_symbol == SYMBOL) {
        Some(i) => i,
        None => panic!("{SYMBOL} not listed"),
    }
}

/// Best bid and ask from REST depth, waiting for the synthetic maker to quote both sides.
pub async fn top_of_book(exchange: &BinanceExchange) -> (Decimal, Decimal) {
    let give_up = tokio::time::Instant::now() + DEADLINE;
    loop {
        let depth = ok(exchange.depth_snapshot(SYMBOL, 20).await, "depth");
        if let (Some(bid), Some(ask)) = (depth.bids.first(), depth.asks.first()) {
            return (bid.price, ask.price);
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "the book stayed empty"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A GTC limit order on [`SYMBOL`].
pub fn limit(id: &str, side: Side, price: Decimal, quantity: Decimal) -> NewOrder {
    NewOrder {
        client_order_id: id.to_owned(),
        venue_symbol: SYMBOL.to_owned(),
        side,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        quantity,
        price: Some(price),
    }
}

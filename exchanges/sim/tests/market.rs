//! The synthetic market over real sockets: many configured symbols all quote deep books and
//! trade, and a price level holds several maker orders of their own sizes, queued ahead of a
//! new order at that level.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use exchange_sim::SymbolConfig;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;

/// Price levels a side must show for a book to count as deep.
const MIN_LEVELS: usize = 5;

fn levels(depth: &Value, side: &str) -> usize {
    depth[side].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn fifty_symbols_all_quote_both_sides_and_trade() {
    let mut config = config();
    config.symbols = (0..50)
        .map(|i| {
            let base = format!("C{i:02}");
            let mid = Decimal::from(10_000 + 1_000 * i);
            SymbolConfig::new(&format!("{base}USDT"), &base, "USDT", mid)
        })
        .collect();
    let names: Vec<String> = config.symbols.iter().map(|s| s.symbol.clone()).collect();
    let (_sim, client) = start(config).await;

    let mut unquoted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut untraded = unquoted.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(unquoted.is_empty() && untraded.is_empty()) {
        assert!(
            Instant::now() < deadline,
            "not quoted on both sides: {unquoted:?}; never traded: {untraded:?}"
        );
        for symbol in unquoted.clone() {
            let depth = client
                .public("/api/v3/depth", &[("symbol", symbol), ("limit", "100")])
                .await;
            let depth = depth.ok();
            if levels(depth, "bids") >= MIN_LEVELS && levels(depth, "asks") >= MIN_LEVELS {
                unquoted.remove(symbol);
            }
        }
        for symbol in untraded.clone() {
            let aggs = client
                .public("/api/v3/aggTrades", &[("symbol", symbol), ("limit", "5")])
                .await;
            if aggs.ok().as_array().is_some_and(|a| !a.is_empty()) {
                untraded.remove(symbol);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A still market with no taker agent and no maker refreshes, so the best bid level changes
/// only through the test's own orders.
fn quiet_config() -> exchange_sim::SimConfig {
    let mut config = calm_config();
    config.market.maker_refresh_per_sec = 0.0;
    for symbol in &mut config.symbols {
        symbol.taker_orders_per_sec = 0.0;
    }
    config
}

async fn order_status(client: &Client, order_id: &str) -> Value {
    client
        .signed(
            reqwest::Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("orderId", order_id)],
        )
        .await
        .ok()
        .clone()
}

#[tokio::test]
async fn new_order_queues_behind_several_makers_of_varied_sizes() {
    let (_sim, client) = start(quiet_config()).await;
    let depth = client
        .public("/api/v3/depth", &[("symbol", "BTCUSDT"), ("limit", "5")])
        .await;
    let level = &depth.ok()["bids"][0];
    let price: Decimal = level[0].as_str().unwrap().parse().unwrap();
    let ahead: Decimal = level[1].as_str().unwrap().parse().unwrap();

    let (price_s, ahead_s) = (price.to_string(), ahead.normalize().to_string());
    let ours = client
        .place(&limit_buy("BTCUSDT", "GTC", "0.001", &price_s))
        .await;
    let ours = ours.ok()["orderId"].to_string();

    // Selling exactly the quantity that rested before ours fills the makers ahead, not us.
    let sell = client
        .place(&[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "MARKET"),
            ("quantity", &ahead_s),
        ])
        .await;
    let sell = sell.ok();
    assert_eq!(sell["status"], "FILLED", "{sell}");
    let fills: Vec<Decimal> = sell["fills"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|f| assert_eq!(f["price"].as_str().unwrap().parse::<Decimal>(), Ok(price)))
        .map(|f| f["qty"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        fills.len() >= 2,
        "several maker orders at one level: {sell}"
    );
    assert!(
        fills.iter().any(|q| *q != fills[0]),
        "maker orders of different sizes: {fills:?}"
    );
    assert_eq!(fills.iter().sum::<Decimal>(), ahead);
    let status = order_status(&client, &ours).await;
    assert_eq!(status["status"], "NEW", "{status}");
    assert_eq!(
        status["executedQty"].as_str().unwrap().parse::<Decimal>(),
        Ok(Decimal::ZERO)
    );

    // Our order is now first at the level: the next sell reaches it (it trades against our
    // own account, so self-trade prevention expires it).
    client
        .place(&[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "MARKET"),
            ("quantity", &dec!(0.001).to_string()),
        ])
        .await
        .ok();
    let status = order_status(&client, &ours).await;
    assert!(
        ["FILLED", "EXPIRED_IN_MATCH"].contains(&status["status"].as_str().unwrap()),
        "{status}"
    );
}

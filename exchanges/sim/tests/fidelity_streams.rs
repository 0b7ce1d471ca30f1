//! Market-stream fidelity over real sockets: one `aggTrade` per taker execution at one price,
//! and the keepalive rule that only a pong carrying the ping's payload counts.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A market with only user orders (no agents), so every trade is the test's own.
fn quiet_config() -> exchange_sim::SimConfig {
    let mut config = config();
    config.market.enabled = false;
    config
}

fn sell<'a>(price: &'a str, quantity: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("symbol", "BTCUSDT"),
        ("side", "SELL"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", quantity),
        ("price", price),
    ]
}

fn decimal(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn one_agg_trade_per_taker_execution_at_one_price() {
    let (sim, client) = start(quiet_config()).await;
    let mut ws = connect(&format!("{}/ws/btcusdt@aggTrade", sim.stream_url())).await;
    for (price, qty) in [("100", "0.1"), ("100", "0.2"), ("101", "0.3")] {
        assert_eq!(client.place(&sell(price, qty)).await.ok()["status"], "NEW");
    }
    let mut buy = limit_buy("BTCUSDT", "IOC", "0.6", "101");
    buy.push(("selfTradePreventionMode", "NONE"));
    let placed = client.place(&buy).await.ok().clone();
    assert_eq!(placed["status"], "FILLED", "{placed}");
    let fills = placed["fills"].as_array().unwrap();
    assert_eq!(fills.len(), 3, "{placed}");
    let trade_id = |i: usize| fills[i]["tradeId"].as_u64().unwrap();

    let first = next_matching(&mut ws, |v| v["e"] == "aggTrade").await;
    assert_eq!(
        (decimal(&first["p"]), decimal(&first["q"])),
        ("100".parse().unwrap(), "0.3".parse().unwrap()),
        "{first}"
    );
    assert_eq!(
        (first["f"].as_u64(), first["l"].as_u64()),
        (Some(trade_id(0)), Some(trade_id(1)))
    );
    let second = next_matching(&mut ws, |v| v["e"] == "aggTrade").await;
    assert_ne!(second["a"], first["a"], "a new aggregate for a new price");
    assert_eq!(
        (decimal(&second["p"]), decimal(&second["q"])),
        ("101".parse().unwrap(), "0.3".parse().unwrap()),
        "{second}"
    );
    assert_eq!(
        (second["f"].as_u64(), second["l"].as_u64()),
        (Some(trade_id(2)), Some(trade_id(2)))
    );
    // The REST list agrees with the stream.
    let listed = client
        .public("/api/v3/aggTrades", &[("symbol", "BTCUSDT")])
        .await;
    let listed = listed.ok().as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["a"], first["a"]);
    assert_eq!(listed[0]["q"], first["q"]);
    sim.shutdown().await;
}

/// Sends pongs that do not carry the server ping's payload, without reading (so the client
/// library never answers a ping itself), then expects the server to time the socket out.
async fn wrong_pongs_do_not_keep_alive(url: &str) {
    let mut ws = connect(url).await;
    for round in 0..40 {
        let payload = if round % 2 == 0 {
            Vec::new()
        } else {
            b"not-the-ping".to_vec()
        };
        // Sends may fail once the server has closed.
        if ws.send(Message::Pong(payload.into())).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    expect_close(&mut ws).await;
}

fn fast_keepalive() -> exchange_sim::SimConfig {
    let mut config = quiet_config();
    config.streams.ping_interval_ms = 100;
    config.streams.pong_timeout_ms = 400;
    config.streams.max_incoming_per_sec = 1000;
    config
}

#[tokio::test]
async fn only_a_pong_with_the_ping_payload_keeps_a_stream_alive() {
    let (sim, _client) = start(fast_keepalive()).await;
    wrong_pongs_do_not_keep_alive(&format!("{}/ws/btcusdt@trade", sim.stream_url())).await;
    wrong_pongs_do_not_keep_alive(&sim.ws_api_url()).await;
    // A client that answers pings (the library echoes the payload) stays connected.
    let mut ws = connect(&format!("{}/ws/btcusdt@trade", sim.stream_url())).await;
    let mut pings = Vec::new();
    let stayed = tokio::time::timeout(Duration::from_millis(1500), async {
        while let Some(Ok(frame)) = ws.next().await {
            match frame {
                Message::Ping(payload) => pings.push(payload),
                Message::Close(_) => return false,
                _ => {}
            }
        }
        false
    })
    .await;
    assert!(stayed.is_err(), "the answering client was disconnected");
    assert!(pings.len() >= 5, "server pings: {pings:?}");
    assert!(
        pings.iter().all(|p| !p.is_empty()),
        "pings carry a payload: {pings:?}"
    );
    sim.shutdown().await;
}

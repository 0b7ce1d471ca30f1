//! Market streams over real sockets: diff-depth contiguity, REST snapshot consistency (the
//! venue's official local-book procedure), trades, live subscriptions, pings and shutdown.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A local order book kept per the venue's procedure.
#[derive(Debug, Default, PartialEq)]
struct LocalBook {
    id: u64,
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

fn levels(value: &Value) -> Vec<(Decimal, Decimal)> {
    let pair = |l: &Value| {
        (
            l[0].as_str().unwrap().parse().unwrap(),
            l[1].as_str().unwrap().parse().unwrap(),
        )
    };
    value.as_array().unwrap().iter().map(pair).collect()
}

impl LocalBook {
    fn from_snapshot(snapshot: &Value) -> Self {
        Self {
            id: snapshot["lastUpdateId"].as_u64().unwrap(),
            bids: levels(&snapshot["bids"]).into_iter().collect(),
            asks: levels(&snapshot["asks"]).into_iter().collect(),
        }
    }

    /// Applies a diff event; panics on a gap, which is exactly what the test must exclude.
    fn apply(&mut self, event: &Value) -> bool {
        let (first, last) = (event["U"].as_u64().unwrap(), event["u"].as_u64().unwrap());
        if last <= self.id {
            return false;
        }
        assert!(
            first <= self.id + 1,
            "gap: book at {} but event starts at {first}",
            self.id
        );
        for (side, key) in [(&mut self.bids, "b"), (&mut self.asks, "a")] {
            for (price, qty) in levels(&event[key]) {
                if qty.is_zero() {
                    side.remove(&price);
                } else {
                    side.insert(price, qty);
                }
            }
        }
        self.id = last;
        true
    }
}

#[tokio::test]
async fn depth_diffs_are_contiguous_and_rebuild_the_rest_snapshot() {
    let (sim, client) = start(config()).await;
    let mut ws = connect(&format!("{}/ws/btcusdt@depth@100ms", sim.stream_url())).await;
    let first = next_json(&mut ws).await;
    assert_eq!(
        (first["e"].as_str(), first["s"].as_str()),
        (Some("depthUpdate"), Some("BTCUSDT"))
    );
    let snapshot = client
        .public("/api/v3/depth", &[("symbol", "BTCUSDT"), ("limit", "5000")])
        .await;
    let mut book = LocalBook::from_snapshot(snapshot.ok());
    assert!(
        book.id >= first["u"].as_u64().unwrap(),
        "snapshot is taken on a published boundary"
    );
    let mut previous_u = first["u"].as_u64().unwrap();
    let mut applied = 0;
    // Make user changes too, so the book moves for reasons other than the agents.
    let (bid, _) = client.best("BTCUSDT").await;
    let price = (bid - dec!(5)).to_string();
    let mut order = limit_buy("BTCUSDT", "GTC", "0.5", &price);
    order.push(("newClientOrderId", "depth-1"));
    client.place(&order).await.ok();
    for _ in 0..15 {
        let event = next_json(&mut ws).await;
        assert_eq!(
            event["U"].as_u64().unwrap(),
            previous_u + 1,
            "contiguous U/u"
        );
        previous_u = event["u"].as_u64().unwrap();
        applied += usize::from(book.apply(&event));
    }
    assert!(applied > 0);
    client
        .signed(
            Method::DELETE,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("origClientOrderId", "depth-1")],
        )
        .await
        .ok();
    let later = client
        .public("/api/v3/depth", &[("symbol", "BTCUSDT"), ("limit", "5000")])
        .await;
    let expected = LocalBook::from_snapshot(later.ok());
    while book.id < expected.id {
        let event = next_json(&mut ws).await;
        assert_eq!(
            event["U"].as_u64().unwrap(),
            previous_u + 1,
            "contiguous U/u"
        );
        previous_u = event["u"].as_u64().unwrap();
        book.apply(&event);
    }
    assert_eq!(
        book, expected,
        "local book equals the REST snapshot at the same update id"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn combined_stream_wraps_trades_and_depth() {
    let (sim, client) = start(calm_config()).await;
    let url = format!(
        "{}/stream?streams=btcusdt@trade/btcusdt@depth@100ms",
        sim.stream_url()
    );
    let mut ws = connect(&url).await;
    let depth = next_matching(&mut ws, |v| v["stream"] == "btcusdt@depth@100ms").await;
    assert_eq!(depth["data"]["e"], "depthUpdate");
    let placed = client.take_best_ask().await;
    let fill = &placed["fills"][0];
    let trade = next_matching(&mut ws, |v| {
        v["stream"] == "btcusdt@trade" && v["data"]["t"] == fill["tradeId"]
    })
    .await;
    let data = &trade["data"];
    assert_eq!(
        (data["e"].as_str(), data["s"].as_str()),
        (Some("trade"), Some("BTCUSDT"))
    );
    assert_eq!((&data["p"], &data["q"]), (&fill["price"], &fill["qty"]));
    assert_eq!(data["m"], false, "the buyer was the taker");
    sim.shutdown().await;
}

#[tokio::test]
async fn live_subscriptions_echo_ids_in_their_json_type() {
    // More than the venue's 5 messages per second; the limit has its own test.
    let mut config = config();
    config.streams.max_incoming_per_sec = 100;
    let (sim, _client) = start(config).await;
    let mut ws = connect(&format!("{}/ws", sim.stream_url())).await;
    send_json(
        &mut ws,
        &json!({"method": "SUBSCRIBE", "params": ["ethusdt@depth@100ms"], "id": 1}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await, json!({"result": null, "id": 1}));
    let uuid = "0b7c9f3e-1d2a-4c1b-9a33-5c2b6f1e7d10";
    send_json(
        &mut ws,
        &json!({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": uuid}),
    )
    .await;
    let reply = next_matching(&mut ws, |v| v.get("id").is_some()).await;
    assert_eq!(reply, json!({"result": null, "id": uuid}));
    send_json(&mut ws, &json!({"method": "LIST_SUBSCRIPTIONS", "id": 3})).await;
    let list = next_matching(&mut ws, |v| v.get("id").is_some()).await;
    assert_eq!(
        list,
        json!({"result": ["ethusdt@depth@100ms", "btcusdt@trade"], "id": 3})
    );
    let event = next_matching(&mut ws, |v| v["e"] == "depthUpdate").await;
    assert_eq!(event["s"], "ETHUSDT", "raw payloads on /ws");
    send_json(
        &mut ws,
        &json!({"method": "UNSUBSCRIBE", "params": ["ethusdt@depth@100ms"], "id": 4}),
    )
    .await;
    assert_eq!(
        next_matching(&mut ws, |v| v.get("id").is_some()).await,
        json!({"result": null, "id": 4})
    );
    send_json(&mut ws, &json!({"method": "NOPE", "id": 5})).await;
    let error = next_matching(&mut ws, |v| v.get("id").is_some()).await;
    assert_eq!(
        (error["error"]["code"].as_i64(), error["id"].as_i64()),
        (Some(2), Some(5))
    );
    ws.send(Message::text("{not json")).await.unwrap();
    let error = next_matching(&mut ws, |v| v.get("error").is_some()).await;
    assert_eq!(error["error"]["code"], 3);
    // `/stream` without a query takes subscriptions too, and wraps payloads.
    let mut combined = connect(&format!("{}/stream", sim.stream_url())).await;
    send_json(
        &mut combined,
        &json!({"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 9}),
    )
    .await;
    assert_eq!(
        next_json(&mut combined).await,
        json!({"result": null, "id": 9})
    );
    let first = next_matching(&mut combined, |v| v["stream"] == "btcusdt@depth").await;
    let second = next_matching(&mut combined, |v| v["stream"] == "btcusdt@depth").await;
    assert_eq!(
        second["data"]["U"].as_u64().unwrap(),
        first["data"]["u"].as_u64().unwrap() + 1,
        "slow stream contiguous"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn server_pings_and_answers_pings() {
    let mut config = config();
    config.streams.ping_interval_ms = 100;
    let (sim, _client) = start(config).await;
    let mut ws = connect(&format!("{}/ws/btcusdt@trade", sim.stream_url())).await;
    ws.send(Message::Ping(b"hello".to_vec().into()))
        .await
        .unwrap();
    let (mut saw_ping, mut saw_pong) = (false, false);
    tokio::time::timeout(DEADLINE, async {
        while !(saw_ping && saw_pong) {
            match ws.next().await {
                Some(Ok(Message::Ping(_))) => saw_ping = true,
                Some(Ok(Message::Pong(payload))) => saw_pong = payload.as_ref() == b"hello",
                Some(Ok(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("server ping and pong");
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_open_streams() {
    let (sim, _client) = start(config()).await;
    let mut ws = connect(&format!("{}/ws/btcusdt@depth@100ms", sim.stream_url())).await;
    next_json(&mut ws).await;
    tokio::time::timeout(DEADLINE, sim.shutdown())
        .await
        .expect("shutdown completes");
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the stream ends on shutdown");
}

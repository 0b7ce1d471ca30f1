//! The statistics streams over a real socket: `@kline_<interval>` for every venue interval,
//! `@ticker`, `@miniTicker` and `@avgPrice`, each consistent with REST after a trade of ours.

mod common;

use common::*;
use serde_json::{Value, json};

const INTERVALS: [&str; 16] = [
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
    "1M",
];

#[tokio::test]
async fn kline_ticker_and_avg_price_streams_carry_the_tape() {
    let (sim, client) = start(calm_config()).await;
    client.take_best_ask().await;
    let mut streams: Vec<String> = INTERVALS
        .iter()
        .map(|i| format!("btcusdt@kline_{i}"))
        .collect();
    streams.extend(["btcusdt@ticker", "btcusdt@miniTicker", "btcusdt@avgPrice"].map(String::from));
    let mut ws = connect(&format!("{}/stream", sim.stream_url())).await;
    let reply = {
        send_json(
            &mut ws,
            &json!({"method": "SUBSCRIBE", "params": streams, "id": 1}),
        )
        .await;
        next_matching(&mut ws, |v| v.get("id").is_some()).await
    };
    assert_eq!(reply["result"], Value::Null);

    let mut seen = std::collections::HashMap::new();
    tokio::time::timeout(DEADLINE, async {
        while seen.len() < streams.len() {
            let frame = next_matching(&mut ws, |v| v.get("stream").is_some()).await;
            seen.insert(
                frame["stream"].as_str().unwrap().to_owned(),
                frame["data"].clone(),
            );
        }
    })
    .await
    .expect("every statistics stream publishes");

    let rest_1m = client
        .public(
            "/api/v3/klines",
            &[("symbol", "BTCUSDT"), ("interval", "1m"), ("limit", "1")],
        )
        .await;
    let rest_1m = rest_1m.ok()[0].clone();
    for interval in INTERVALS {
        let event = &seen[&format!("btcusdt@kline_{interval}")];
        assert_eq!(event["e"], "kline", "{event}");
        assert_eq!(event["s"], "BTCUSDT");
        let k = &event["k"];
        assert_eq!(k["i"], interval);
        assert_eq!(k["x"], false);
        assert!(k["t"].as_i64().unwrap() <= k["T"].as_i64().unwrap());
        for key in ["o", "c", "h", "l", "v", "q", "V", "Q"] {
            assert!(k[key].is_string(), "{key} in {k}");
        }
    }
    let minute = &seen["btcusdt@kline_1m"]["k"];
    if minute["t"] == rest_1m[0] {
        assert_eq!(minute["o"], rest_1m[1]);
    }
    assert!(minute["n"].as_u64().unwrap() >= 1, "{minute}");

    let rest = client
        .public("/api/v3/ticker/24hr", &[("symbol", "BTCUSDT")])
        .await;
    let ticker = &seen["btcusdt@ticker"];
    assert_eq!(ticker["e"], "24hrTicker");
    for (short, long) in [("o", "openPrice"), ("F", "firstId"), ("c", "lastPrice")] {
        assert_eq!(
            ticker[short].is_string(),
            rest.body[long].is_string(),
            "{short}"
        );
    }
    assert!(ticker["n"].as_u64().unwrap() >= 1);
    for key in [
        "p", "P", "w", "x", "Q", "b", "B", "a", "A", "h", "l", "v", "q", "O", "C", "L",
    ] {
        assert!(ticker.get(key).is_some(), "{key} in {ticker}");
    }
    let mini = &seen["btcusdt@miniTicker"];
    assert_eq!(mini["e"], "24hrMiniTicker");
    let mut keys: Vec<&str> = mini
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["E", "c", "e", "h", "l", "o", "q", "s", "v"]);
    let avg = &seen["btcusdt@avgPrice"];
    assert_eq!(
        (avg["e"].clone(), avg["i"].clone()),
        (json!("avgPrice"), json!("5m"))
    );
    let rest_avg = client
        .public("/api/v3/avgPrice", &[("symbol", "BTCUSDT")])
        .await;
    assert!(avg["w"].is_string() && rest_avg.ok()["price"].is_string());
    assert!(avg["T"].as_i64().unwrap() > 0);
    sim.shutdown().await;
}

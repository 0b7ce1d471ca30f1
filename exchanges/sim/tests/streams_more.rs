//! More market streams over real sockets: aggTrade, bookTicker and partial depth payloads, a
//! listenKey as a SUBSCRIBE stream name, the incoming-message limit, the maximum connection
//! age, and malformed control messages that get error replies, not a dropped socket.

mod common;

use common::*;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::json;

#[tokio::test]
async fn agg_trade_book_ticker_and_partial_depth() {
    let (sim, client) = start(calm_config()).await;
    let url = format!(
        "{}/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker/btcusdt@depth5@100ms/btcusdt@depth10",
        sim.stream_url()
    );
    let mut ws = connect(&url).await;
    let depth = next_matching(&mut ws, |v| v["stream"] == "btcusdt@depth5@100ms").await;
    let data = &depth["data"];
    assert_eq!(data["bids"].as_array().unwrap().len(), 5);
    assert!(data.get("e").is_none() && data["lastUpdateId"].as_u64().unwrap() > 0);
    let ten = next_matching(&mut ws, |v| v["stream"] == "btcusdt@depth10").await;
    assert_eq!(ten["data"]["asks"].as_array().unwrap().len(), 10);
    // Take the whole best ask level: one aggTrade, and the book ticker moves.
    let placed = client.take_best_ask().await;
    let first = placed["fills"][0]["tradeId"].as_u64().unwrap();
    let agg = next_matching(&mut ws, |v| {
        v["stream"] == "btcusdt@aggTrade"
            && v["data"]["f"].as_u64() <= Some(first)
            && v["data"]["l"].as_u64() >= Some(first)
    })
    .await;
    let agg = &agg["data"];
    assert_eq!(
        (agg["e"].as_str(), agg["s"].as_str(), agg["m"].as_bool()),
        (Some("aggTrade"), Some("BTCUSDT"), Some(false))
    );
    let ticker = next_matching(&mut ws, |v| v["stream"] == "btcusdt@bookTicker").await;
    let ticker = &ticker["data"];
    let bid: Decimal = ticker["b"].as_str().unwrap().parse().unwrap();
    let ask: Decimal = ticker["a"].as_str().unwrap().parse().unwrap();
    assert!(bid < ask, "{ticker}");
    assert!(ticker["u"].as_u64().unwrap() > 0 && ticker.get("e").is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn listen_key_as_a_subscribe_stream_name() {
    let (sim, client) = start(calm_config()).await;
    let created = client.listen_key_request(Method::POST, "").await;
    let key = created.ok()["listenKey"].as_str().unwrap().to_owned();
    let mut ws = connect(&format!("{}/stream", sim.stream_url())).await;
    send_json(
        &mut ws,
        &json!({"method": "SUBSCRIBE", "params": [key], "id": 1}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await, json!({"result": null, "id": 1}));
    let order = limit_buy("ETHUSDT", "GTC", "0.01", "1000");
    client.place(&order).await.ok();
    let event = next_matching(&mut ws, |v| v["data"]["e"] == "executionReport").await;
    assert_eq!(event["stream"], key.as_str());
    assert_eq!(event["data"]["X"], "NEW");
    sim.shutdown().await;
}

#[tokio::test]
async fn more_than_five_messages_a_second_disconnect() {
    let (sim, _client) = start(config()).await;
    let mut ws = connect(&format!("{}/ws", sim.stream_url())).await;
    for id in 0..5 {
        send_json(&mut ws, &json!({"method": "LIST_SUBSCRIPTIONS", "id": id})).await;
    }
    for id in 0..5 {
        assert_eq!(next_json(&mut ws).await["id"], id);
    }
    for id in 5..8 {
        // Sends may fail once the server has closed.
        let _ = futures_util::SinkExt::send(
            &mut ws,
            tokio_tungstenite::tungstenite::Message::text(
                json!({"method": "LIST_SUBSCRIPTIONS", "id": id}).to_string(),
            ),
        )
        .await;
    }
    expect_close(&mut ws).await;
    let stats = _client.public("/_sim/stats", &[]).await.ok().clone();
    assert!(stats["ws_limit_closes_total"].as_u64().unwrap() >= 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn connections_close_at_their_maximum_age() {
    let mut config = config();
    config.streams.max_connection_age_ms = 300;
    let (sim, _client) = start(config).await;
    let mut stream = connect(&format!("{}/ws/btcusdt@depth", sim.stream_url())).await;
    let mut api = connect(&sim.ws_api_url()).await;
    expect_close(&mut stream).await;
    expect_close(&mut api).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_control_messages_get_errors_not_a_dropped_socket() {
    let mut config = config();
    config.streams.max_incoming_per_sec = 100;
    let (sim, _client) = start(config).await;
    let mut ws = connect(&format!("{}/ws", sim.stream_url())).await;
    let cases = [
        ("{", 3),
        ("null", 2),
        (
            r#"{"method":"SUBSCRIBE","params":["BTCUSDT@trade"],"id":1}"#,
            2,
        ),
        (r#"{"method":"SUBSCRIBE","params":[1],"id":1}"#, 2),
        (r#"{"method":"SUBSCRIBE","params":{"a":1},"id":1}"#, 2),
        (
            r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1.5}"#,
            2,
        ),
        (
            r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":"has space"}"#,
            2,
        ),
        (r#"{"method":7,"id":1}"#, 2),
        (
            r#"{"method":"SET_PROPERTY","params":["combined","yes"],"id":1}"#,
            1,
        ),
        (
            r#"{"method":"SET_PROPERTY","params":["colour",true],"id":1}"#,
            0,
        ),
    ];
    for (frame, code) in cases {
        ws.send_text(frame).await;
        let reply = next_json(&mut ws).await;
        assert_eq!(reply["error"]["code"], code, "{frame}: {reply}");
    }
    let too_many: Vec<String> = (0..1025).map(|i| format!("s{i}usdt@trade")).collect();
    send_json(
        &mut ws,
        &json!({"method": "SUBSCRIBE", "params": too_many, "id": 2}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["error"]["code"], 2);
    send_json(&mut ws, &json!({"method": "LIST_SUBSCRIPTIONS", "id": 3})).await;
    assert_eq!(next_json(&mut ws).await, json!({"result": [], "id": 3}));
    sim.shutdown().await;
}

//! WebSocket API order and market methods over real sockets: the envelope, signatures over
//! sorted params, the same errors as REST, `returnRateLimits=false`, and malformed frames that
//! get an error response instead of a dropped connection.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn order_methods_place_query_list_and_cancel() {
    let (sim, client) = start(calm_config()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    let sign = |params: Value| sign_ws(params, &client.key, &client.secret);
    let order = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                       "quantity": "0.001", "price": "20000", "newClientOrderId": "ws-place-1"});
    let placed = ws_request(&mut ws, json!("p1"), "order.place", sign(order.clone())).await;
    assert_eq!(placed["status"], 200, "{placed}");
    assert_eq!(placed["result"]["status"], "NEW");
    assert_eq!(placed["result"]["selfTradePreventionMode"], "EXPIRE_MAKER");
    let order_id = placed["result"]["orderId"].clone();
    let duplicate = ws_request(&mut ws, json!("p2"), "order.place", sign(order)).await;
    assert_eq!(
        (
            duplicate["status"].clone(),
            duplicate["error"]["code"].clone()
        ),
        (json!(400), json!(-2010))
    );
    assert_eq!(duplicate["error"]["msg"], "Duplicate order sent.");

    let status = ws_request(
        &mut ws,
        json!(3),
        "order.status",
        sign(json!({"symbol": "BTCUSDT", "origClientOrderId": "ws-place-1"})),
    )
    .await;
    assert_eq!(status["result"]["orderId"], order_id);
    let open = ws_request(
        &mut ws,
        json!(4),
        "openOrders.status",
        sign(json!({"symbol": "BTCUSDT"})),
    )
    .await;
    assert_eq!(open["result"].as_array().unwrap().len(), 1);
    let canceled = ws_request(
        &mut ws,
        json!(5),
        "order.cancel",
        sign(json!({"symbol": "BTCUSDT", "orderId": order_id})),
    )
    .await;
    assert_eq!(canceled["result"]["status"], "CANCELED");
    let none = ws_request(
        &mut ws,
        json!(6),
        "openOrders.cancelAll",
        sign(json!({"symbol": "BTCUSDT"})),
    )
    .await;
    assert_eq!(
        (none["status"].clone(), none["error"]["msg"].clone()),
        (json!(400), json!("Unknown order sent."))
    );
    let account = ws_request(
        &mut ws,
        json!(7),
        "account.status",
        sign(json!({"omitZeroBalances": true})),
    )
    .await;
    assert!(
        account["result"]["balances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["asset"] == "USDT")
    );

    let info = ws_request(
        &mut ws,
        json!(8),
        "exchangeInfo",
        json!({"symbol": "ETHUSDT"}),
    )
    .await;
    let symbol = &info["result"]["symbols"][0];
    assert_eq!(symbol["symbol"], "ETHUSDT");
    assert_eq!(
        symbol["allowedSelfTradePreventionModes"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let depth = ws_request(
        &mut ws,
        json!(9),
        "depth",
        json!({"symbol": "BTCUSDT", "limit": 5}),
    )
    .await;
    assert!(depth["result"]["lastUpdateId"].as_u64().unwrap() > 0);
    assert_eq!(depth["result"]["bids"].as_array().unwrap().len(), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limits_can_be_turned_off_and_errors_never_drop_the_socket() {
    let (sim, client) = start(config()).await;
    let mut ws = connect(&format!("{}?returnRateLimits=false", sim.ws_api_url())).await;
    let reply = ws_request(&mut ws, json!(1), "ping", json!({})).await;
    assert_eq!(reply, json!({"id": 1, "status": 200, "result": {}}));
    let reply = ws_request(&mut ws, json!(2), "time", json!({"returnRateLimits": true})).await;
    assert!(reply.get("rateLimits").is_some(), "per-request override");

    let mut bad_signature = sign_ws(json!({"symbol": "BTCUSDT"}), &client.key, &client.secret);
    bad_signature["symbol"] = json!("ETHUSDT");
    let mut wrong_key = sign_ws(json!({"symbol": "BTCUSDT"}), &client.key, &client.secret);
    wrong_key["apiKey"] = json!("unknown-key");
    let cases = [
        ("order.status", bad_signature, 400, -1022),
        ("order.status", wrong_key, 401, -2015),
        ("order.status", json!({"symbol": "BTCUSDT"}), 400, -1102),
        (
            "order.place",
            sign_ws(
                json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT"}),
                &client.key,
                &client.secret,
            ),
            400,
            -1102,
        ),
        (
            "order.place",
            sign_ws(
                json!({"symbol": "NOPE", "side": "BUY", "type": "MARKET", "quantity": "1"}),
                &client.key,
                &client.secret,
            ),
            400,
            -1121,
        ),
        (
            "depth",
            json!({"symbol": "BTCUSDT", "limit": "x"}),
            400,
            -1100,
        ),
        ("no.such.method", json!({}), 400, -1020),
    ];
    for (index, (method, params, status, code)) in cases.into_iter().enumerate() {
        let reply = ws_request(&mut ws, json!(100 + index), method, params).await;
        assert_eq!(
            (reply["status"].clone(), reply["error"]["code"].clone()),
            (json!(status), json!(code)),
            "{method}: {reply}"
        );
    }
    let frames = [
        "{not json",
        "[]",
        "42",
        r#"{"id":{},"method":"ping"}"#,
        r#"{"id":1}"#,
        r#"{"id":2,"method":"ping","params":[1]}"#,
    ];
    for frame in frames {
        ws.send_text(frame).await;
        let reply = next_matching(&mut ws, |v| v.get("status").is_some()).await;
        assert_eq!(reply["status"], 400, "{frame}: {reply}");
        assert!(
            reply["error"]["code"].as_i64().unwrap() < 0,
            "{frame}: {reply}"
        );
    }
    let alive = ws_request(&mut ws, json!("still-here"), "ping", json!({})).await;
    assert_eq!(alive["status"], 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn server_shutdown_event_on_graceful_shutdown() {
    let (sim, _client) = start(config()).await;
    let mut api = connect(&sim.ws_api_url()).await;
    ws_request(&mut api, json!(1), "ping", json!({})).await;
    let mut raw = connect(&format!("{}/ws/btcusdt@trade", sim.stream_url())).await;
    let mut combined = connect(&format!(
        "{}/stream?streams=btcusdt@trade",
        sim.stream_url()
    ))
    .await;
    // Make sure both stream sessions run before shutting down.
    for ws in [&mut raw, &mut combined] {
        send_json(ws, &json!({"method": "LIST_SUBSCRIPTIONS", "id": 1})).await;
        next_matching(ws, |v| v["id"] == 1).await;
    }
    let shutdown = tokio::spawn(sim.shutdown());
    let event = next_matching(&mut api, |v| v.get("event").is_some()).await;
    assert_eq!(event["event"]["e"], "serverShutdown");
    let event = next_matching(&mut raw, |v| v["e"] == "serverShutdown").await;
    assert!(event["E"].as_i64().unwrap() > 0);
    let event = next_matching(&mut combined, |v| v["stream"] == "!serverShutdown").await;
    assert_eq!(event["data"]["e"], "serverShutdown");
    shutdown.await.unwrap();
}

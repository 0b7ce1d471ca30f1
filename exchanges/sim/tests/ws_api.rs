//! WebSocket API over real sockets: request/response envelope, `userDataStream.subscribe.signature`
//! and the user events (executionReport, outboundAccountPosition) of the account's orders.

mod common;

use common::*;
use reqwest::Method;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

/// `apiKey`, `recvWindow` and `timestamp`, signed the way clients do.
fn signed_params(key: &str, secret: &str) -> Value {
    sign_ws(json!({ "recvWindow": 10000 }), key, secret)
}

fn is_event(value: &Value, kind: &str) -> bool {
    value["subscriptionId"] == 0 && value["event"]["e"] == kind
}

#[tokio::test]
async fn user_stream_reports_fills_and_cancels() {
    let (sim, client) = start(calm_config()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    let reply = ws_request(
        &mut ws,
        json!("sub-1"),
        "userDataStream.subscribe.signature",
        signed_params(&client.key, &client.secret),
    )
    .await;
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(reply["result"], json!({ "subscriptionId": 0 }));
    assert_eq!(reply["rateLimits"][0]["rateLimitType"], "REQUEST_WEIGHT");
    assert!(reply["rateLimits"][0]["count"].as_u64().unwrap() >= 2);

    let (_, ask) = client.best("BTCUSDT").await;
    let price = (ask + dec!(0.05)).to_string();
    let mut order = limit_buy("BTCUSDT", "GTC", "0.001", &price);
    order.push(("newClientOrderId", "ws-fill-1"));
    let placed = client.place(&order).await.ok().clone();
    assert_eq!(placed["status"], "FILLED");
    let new = next_matching(&mut ws, |v| is_event(v, "executionReport")).await;
    let new = &new["event"];
    assert_eq!(
        (
            new["x"].as_str(),
            new["X"].as_str(),
            new["c"].as_str(),
            new["C"].as_str()
        ),
        (Some("NEW"), Some("NEW"), Some("ws-fill-1"), Some(""))
    );
    assert_eq!(
        (
            new["s"].as_str(),
            new["S"].as_str(),
            new["o"].as_str(),
            new["f"].as_str()
        ),
        (Some("BTCUSDT"), Some("BUY"), Some("LIMIT"), Some("GTC"))
    );
    assert_eq!(
        (&new["i"], new["t"].as_i64(), new["N"].is_null()),
        (&placed["orderId"], Some(-1), true)
    );
    assert_eq!(new["q"], "0.00100000");
    let mut filled = dec!(0);
    for fill in placed["fills"].as_array().unwrap() {
        let trade = next_matching(&mut ws, |v| is_event(v, "executionReport")).await;
        let trade = &trade["event"];
        assert_eq!(trade["x"], "TRADE");
        assert_eq!(
            (&trade["t"], &trade["L"], &trade["l"], &trade["n"]),
            (
                &fill["tradeId"],
                &fill["price"],
                &fill["qty"],
                &fill["commission"]
            )
        );
        assert_eq!(
            (trade["N"].as_str(), trade["m"].as_bool()),
            (Some("BTC"), Some(false))
        );
        filled += trade["l"]
            .as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap();
        assert_eq!(trade["z"], format!("{filled:.8}"));
    }
    let position = next_matching(&mut ws, |v| v["subscriptionId"] == 0).await;
    assert_eq!(
        position["event"]["e"], "outboundAccountPosition",
        "{position}"
    );
    let assets: Vec<&str> = position["event"]["B"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["a"].as_str().unwrap())
        .collect();
    assert!(
        assets.contains(&"BTC") && assets.contains(&"USDT"),
        "{assets:?}"
    );

    let (bid, _) = client.best("BTCUSDT").await;
    let price = (bid - dec!(1000)).to_string();
    let mut order = limit_buy("BTCUSDT", "GTC", "0.001", &price);
    order.push(("newClientOrderId", "ws-rest-1"));
    client.place(&order).await.ok();
    let cancel = [
        ("symbol", "BTCUSDT"),
        ("origClientOrderId", "ws-rest-1"),
        ("newClientOrderId", "ws-cancel-1"),
    ];
    client
        .signed(Method::DELETE, "/api/v3/order", &cancel)
        .await
        .ok();
    let canceled = next_matching(&mut ws, |v| {
        is_event(v, "executionReport") && v["event"]["x"] == "CANCELED"
    })
    .await;
    let canceled = &canceled["event"];
    assert_eq!(
        (
            canceled["X"].as_str(),
            canceled["c"].as_str(),
            canceled["C"].as_str()
        ),
        (Some("CANCELED"), Some("ws-cancel-1"), Some("ws-rest-1"))
    );
    let after = next_matching(&mut ws, |v| v["subscriptionId"] == 0).await;
    assert_eq!(after["event"]["e"], "outboundAccountPosition");
    let balances = after["event"]["B"].as_array().unwrap();
    assert_eq!(balances.len(), 1, "only the released asset changed");
    assert_eq!(
        (balances[0]["a"].as_str(), balances[0]["l"].as_str()),
        (Some("USDT"), Some("0.00000000"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn envelope_methods_and_errors() {
    let (sim, client) = start(config()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    let ping = ws_request(&mut ws, json!(1), "ping", json!({})).await;
    assert_eq!(
        (ping["status"].as_u64(), &ping["result"]),
        (Some(200), &json!({}))
    );
    let time = ws_request(&mut ws, json!("t"), "v3/time", Value::Null).await;
    assert!((time["result"]["serverTime"].as_i64().unwrap() - now_ms()).abs() < 5000);
    let mut bad = signed_params(&client.key, &client.secret);
    bad["signature"] = json!(hmac_hex("wrong", "x"));
    let reply = ws_request(&mut ws, json!(2), "userDataStream.subscribe.signature", bad).await;
    assert_eq!(
        (reply["status"].as_u64(), reply["error"]["code"].as_i64()),
        (Some(400), Some(-1022))
    );
    let stranger = signed_params("stranger-key", &client.secret);
    let reply = ws_request(
        &mut ws,
        json!(3),
        "userDataStream.subscribe.signature",
        stranger,
    )
    .await;
    assert_eq!(
        (reply["status"].as_u64(), reply["error"]["code"].as_i64()),
        (Some(401), Some(-2015))
    );
    let reply = ws_request(
        &mut ws,
        json!(4),
        "userDataStream.subscribe.signature",
        json!({ "apiKey": client.key }),
    )
    .await;
    assert_eq!(reply["error"]["code"], -1102);
    let good = signed_params(&client.key, &client.secret);
    assert_eq!(
        ws_request(
            &mut ws,
            json!(5),
            "userDataStream.subscribe.signature",
            good.clone()
        )
        .await["status"],
        200
    );
    let again = ws_request(
        &mut ws,
        json!(6),
        "userDataStream.subscribe.signature",
        good,
    )
    .await;
    assert_eq!(
        again["error"],
        json!({"code": -2035, "msg": "User Data Stream subscription already active."})
    );
    let list = ws_request(&mut ws, json!(7), "session.subscriptions", json!({})).await;
    assert_eq!(list["result"], json!([{ "subscriptionId": 0 }]));
    let unknown = ws_request(&mut ws, json!(8), "order.teleport", json!({})).await;
    assert_eq!(unknown["status"], 400);
    let reply = ws_request(
        &mut ws,
        json!(9),
        "userDataStream.unsubscribe",
        json!({ "subscriptionId": 0 }),
    )
    .await;
    assert_eq!(reply["result"], json!({}));
    let terminated = next_matching(&mut ws, |v| v.get("event").is_some()).await;
    assert_eq!(
        (
            terminated["subscriptionId"].as_u64(),
            terminated["event"]["e"].as_str()
        ),
        (Some(0), Some("eventStreamTerminated"))
    );
    let reply = ws_request(
        &mut ws,
        json!(10),
        "userDataStream.unsubscribe",
        json!({ "subscriptionId": 0 }),
    )
    .await;
    assert_eq!(reply["error"]["code"], -2036);
    send_json(&mut ws, &json!("just a string")).await;
    let invalid = next_matching(&mut ws, |v| v.get("status").is_some()).await;
    assert_eq!(
        (invalid["id"].is_null(), invalid["status"].as_u64()),
        (true, Some(400))
    );
    sim.shutdown().await;
}

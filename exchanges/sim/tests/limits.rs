//! Venue rate limits over real sockets: REQUEST_WEIGHT 429 with `Retry-After`, the 418 ban for
//! clients that keep going, ORDERS (-1015) with the order-count headers, and the WebSocket API's
//! statuses and `rateLimits`. Limits are configured small and bans short.

mod common;

use common::*;
use exchange_sim::SimConfig;
use reqwest::Method;
use serde_json::{Value, json};

fn limited() -> SimConfig {
    let mut config = calm_config();
    config.limits.request_weight_per_minute = 100;
    config.limits.ban_after_rejections = 3;
    config.limits.ban_initial_ms = 1_000;
    config.limits.orders_per_10s = 3;
    config
}

const WEIGHT_MSG: &str = "Too much request weight used; current limit is 100 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.";

#[tokio::test]
async fn weight_limit_then_ban() {
    let (sim, client) = start(limited()).await;
    // exchangeInfo weighs 20: the sixth request in a minute is refused (a minute boundary in
    // between only delays that, hence the bounded loops).
    let mut first_429 = None;
    for _ in 0..30 {
        let reply = client.public("/api/v3/exchangeInfo", &[]).await;
        if reply.status.as_u16() == 429 {
            first_429 = Some(reply);
            break;
        }
        assert_eq!(reply.status.as_u16(), 200, "{reply:?}");
    }
    let limited = first_429.expect("a 429 once the weight is used up");
    limited.expect_error(429, -1003, WEIGHT_MSG);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(used_weight(&limited) >= 100);
    // Keep sending while limited: banned.
    let mut banned = None;
    for _ in 0..10 {
        let reply = client.public("/api/v3/ping", &[]).await;
        if reply.status.as_u16() == 418 {
            banned = Some(reply);
            break;
        }
    }
    let banned = banned.expect("a 418 after repeated 429s");
    assert_eq!(banned.body["code"], -1003);
    let msg = banned.body["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("Way too much request weight used; IP banned until "),
        "{msg}"
    );
    assert!(msg.ends_with(". Please use WebSocket Streams for live updates to avoid bans."));
    assert_eq!(banned.headers["retry-after"], "1");
    let stats: Value = client.public("/_sim/stats", &[]).await.ok().clone();
    assert!(stats["banned_total"].as_u64().unwrap() >= 1, "{stats}");
    assert!(
        stats["rate_limited_total"].as_u64().unwrap() >= 3,
        "{stats}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn orders_limit_is_per_account_with_count_headers() {
    let (sim, client) = start(limited()).await;
    let order = limit_buy("BTCUSDT", "GTC", "0.001", "20000");
    let mut counts = Vec::new();
    let mut refused = None;
    for _ in 0..8 {
        let reply = client.place(&order).await;
        let count = reply.headers["x-mbx-order-count-10s"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(reply.headers.contains_key("x-mbx-order-count-1d"));
        if reply.status.as_u16() == 429 {
            refused = Some(reply);
            break;
        }
        counts.push(count);
    }
    let refused = refused.expect("the ORDERS limit refuses an order");
    refused.expect_error(
        429,
        -1015,
        "Too many new orders; current limit is 3 orders per 10 SECOND.",
    );
    assert!(refused.headers.contains_key("retry-after"));
    assert_eq!(counts.last().map(String::as_str), Some("3"), "{counts:?}");
    // Queries are not orders.
    client
        .signed(Method::GET, "/api/v3/openOrders", &[("symbol", "BTCUSDT")])
        .await
        .ok();
    sim.shutdown().await;
}

#[tokio::test]
async fn ws_api_reports_and_enforces_the_same_limits() {
    let (sim, client) = start(limited()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    let reply = ws_request(&mut ws, json!(1), "time", json!({})).await;
    let limits = reply["rateLimits"].as_array().unwrap();
    assert_eq!(limits.len(), 1);
    assert_eq!(limits[0]["limit"], 100);
    assert!(
        limits[0]["count"].as_u64().unwrap() >= 3,
        "connect 2 + time 1"
    );
    let order = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                       "quantity": "0.001", "price": "20000"});
    let placed = ws_request(
        &mut ws,
        json!(2),
        "order.place",
        sign_ws(order, &client.key, &client.secret),
    )
    .await;
    assert_eq!(placed["status"], 200, "{placed}");
    let kinds: Vec<_> = placed["rateLimits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rateLimitType"].clone())
        .collect();
    assert_eq!(
        kinds,
        vec![json!("REQUEST_WEIGHT"), json!("ORDERS"), json!("ORDERS")]
    );
    assert_eq!(placed["rateLimits"][1]["count"], 1);
    let mut refused = None;
    for id in 10..60 {
        let reply = ws_request(&mut ws, json!(id), "exchangeInfo", json!({})).await;
        if reply["status"] != 200 {
            refused = Some(reply);
            break;
        }
    }
    let refused = refused.expect("the WebSocket API refuses once the weight is used up");
    assert_eq!(refused["status"], 429, "{refused}");
    assert_eq!(refused["error"]["code"], -1003);
    let retry_after = refused["error"]["data"]["retryAfter"].as_i64().unwrap();
    assert!(retry_after > now_ms(), "retryAfter is a future epoch ms");
    let mut status = refused["status"].clone();
    // Refused requests count towards a ban (a light one would still fit in the minute).
    for id in 100..110 {
        status = ws_request(&mut ws, json!(id), "exchangeInfo", json!({})).await["status"].clone();
        if status == 418 {
            break;
        }
    }
    assert_eq!(status, 418, "banned on the WebSocket API too");
    sim.shutdown().await;
}

//! WebSocket API fidelity over real sockets: `returnRateLimits` as an ordinary signed param,
//! zero weight for successful cancels, the forced 429 / 418 faults in the WS API's shape, and
//! the `latency` fault on WS API answers, and heavy requests that would overshoot the weight
//! limit refused before they run.

mod common;
mod faults_common;

use common::*;
use faults_common::inject;
use serde_json::{Value, json};

fn weight_count(reply: &Value) -> u64 {
    reply["rateLimits"][0]["count"].as_u64().unwrap()
}

#[tokio::test]
async fn return_rate_limits_is_a_signed_param() {
    let (sim, client) = start(calm_config()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    for (id, show) in [(1, false), (2, true)] {
        let params = sign_ws(
            json!({ "returnRateLimits": show }),
            &client.key,
            &client.secret,
        );
        let reply = ws_request(&mut ws, json!(id), "account.status", params).await;
        assert_eq!(reply["status"], 200, "{reply}");
        assert_eq!(reply.get("rateLimits").is_some(), show, "{reply}");
    }
    let params = sign_ws(
        json!({
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.001", "price": "10000", "returnRateLimits": false,
        }),
        &client.key,
        &client.secret,
    );
    let reply = ws_request(&mut ws, json!(3), "order.place", params).await;
    assert_eq!(reply["status"], 200, "{reply}");
    assert!(reply.get("rateLimits").is_none(), "{reply}");
    sim.shutdown().await;
}

#[tokio::test]
async fn successful_ws_cancels_weigh_nothing() {
    let (sim, client) = start(calm_config()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    let order = json!({
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
        "quantity": "0.001", "price": "10000", "newClientOrderId": "zero-weight",
    });
    let placed = ws_request(
        &mut ws,
        json!(1),
        "order.place",
        sign_ws(order, &client.key, &client.secret),
    )
    .await;
    assert_eq!(placed["status"], 200, "{placed}");
    let cancel = json!({ "symbol": "BTCUSDT", "origClientOrderId": "zero-weight" });
    let canceled = ws_request(
        &mut ws,
        json!(2),
        "order.cancel",
        sign_ws(cancel.clone(), &client.key, &client.secret),
    )
    .await;
    assert_eq!(canceled["status"], 200, "{canceled}");
    // A minute boundary in between only lowers the count.
    assert!(
        weight_count(&canceled) <= weight_count(&placed),
        "{placed} then {canceled}"
    );
    let failed = ws_request(
        &mut ws,
        json!(3),
        "order.cancel",
        sign_ws(cancel, &client.key, &client.secret),
    )
    .await;
    assert_eq!(failed["error"]["code"], -2011, "{failed}");
    assert!(weight_count(&failed) >= 1, "failed cancels are charged");
    sim.shutdown().await;
}

#[tokio::test]
async fn forced_429_and_418_apply_to_the_ws_api() {
    let (sim, client) = start(calm_config()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    for (fault, status) in [("force_429", 429), ("force_418", 418)] {
        let id = inject(
            &client,
            json!({ "fault": fault, "params": { "retry_after_s": 30 } }),
        )
        .await;
        let reply = ws_request(&mut ws, json!(fault), "ping", json!({})).await;
        assert_eq!(reply["status"], status, "{reply}");
        assert_eq!(reply["error"]["code"], -1003, "{reply}");
        let retry = reply["error"]["data"]["retryAfter"].as_i64().unwrap();
        let server = reply["error"]["data"]["serverTime"].as_i64().unwrap();
        assert!((29_000..=31_000).contains(&(retry - server)), "{reply}");
        faults_common::clear(&client, id).await;
        let ok = ws_request(&mut ws, json!("after"), "ping", json!({})).await;
        assert_eq!(ok["status"], 200, "{ok}");
    }
    sim.shutdown().await;
}

/// How long a WS API `time` request takes to be answered.
async fn timed(ws: &mut Ws, id: &str) -> std::time::Duration {
    let started = std::time::Instant::now();
    let reply = ws_request(ws, json!(id), "time", json!({})).await;
    assert_eq!(reply["status"], 200, "{reply}");
    started.elapsed()
}

#[tokio::test]
async fn latency_delays_ws_api_answers_only_while_active() {
    let (sim, client) = start(calm_config()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    let id = inject(
        &client,
        json!({ "fault": "latency", "params": { "mean_ms": 400, "jitter_ms": 0, "target": "ws_api" } }),
    )
    .await;
    for n in ["slow-1", "slow-2"] {
        let took = timed(&mut ws, n).await;
        assert!(
            took >= std::time::Duration::from_millis(380),
            "{n} answered in {took:?}"
        );
    }
    faults_common::clear(&client, id).await;
    // Cleared: answers come without the added delay (bounded below only by the machine).
    let deadline = std::time::Instant::now() + DEADLINE;
    while timed(&mut ws, "prompt").await >= std::time::Duration::from_millis(380) {
        assert!(
            std::time::Instant::now() < deadline,
            "answers still delayed"
        );
    }
    assert!(sim.stats().faults["latency"].triggered >= 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_heavy_ws_api_request_never_overshoots_the_weight_limit() {
    let mut config = calm_config();
    config.limits.request_weight_per_minute = 30;
    config.limits.ban_after_rejections = 100;
    let (sim, client) = start(config).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    let shown = |params: Value| {
        let mut params = params;
        params["returnRateLimits"] = json!(true);
        params
    };
    for _ in 0..3 {
        let window = now_ms() / 60_000;
        let info = ws_request(&mut ws, json!("info"), "exchangeInfo", shown(json!({}))).await;
        let base = weight_count(&info);
        let deep = ws_request(
            &mut ws,
            json!("deep"),
            "depth",
            shown(json!({"symbol": "BTCUSDT", "limit": 5000})),
        )
        .await;
        let account = ws_request(
            &mut ws,
            json!("account"),
            "account.status",
            sign_ws(shown(json!({})), &client.key, &client.secret),
        )
        .await;
        let light = ws_request(
            &mut ws,
            json!("light"),
            "depth",
            shown(json!({"symbol": "BTCUSDT", "limit": 5})),
        )
        .await;
        if now_ms() / 60_000 != window {
            sleep_into_next_minute().await;
            continue;
        }
        assert_eq!(info["status"], 200, "{info}");
        for refused in [&deep, &account] {
            assert_eq!(refused["status"], 429, "{refused}");
            assert_eq!(refused["error"]["code"], -1003, "{refused}");
            assert_eq!(weight_count(refused), base, "not charged: {refused}");
        }
        assert_eq!(light["status"], 200, "{light}");
        assert_eq!(weight_count(&light), base + 5, "{light}");
        sim.shutdown().await;
        return;
    }
    panic!("every sequence straddled a minute");
}

//! The venue checks `recvWindow` twice: when a request arrives, and again when it is about to
//! reach the matching engine. With the `latency` fault holding requests before the engine, an
//! order, a cancel or an amend whose window runs out meanwhile is refused with `-1021` and
//! never reaches the engine, over REST and over the WebSocket API; a window wide enough passes
//! both checks.

mod common;
mod faults_common;

use common::*;
use faults_common::{clear, inject};
use reqwest::Method;
use serde_json::{Value, json};

fn with_window<'a>(
    mut params: Vec<(&'a str, &'a str)>,
    window: &'a str,
) -> Vec<(&'a str, &'a str)> {
    params.push(("recvWindow", window));
    params
}

async fn open_orders(client: &Client) -> usize {
    let open = client
        .signed(Method::GET, "/api/v3/openOrders", &[("symbol", "BTCUSDT")])
        .await;
    open.ok().as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_window_that_runs_out_before_the_engine_is_refused() {
    let (sim, client) = start(calm_config()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    let held = inject(
        &client,
        json!({"fault": "latency", "params": {"mean_ms": 400, "jitter_ms": 0, "target": "engine"}}),
    )
    .await;

    // REST: a 150 ms window passes on arrival and runs out while the request is held.
    let order = limit_buy("BTCUSDT", "GTC", "0.001", "20000");
    let refused = client.place(&with_window(order.clone(), "150")).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.body["code"], -1021, "{refused:?}");
    assert_eq!(open_orders(&client).await, 0, "nothing reached the engine");
    // A 10 s window passes both checks.
    let placed = client.place(&with_window(order.clone(), "10000")).await;
    let order_id = placed.ok()["orderId"].to_string();
    assert_eq!(open_orders(&client).await, 1);

    // The same for a cancel and an amend of that order: refused, the order untouched.
    let cancel = [("symbol", "BTCUSDT"), ("orderId", order_id.as_str())];
    let refused = client
        .signed(
            Method::DELETE,
            "/api/v3/order",
            &with_window(cancel.to_vec(), "150"),
        )
        .await;
    assert_eq!(refused.body["code"], -1021, "{refused:?}");
    let amend = [
        ("symbol", "BTCUSDT"),
        ("orderId", order_id.as_str()),
        ("newQty", "0.0005"),
    ];
    let refused = client
        .signed(
            Method::PUT,
            "/api/v3/order/amend/keepPriority",
            &with_window(amend.to_vec(), "150"),
        )
        .await;
    assert_eq!(refused.body["code"], -1021, "{refused:?}");
    let query = client
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("orderId", order_id.as_str())],
        )
        .await;
    assert_eq!(query.ok()["status"], "NEW");
    assert_eq!(query.ok()["origQty"], "0.00100000");

    // WebSocket API: the same order.place with a 150 ms window.
    let mut params: serde_json::Map<String, Value> = order
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    params.insert("recvWindow".into(), json!("150"));
    let signed = sign_ws(Value::Object(params), &client.key, &client.secret);
    let reply = ws_request(&mut ws, json!(1), "order.place", signed).await;
    assert_eq!(reply["status"], 400, "{reply}");
    assert_eq!(reply["error"]["code"], -1021, "{reply}");
    assert_eq!(open_orders(&client).await, 1);

    // Without the hold, the narrow window passes again.
    clear(&client, held).await;
    let placed = client.place(&with_window(order, "150")).await;
    assert_eq!(placed.status, 200, "{placed:?}");
    assert_eq!(open_orders(&client).await, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_engine_hold_is_only_applied_when_named() {
    let (sim, client) = start(calm_config()).await;
    // `all` (the default) does not hold requests before the engine: a narrow window passes.
    let everywhere = inject(
        &client,
        json!({"fault": "latency", "params": {"mean_ms": 0, "jitter_ms": 0}}),
    )
    .await;
    let order = limit_buy("BTCUSDT", "GTC", "0.001", "20000");
    let placed = client.place(&with_window(order, "150")).await;
    assert_eq!(placed.status, 200, "{placed:?}");
    clear(&client, everywhere).await;
    // The engine is not a WebSocket or acknowledgement target.
    for fault in ["drop_connections", "silence_streams", "swallow_order_acks"] {
        let answer = client
            .raw(
                Method::POST,
                "/_sim/faults",
                "",
                &json!({"fault": fault, "params": {"target": "engine"}}).to_string(),
                None,
            )
            .await;
        assert_eq!(answer.status, 400, "{fault}: {answer:?}");
    }
    sim.shutdown().await;
}

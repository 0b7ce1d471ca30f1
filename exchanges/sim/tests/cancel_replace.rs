//! `POST /api/v3/order/cancelReplace` over real sockets: both steps succeeding, a failed
//! cancel stopping the replace (400 `-2022`), and `ALLOW_FAILURE` placing anyway (409 `-2021`);
//! the same over the WebSocket API (`order.cancelReplace`).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const PATH: &str = "/api/v3/order/cancelReplace";

fn replace<'a>(mode: &'a str, cancel_id: &'a str, price: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut params = limit_buy("BTCUSDT", "GTC", "0.001", price);
    params.extend([("cancelReplaceMode", mode), ("cancelOrderId", cancel_id)]);
    params
}

#[tokio::test]
async fn cancel_replace_outcomes() {
    let (sim, client) = start(calm_config()).await;
    let info = client
        .public("/api/v3/exchangeInfo", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(
        info.ok()["symbols"][0]["cancelReplaceAllowed"],
        true,
        "the symbols advertise what the simulator serves"
    );
    let placed = client
        .place(&limit_buy("BTCUSDT", "GTC", "0.001", "20000"))
        .await;
    let old_id = placed.ok()["orderId"].to_string();

    let both = client
        .signed(
            Method::POST,
            PATH,
            &replace("STOP_ON_FAILURE", &old_id, "20001"),
        )
        .await;
    let body = both.ok();
    assert_eq!(
        (
            body["cancelResult"].as_str(),
            body["newOrderResult"].as_str()
        ),
        (Some("SUCCESS"), Some("SUCCESS"))
    );
    assert_eq!(body["cancelResponse"]["status"], "CANCELED");
    assert_eq!(body["cancelResponse"]["orderId"].to_string(), old_id);
    assert_eq!(body["newOrderResponse"]["price"], "20001.00000000");
    assert_eq!(body["newOrderResponse"]["status"], "NEW");

    let stopped = client
        .signed(
            Method::POST,
            PATH,
            &replace("STOP_ON_FAILURE", &old_id, "20002"),
        )
        .await;
    assert_eq!(stopped.status, 400, "{stopped:?}");
    assert_eq!(stopped.body["code"], -2022);
    assert_eq!(stopped.body["msg"], "Order cancel-replace failed.");
    let data = &stopped.body["data"];
    assert_eq!(data["cancelResult"], "FAILURE");
    assert_eq!(data["newOrderResult"], "NOT_ATTEMPTED");
    assert_eq!(data["cancelResponse"]["code"], -2011);
    assert!(data["newOrderResponse"].is_null());

    let allowed = client
        .signed(
            Method::POST,
            PATH,
            &replace("ALLOW_FAILURE", &old_id, "20003"),
        )
        .await;
    assert_eq!(allowed.status, 409, "{allowed:?}");
    assert_eq!(allowed.body["code"], -2021);
    assert_eq!(
        allowed.body["msg"],
        "Order cancel-replace partially failed."
    );
    assert_eq!(allowed.body["data"]["newOrderResult"], "SUCCESS");
    assert_eq!(allowed.body["data"]["newOrderResponse"]["status"], "NEW");

    let open = client
        .signed(Method::GET, "/api/v3/openOrders", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(open.ok().as_array().unwrap().len(), 2, "{:?}", open.body);
    let missing = client
        .signed(
            Method::POST,
            PATH,
            &limit_buy("BTCUSDT", "GTC", "0.001", "1"),
        )
        .await;
    assert_eq!(missing.body["code"], -1102, "{missing:?}");
    sim.shutdown().await;
}

/// A signed WebSocket API `order.cancelReplace` with these string params.
async fn ws_replace(ws: &mut Ws, client: &Client, id: u64, params: &[(&str, &str)]) -> Value {
    let object: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let params = sign_ws(Value::Object(object), &client.key, &client.secret);
    ws_request(ws, json!(id), "order.cancelReplace", params).await
}

#[tokio::test]
async fn ws_api_cancel_replace_has_the_same_outcomes() {
    let (sim, client) = start(calm_config()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    let placed = client
        .place(&limit_buy("BTCUSDT", "GTC", "0.001", "20000"))
        .await;
    let old_id = placed.ok()["orderId"].to_string();

    let both = ws_replace(
        &mut ws,
        &client,
        1,
        &replace("STOP_ON_FAILURE", &old_id, "20001"),
    )
    .await;
    assert_eq!(both["status"], 200, "{both}");
    let result = &both["result"];
    assert_eq!(result["cancelResult"], "SUCCESS", "{both}");
    assert_eq!(result["newOrderResult"], "SUCCESS", "{both}");
    assert_eq!(result["cancelResponse"]["orderId"].to_string(), old_id);
    assert_eq!(result["newOrderResponse"]["price"], "20001.00000000");

    let stopped = ws_replace(
        &mut ws,
        &client,
        2,
        &replace("STOP_ON_FAILURE", &old_id, "20002"),
    )
    .await;
    assert_eq!(stopped["status"], 400, "{stopped}");
    assert_eq!(stopped["error"]["code"], -2022, "{stopped}");
    let data = &stopped["error"]["data"];
    assert_eq!(data["cancelResult"], "FAILURE", "{stopped}");
    assert_eq!(data["newOrderResult"], "NOT_ATTEMPTED");
    assert_eq!(data["cancelResponse"]["code"], -2011);

    let allowed = ws_replace(
        &mut ws,
        &client,
        3,
        &replace("ALLOW_FAILURE", &old_id, "20003"),
    )
    .await;
    assert_eq!(allowed["status"], 409, "{allowed}");
    assert_eq!(allowed["error"]["code"], -2021, "{allowed}");
    assert_eq!(
        allowed["error"]["data"]["newOrderResponse"]["status"],
        "NEW"
    );

    let unsigned = ws_request(
        &mut ws,
        json!(4),
        "order.cancelReplace",
        json!({"symbol": "BTCUSDT", "cancelReplaceMode": "STOP_ON_FAILURE"}),
    )
    .await;
    assert_ne!(unsigned["status"], 200, "{unsigned}");
    let open = client
        .signed(Method::GET, "/api/v3/openOrders", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(open.ok().as_array().unwrap().len(), 2, "{:?}", open.body);
    sim.shutdown().await;
}

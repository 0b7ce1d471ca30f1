//! Order amend keep-priority over real sockets: `PUT /api/v3/order/amend/keepPriority` and
//! `order.amend.keepPriority`, their errors, `MAX_NUM_ORDER_AMENDS` in exchangeInfo and its
//! enforcement, the `REPLACED` execution report, and the amended order keeping its place ahead
//! of an order that joined the level later.

mod common;

use common::*;
use reqwest::Method;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

const PATH: &str = "/api/v3/order/amend/keepPriority";

async fn amend(client: &Client, order_id: &str, new_qty: &str, extra: &[(&str, &str)]) -> Reply {
    let mut params = vec![
        ("symbol", "BTCUSDT"),
        ("orderId", order_id),
        ("newQty", new_qty),
    ];
    params.extend_from_slice(extra);
    client.signed(Method::PUT, PATH, &params).await
}

async fn query(client: &Client, order_id: &str) -> Value {
    let reply = client
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("orderId", order_id)],
        )
        .await;
    reply.ok().clone()
}

#[tokio::test]
async fn amend_reduces_in_place_and_keeps_priority() {
    let (_sim, client) = start(calm_config()).await;
    let (bid, _) = client.best("BTCUSDT").await;
    let price = (bid + dec!(0.01)).to_string();
    let first = client
        .place(&limit_buy("BTCUSDT", "GTC", "0.003", &price))
        .await;
    let first_id = first.ok()["orderId"].to_string();
    let second = client
        .place(&limit_buy("BTCUSDT", "GTC", "0.002", &price))
        .await;
    let second_id = second.ok()["orderId"].to_string();

    let amended = amend(
        &client,
        &first_id,
        "0.002",
        &[("newClientOrderId", "amended-1")],
    )
    .await;
    assert_eq!(amended.status, 200, "{amended:?}");
    let body = amended.ok();
    assert!(body["transactTime"].as_i64().is_some(), "{body}");
    assert!(body["executionId"].as_u64().is_some(), "{body}");
    assert!(body.get("listStatus").is_none(), "{body}");
    let order = &body["amendedOrder"];
    assert_eq!(order["orderId"].to_string(), first_id);
    assert_eq!(order["clientOrderId"], "amended-1");
    assert_eq!(order["qty"], "0.00200000");
    assert_eq!(order["status"], "NEW");
    assert_eq!(order["orderListId"], -1);
    let queried = query(&client, &first_id).await;
    assert_eq!(
        (
            queried["origQty"].as_str(),
            queried["clientOrderId"].as_str()
        ),
        (Some("0.00200000"), Some("amended-1"))
    );

    // A sell of exactly the amended quantity at the level: the amended order is first in the
    // queue, so it fills before the order placed after it.
    let sell = client
        .place(&[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "IOC"),
            ("quantity", "0.002"),
            ("price", &price),
            ("selfTradePreventionMode", "NONE"),
        ])
        .await;
    assert_eq!(sell.ok()["executedQty"], "0.00200000", "{sell:?}");
    assert_eq!(query(&client, &first_id).await["status"], "FILLED");
    let later = query(&client, &second_id).await;
    assert_ne!(later["status"], "FILLED", "{later}");
}

#[tokio::test]
async fn amend_rejects_increase_executed_and_too_many_amends() {
    let mut config = calm_config();
    for symbol in &mut config.symbols {
        symbol.max_num_order_amends = 2;
    }
    let (_sim, client) = start(config).await;
    let info = client
        .public("/api/v3/exchangeInfo", &[("symbol", "BTCUSDT")])
        .await;
    let symbol = &info.ok()["symbols"][0];
    assert_eq!(symbol["amendAllowed"], true);
    let filter = symbol["filters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filterType"] == "MAX_NUM_ORDER_AMENDS")
        .cloned();
    assert_eq!(
        filter,
        Some(json!({"filterType": "MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends": 2}))
    );

    let placed = client
        .place(&limit_buy("BTCUSDT", "GTC", "0.005", "20000"))
        .await;
    let id = placed.ok()["orderId"].to_string();
    amend(&client, &id, "0.005", &[]).await.expect_error(
        400,
        -2038,
        "Order amend (quantity increase) rejected.",
    );
    amend(&client, &id, "0.006", &[]).await.expect_error(
        400,
        -2038,
        "Order amend (quantity increase) rejected.",
    );
    let zero = amend(&client, &id, "0", &[]).await;
    assert_eq!(
        (zero.status.as_u16(), zero.body["code"].as_i64()),
        (400, Some(-1013)),
        "{zero:?}"
    );
    assert_eq!(amend(&client, &id, "0.004", &[]).await.status, 200);
    assert_eq!(amend(&client, &id, "0.003", &[]).await.status, 200);
    amend(&client, &id, "0.002", &[]).await.expect_error(
        400,
        -1013,
        "Filter failure: MAX_NUM_ORDER_AMENDS",
    );
    assert_eq!(query(&client, &id).await["origQty"], "0.00300000");
    amend(&client, "999999", "0.001", &[])
        .await
        .expect_error(400, -2013, "Order does not exist.");
}

#[tokio::test]
async fn ws_api_amend_reports_replaced() {
    let (sim, client) = start(calm_config()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    let reply = ws_request(
        &mut ws,
        json!("sub"),
        "userDataStream.subscribe.signature",
        sign_ws(json!({}), &client.key, &client.secret),
    )
    .await;
    assert_eq!(reply["status"], 200, "{reply}");
    let placed = client
        .place(&limit_buy("BTCUSDT", "GTC", "0.004", "20000"))
        .await;
    let id = placed.ok()["orderId"].clone();
    let params = json!({"symbol": "BTCUSDT", "orderId": id, "newQty": "0.001",
        "newClientOrderId": "ws-amended"});
    let reply = ws_request(
        &mut ws,
        json!("amend"),
        "order.amend.keepPriority",
        sign_ws(params, &client.key, &client.secret),
    )
    .await;
    assert_eq!(reply["status"], 200, "{reply}");
    let result = &reply["result"];
    assert_eq!(result["amendedOrder"]["qty"], "0.00100000", "{reply}");
    assert_eq!(result["amendedOrder"]["clientOrderId"], "ws-amended");
    let report = next_matching(&mut ws, |v| {
        v["event"]["e"] == "executionReport" && v["event"]["x"] == "REPLACED"
    })
    .await;
    let report = &report["event"];
    assert_eq!(report["i"], id);
    assert_eq!(report["q"], "0.00100000");
    assert_eq!(report["c"], "ws-amended");
    assert_eq!(report["X"], "NEW");
    assert_eq!(report["I"], result["executionId"], "{report}");
}

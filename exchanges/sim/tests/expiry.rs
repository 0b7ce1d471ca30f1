//! `expiryReason` in order payloads and `eR` in execution reports, over real sockets: an IOC
//! remainder, a FOK that cannot fill, and no reason on orders that did not expire.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn expired_orders_carry_their_reason_in_responses_and_reports() {
    let (sim, client) = start(calm_config()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    let subscribed = ws_request(
        &mut ws,
        json!(1),
        "userDataStream.subscribe.signature",
        sign_ws(json!({}), &client.key, &client.secret),
    )
    .await;
    assert_eq!(subscribed["status"], 200, "{subscribed}");

    let (bid, _) = client.best("BTCUSDT").await;
    let below = (bid - rust_decimal_macros::dec!(100)).to_string();
    let mut ioc = limit_buy("BTCUSDT", "IOC", "0.001", &below);
    ioc.push(("newOrderRespType", "RESULT"));
    let ioc = client.place(&ioc).await;
    assert_eq!(ioc.ok()["status"], "EXPIRED");
    assert_eq!(ioc.body["expiryReason"], "UNFILLED_IOC_QUANTITY_EXPIRED");
    let report = expired_report(&mut ws).await;
    assert_eq!(report["eR"], "UNFILLED_IOC_QUANTITY_EXPIRED", "{report}");
    assert_eq!(report["x"], "EXPIRED");

    let fok = client
        .place(&limit_buy("BTCUSDT", "FOK", "0.001", &below))
        .await;
    assert_eq!(fok.ok()["expiryReason"], "UNFILLED_FOK_ORDER_EXPIRED");
    let queried = client
        .signed(
            reqwest::Method::GET,
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("orderId", &fok.body["orderId"].to_string()),
            ],
        )
        .await;
    assert_eq!(queried.ok()["expiryReason"], "UNFILLED_FOK_ORDER_EXPIRED");
    assert_eq!(
        expired_report(&mut ws).await["eR"],
        "UNFILLED_FOK_ORDER_EXPIRED"
    );

    let resting = client
        .place(&limit_buy("BTCUSDT", "GTC", "0.001", &below))
        .await;
    assert_eq!(resting.ok()["status"], "NEW");
    assert!(
        resting.body.get("expiryReason").is_none(),
        "{}",
        resting.body
    );
    let new = next_matching(&mut ws, |v| v["event"]["x"] == "NEW").await;
    assert!(new["event"].get("eR").is_none(), "{new}");
    sim.shutdown().await;
}

async fn expired_report(ws: &mut Ws) -> Value {
    let frame = next_matching(ws, |v| v["event"]["X"] == "EXPIRED").await;
    frame["event"].clone()
}

//! `GET /api/v3/ticker/price` (single, list and all forms) and the WebSocket API `myTrades`,
//! over real sockets, checked against the trade the test itself made.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn price_ticker_reports_the_last_trade_in_every_form() {
    let (sim, client) = start(calm_config()).await;
    let taken = client.take_best_ask().await;
    let fill_price = taken["fills"][0]["price"].as_str().unwrap().to_owned();
    let trades = client
        .public("/api/v3/trades", &[("symbol", "BTCUSDT"), ("limit", "1")])
        .await;
    let last = trades.ok()[0]["price"].as_str().unwrap().to_owned();

    let one = client
        .public("/api/v3/ticker/price", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(one.ok()["symbol"], "BTCUSDT");
    assert_eq!(one.body["price"], last.as_str());
    let listed = client
        .public("/api/v3/ticker/price", &[("symbols", r#"["BTCUSDT"]"#)])
        .await;
    assert_eq!(used_weight(&listed) - used_weight(&one), 4);
    assert_eq!(listed.ok().as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["symbol"], "BTCUSDT");
    let all = client.public("/api/v3/ticker/price", &[]).await;
    let all = all.ok().as_array().unwrap().clone();
    assert_eq!(all.len(), sim_symbols(&client).await);
    assert!(all.iter().all(|t| t["price"].is_string()));
    client
        .public("/api/v3/ticker/price", &[("symbol", "NOPEUSDT")])
        .await
        .expect_error(400, -1121, "Invalid symbol.");

    let mut ws = connect(&sim.ws_api_url()).await;
    let params = sign_ws(
        json!({"symbol": "BTCUSDT", "orderId": taken["orderId"]}),
        &client.key,
        &client.secret,
    );
    let mine = ws_request(&mut ws, json!(1), "myTrades", params).await;
    assert_eq!(mine["status"], 200, "{mine}");
    let mine = mine["result"].as_array().unwrap();
    assert!(!mine.is_empty());
    assert_eq!(mine[0]["orderId"], taken["orderId"]);
    assert_eq!(mine[0]["price"], fill_price.as_str());
    assert_eq!(mine[0]["isBuyer"], true);
    let unsigned = ws_request(&mut ws, json!(2), "myTrades", json!({"symbol": "BTCUSDT"})).await;
    assert_eq!(unsigned["status"], 400, "{unsigned}");
    sim.shutdown().await;
}

async fn sim_symbols(client: &Client) -> usize {
    let info = client.public("/api/v3/exchangeInfo", &[]).await;
    info.ok()["symbols"].as_array().unwrap().len()
}

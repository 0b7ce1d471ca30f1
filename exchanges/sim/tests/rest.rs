//! REST dialect over real sockets: signatures, order lifecycle, queries and the error table.

mod common;

use common::*;
use reqwest::Method;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;

const VECTOR_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const VECTOR_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const VECTOR_PAYLOAD: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
const VECTOR_SIGNATURE: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";

/// The venue's own example request: its signature must verify (case-insensitively), so the
/// request gets past `-1022` and fails only on its 2017 timestamp (`-1021`).
#[tokio::test]
async fn official_signature_vector_verifies() {
    let mut config = config();
    config.api_key = VECTOR_KEY.into();
    config.api_secret = VECTOR_SECRET.into();
    let (sim, client) = start(config).await;
    let outside = "Timestamp for this request is outside of the recvWindow.";
    let upper = VECTOR_SIGNATURE.to_uppercase();
    let tampered = VECTOR_PAYLOAD.replace("quantity=1", "quantity=2");
    let cases = [
        (
            format!("{VECTOR_PAYLOAD}&signature={VECTOR_SIGNATURE}"),
            -1021,
            outside,
        ),
        (
            format!("{VECTOR_PAYLOAD}&signature={upper}"),
            -1021,
            outside,
        ),
        (
            format!("{tampered}&signature={VECTOR_SIGNATURE}"),
            -1022,
            "Signature for this request is not valid.",
        ),
    ];
    for (query, code, msg) in cases {
        let reply = client
            .raw(Method::POST, "/api/v3/order", &query, "", Some(VECTOR_KEY))
            .await;
        reply.expect_error(400, code, msg);
    }
    sim.shutdown().await;
}

/// Parameters split between query and a form body sent as `application/json` (python-binance
/// sends POST bodies that way); the signature covers query + body.
#[tokio::test]
async fn params_from_query_and_body_whatever_the_content_type() {
    let (sim, client) = start(calm_config()).await;
    let (bid, _) = client.best("BTCUSDT").await;
    let price = (bid - dec!(500)).to_string();
    let query = "symbol=BTCUSDT&side=BUY".to_owned();
    let body = format!(
        "type=LIMIT&timeInForce=GTC&quantity=0.001&price={price}&newClientOrderId=split-1&timestamp={}",
        now_ms()
    );
    let signature = hmac_hex(&client.secret, &format!("{query}{body}"));
    let reply = client
        .raw(
            Method::POST,
            "/api/v3/order",
            &query,
            &format!("{body}&signature={signature}"),
            Some(&client.key),
        )
        .await;
    let order = reply.ok();
    assert_eq!(order["clientOrderId"], "split-1");
    assert_eq!(order["status"], "NEW");
    // The query wins when a parameter is in both.
    let body = format!("symbol=ETHUSDT&timestamp={}", now_ms());
    let query = "symbol=BTCUSDT&origClientOrderId=split-1";
    let signature = hmac_hex(&client.secret, &format!("{query}{body}"));
    let reply = client
        .raw(
            Method::DELETE,
            "/api/v3/order",
            query,
            &format!("{body}&signature={signature}"),
            Some(&client.key),
        )
        .await;
    assert_eq!(reply.ok()["status"], "CANCELED");
    sim.shutdown().await;
}

#[tokio::test]
async fn crossing_limit_order_fills_with_full_response() {
    let (sim, client) = start(calm_config()).await;
    let (_, ask) = client.best("BTCUSDT").await;
    let limit = ask + dec!(0.05);
    let price = limit.to_string();
    let reply = client
        .place(&limit_buy("BTCUSDT", "GTC", "0.001", &price))
        .await;
    assert!(reply.headers.contains_key("x-mbx-order-count-10s"));
    assert!(reply.headers.contains_key("x-mbx-used-weight-1m"));
    let order = reply.ok().clone();
    assert_eq!(order["status"], "FILLED", "{order}");
    assert_eq!(order["executedQty"], "0.00100000");
    assert_eq!(order["origQty"], "0.00100000");
    assert_eq!(order["price"], format!("{limit:.8}"));
    assert_eq!(order["clientOrderId"].as_str().unwrap().len(), 22);
    let fills = order["fills"].as_array().unwrap();
    assert!(!fills.is_empty());
    let mut filled = Decimal::ZERO;
    let mut quote = Decimal::ZERO;
    for fill in fills {
        let price: Decimal = fill["price"].as_str().unwrap().parse().unwrap();
        let qty: Decimal = fill["qty"].as_str().unwrap().parse().unwrap();
        assert!(price <= limit, "trades at the maker's price");
        assert_eq!(fill["commissionAsset"], "BTC");
        assert_eq!(fill["commission"], format!("{:.8}", qty * dec!(0.001)));
        filled += qty;
        quote += price * qty;
    }
    assert_eq!(filled, dec!(0.001));
    assert_eq!(order["cummulativeQuoteQty"], format!("{quote:.8}"));
    // myTrades?orderId= returns exactly those fills (how the daemon backfills).
    let order_id = order["orderId"].to_string();
    let trades = client
        .signed(
            Method::GET,
            "/api/v3/myTrades",
            &[("symbol", "BTCUSDT"), ("orderId", &order_id)],
        )
        .await;
    let trades = trades.ok().as_array().unwrap().clone();
    let trade_ids: Vec<&Value> = trades.iter().map(|t| &t["id"]).collect();
    let fill_ids: Vec<&Value> = fills.iter().map(|f| &f["tradeId"]).collect();
    assert_eq!(trade_ids, fill_ids);
    assert!(
        trades
            .iter()
            .all(|t| t["isBuyer"] == true && t["isMaker"] == false && t["symbol"] == "BTCUSDT")
    );
    let from = trades[0]["id"].to_string();
    let later = client
        .signed(
            Method::GET,
            "/api/v3/myTrades",
            &[("symbol", "BTCUSDT"), ("fromId", &from)],
        )
        .await;
    assert_eq!(later.ok().as_array().unwrap().len(), trades.len());
    // The account received the base asset minus commission and paid the quote.
    let account = client.signed(Method::GET, "/api/v3/account", &[]).await;
    let balances = account.ok()["balances"].as_array().unwrap().clone();
    let btc = balances.iter().find(|b| b["asset"] == "BTC").unwrap();
    assert_eq!(
        btc["free"],
        format!("{:.8}", dec!(100) + dec!(0.001) - dec!(0.000001))
    );
    let usdt = balances.iter().find(|b| b["asset"] == "USDT").unwrap();
    assert_eq!(usdt["free"], format!("{:.8}", dec!(10000000) - quote));
    assert_eq!(usdt["locked"], "0.00000000");
    let stats = sim.stats();
    assert_eq!(
        (
            stats.orders_received,
            stats.orders_accepted,
            stats.orders_rejected
        ),
        (1, 1, 0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn resting_order_is_listed_queried_and_canceled() {
    let (sim, client) = start(calm_config()).await;
    let (bid, _) = client.best("BTCUSDT").await;
    let price = (bid - dec!(1000)).to_string();
    let mut params = limit_buy("BTCUSDT", "GTC", "0.01", &price);
    params.push(("newClientOrderId", "rest-1"));
    let placed = client.place(&params).await.ok().clone();
    assert_eq!(
        (
            placed["status"].as_str(),
            placed["fills"].as_array().map(Vec::len)
        ),
        (Some("NEW"), Some(0))
    );
    client
        .place(&params)
        .await
        .expect_error(400, -2010, "Duplicate order sent.");
    for query in [&[("symbol", "BTCUSDT")][..], &[]] {
        let open = client
            .signed(Method::GET, "/api/v3/openOrders", query)
            .await;
        let open = open.ok().as_array().unwrap().clone();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0]["clientOrderId"], "rest-1");
        assert_eq!(open[0]["isWorking"], true);
    }
    let account = client
        .signed(
            Method::GET,
            "/api/v3/account",
            &[("omitZeroBalances", "true")],
        )
        .await;
    let usdt = account.ok()["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "USDT")
        .unwrap()
        .clone();
    let locked: Decimal = usdt["locked"].as_str().unwrap().parse().unwrap();
    assert_eq!(locked, (bid - dec!(1000)) * dec!(0.01));
    let queried = client
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("origClientOrderId", "rest-1")],
        )
        .await;
    assert_eq!(queried.ok()["orderId"], placed["orderId"]);
    let cancel = [
        ("symbol", "BTCUSDT"),
        ("origClientOrderId", "rest-1"),
        ("newClientOrderId", "cancel-1"),
    ];
    let canceled = client
        .signed(Method::DELETE, "/api/v3/order", &cancel)
        .await
        .ok()
        .clone();
    assert_eq!(canceled["status"], "CANCELED");
    assert_eq!(canceled["origClientOrderId"], "rest-1");
    assert_eq!(canceled["clientOrderId"], "cancel-1");
    assert_eq!(canceled["orderId"], placed["orderId"]);
    let open = client
        .signed(Method::GET, "/api/v3/openOrders", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(open.ok().as_array().unwrap().len(), 0);
    client
        .signed(Method::DELETE, "/api/v3/order", &cancel)
        .await
        .expect_error(400, -2011, "Unknown order sent.");
    let order_id = placed["orderId"].to_string();
    let queried = client
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("orderId", &order_id)],
        )
        .await;
    assert_eq!(queried.ok()["status"], "CANCELED");
    assert_eq!(sim.stats().cancels_received, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn public_endpoints_and_unknown_paths() {
    let (sim, client) = start(config()).await;
    let ping = client.public("/api/v3/ping", &[]).await;
    assert_eq!(ping.ok(), &serde_json::json!({}));
    let used: u64 = ping.headers["x-mbx-used-weight-1m"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let time = client.public("/api/v3/time", &[]).await;
    let server_time = time.ok()["serverTime"].as_i64().unwrap();
    assert!((server_time - now_ms()).abs() < 5000);
    let after: u64 = time.headers["x-mbx-used-weight-1m"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(after, used + 1, "weight accumulates per minute");
    let info = client
        .public("/api/v3/exchangeInfo", &[("symbol", "BTCUSDT")])
        .await;
    let info = info.ok();
    assert_eq!(info["rateLimits"][0]["rateLimitType"], "REQUEST_WEIGHT");
    let symbols = info["symbols"].as_array().unwrap();
    assert_eq!(symbols.len(), 1);
    let btc = &symbols[0];
    assert_eq!(
        (
            btc["baseAsset"].as_str(),
            btc["quoteAsset"].as_str(),
            btc["status"].as_str()
        ),
        (Some("BTC"), Some("USDT"), Some("TRADING"))
    );
    let filter = |name: &str| {
        btc["filters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["filterType"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(filter("PRICE_FILTER")["tickSize"], "0.01000000");
    assert_eq!(filter("LOT_SIZE")["stepSize"], "0.00001000");
    assert_eq!(filter("NOTIONAL")["minNotional"], "5.00000000");
    let all = client.public("/api/v3/exchangeInfo", &[]).await;
    assert_eq!(all.ok()["symbols"].as_array().unwrap().len(), 2);
    let list = client
        .public(
            "/api/v3/exchangeInfo",
            &[("symbols", r#"["ETHUSDT","BTCUSDT"]"#)],
        )
        .await;
    assert_eq!(list.ok()["symbols"].as_array().unwrap().len(), 2);
    client
        .public("/api/v3/exchangeInfo", &[("symbol", "LTCBTC")])
        .await
        .expect_error(400, -1121, "Invalid symbol.");
    let depth = client
        .public("/api/v3/depth", &[("symbol", "ETHUSDT"), ("limit", "7")])
        .await;
    assert_eq!(depth.ok()["bids"].as_array().unwrap().len(), 7);
    assert!(depth.ok()["lastUpdateId"].as_u64().unwrap() > 0);
    client.public("/api/v3/depth", &[]).await.expect_error(
        400,
        -1102,
        "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
    );
    let missing = client.public("/api/v3/nothing", &[]).await;
    missing.expect_error(404, -1020, "This operation is not supported.");
    assert!(missing.headers.contains_key("x-mbx-used-weight-1m"));
    let wrong_method = client.raw(Method::PUT, "/api/v3/ping", "", "", None).await;
    wrong_method.expect_error(405, -1020, "This operation is not supported.");
    let stats = client.public("/_sim/stats", &[]).await;
    assert!(stats.ok()["requests_total"].as_u64().unwrap() >= 10);
    assert_eq!(stats.ok()["orders_received"], 0);
    sim.shutdown().await;
}

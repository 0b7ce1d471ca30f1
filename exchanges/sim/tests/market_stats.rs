//! Market statistics, order test/history endpoints and legacy listenKeys over real sockets:
//! payload shapes, documented weights, and the venue's errors.

mod common;

use common::*;
use reqwest::Method;
use rust_decimal::Decimal;

/// The weight a public request was charged: the header after it minus the header before.
async fn weight_of(client: &Client, path: &str, params: &[(&str, &str)]) -> (u64, Reply) {
    let before = used_weight(&client.public("/api/v3/time", &[]).await);
    let reply = client.public(path, params).await;
    (used_weight(&reply) - before, reply)
}

#[tokio::test]
async fn trades_agg_trades_klines_and_tickers() {
    let (sim, client) = start(calm_config()).await;
    let placed = client.take_best_ask().await;
    let trade_id = placed["fills"][0]["tradeId"].as_u64().unwrap();

    let (weight, trades) = weight_of(
        &client,
        "/api/v3/trades",
        &[("symbol", "BTCUSDT"), ("limit", "1000")],
    )
    .await;
    assert_eq!(weight, 25);
    let list = trades.ok().as_array().unwrap().clone();
    let ours = list
        .iter()
        .find(|t| t["id"] == trade_id)
        .expect("our trade is listed");
    assert_eq!(ours["isBuyerMaker"], false);
    assert!(ours["quoteQty"].as_str().unwrap().contains('.'));

    let (weight, aggs) = weight_of(&client, "/api/v3/aggTrades", &[("symbol", "BTCUSDT")]).await;
    assert_eq!(weight, 4);
    let aggs = aggs.ok().as_array().unwrap().clone();
    assert!(
        aggs.iter()
            .any(|a| a["f"].as_u64() <= Some(trade_id) && a["l"].as_u64() >= Some(trade_id))
    );
    let first = aggs[0]["a"].as_u64().unwrap().to_string();
    let from = client
        .public(
            "/api/v3/aggTrades",
            &[("symbol", "BTCUSDT"), ("fromId", &first), ("limit", "1")],
        )
        .await;
    assert_eq!(from.ok()[0]["a"].as_u64().unwrap().to_string(), first);

    for interval in [
        "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
        "1w", "1M",
    ] {
        let (weight, klines) = weight_of(
            &client,
            "/api/v3/klines",
            &[("symbol", "BTCUSDT"), ("interval", interval)],
        )
        .await;
        assert_eq!(weight, 2);
        let bars = klines.ok().as_array().unwrap().clone();
        let last = bars
            .last()
            .unwrap_or_else(|| panic!("a bar for {interval}"));
        assert_eq!(last.as_array().unwrap().len(), 12, "{interval}");
        assert!(
            last[6].as_i64() > last[0].as_i64(),
            "closeTime after openTime ({interval})"
        );
    }
    client
        .public(
            "/api/v3/klines",
            &[("symbol", "BTCUSDT"), ("interval", "2m")],
        )
        .await
        .expect_error(400, -1120, "Invalid interval.");

    let (weight, ticker) =
        weight_of(&client, "/api/v3/ticker/24hr", &[("symbol", "BTCUSDT")]).await;
    assert_eq!(weight, 2);
    let ticker = ticker.ok().clone();
    assert_eq!(ticker["symbol"], "BTCUSDT");
    assert!(ticker["count"].as_u64().unwrap() >= 1);
    let bid: Decimal = ticker["bidPrice"].as_str().unwrap().parse().unwrap();
    let ask: Decimal = ticker["askPrice"].as_str().unwrap().parse().unwrap();
    assert!(bid < ask && bid > Decimal::ZERO, "{bid} < {ask}");
    let (weight, all) = weight_of(&client, "/api/v3/ticker/24hr", &[("type", "MINI")]).await;
    assert_eq!(weight, 80);
    let all = all.ok().as_array().unwrap().clone();
    assert_eq!(all.len(), 2);
    assert!(
        all[0].get("priceChange").is_none(),
        "MINI has no priceChange"
    );
    let some = client
        .public("/api/v3/ticker/24hr", &[("symbols", r#"["ETHUSDT"]"#)])
        .await;
    assert_eq!(some.ok().as_array().unwrap()[0]["symbol"], "ETHUSDT");
    client
        .public(
            "/api/v3/ticker/24hr",
            &[("symbol", "BTCUSDT"), ("type", "HUGE")],
        )
        .await
        .expect_error(
            400,
            -1100,
            "Illegal characters found in parameter 'type'; legal range is '^(FULL|MINI)$'.",
        );

    let (weight, book) = weight_of(
        &client,
        "/api/v3/ticker/bookTicker",
        &[("symbol", "ETHUSDT")],
    )
    .await;
    assert_eq!(weight, 2);
    assert_eq!(book.ok()["symbol"], "ETHUSDT");
    let (weight, books) = weight_of(&client, "/api/v3/ticker/bookTicker", &[]).await;
    assert_eq!((weight, books.ok().as_array().unwrap().len()), (4, 2));

    let (weight, avg) = weight_of(&client, "/api/v3/avgPrice", &[("symbol", "BTCUSDT")]).await;
    assert_eq!(weight, 2);
    assert_eq!(avg.ok()["mins"], 5);
    assert!(
        avg.body["price"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap()
            > Decimal::ZERO
    );
    client
        .public("/api/v3/avgPrice", &[("symbol", "NOPE")])
        .await
        .expect_error(400, -1121, "Invalid symbol.");
    sim.shutdown().await;
}

#[tokio::test]
async fn order_test_all_orders_and_order_rate_limit() {
    let (sim, client) = start(calm_config()).await;
    let resting = limit_buy("BTCUSDT", "GTC", "0.001", "20000");
    let test = client
        .signed(Method::POST, "/api/v3/order/test", &resting)
        .await;
    assert_eq!(test.ok(), &serde_json::json!({}));
    let mut with_rates = resting.clone();
    with_rates.push(("computeCommissionRates", "true"));
    let rates = client
        .signed(Method::POST, "/api/v3/order/test", &with_rates)
        .await;
    assert_eq!(
        rates.ok()["standardCommissionForOrder"]["maker"],
        "0.00100000"
    );
    let mut bad = resting.clone();
    bad[5] = ("price", "20000.001");
    client
        .signed(Method::POST, "/api/v3/order/test", &bad)
        .await
        .expect_error(400, -1013, "Filter failure: PRICE_FILTER");
    let mut extra = resting.clone();
    extra.push(("colour", "blue"));
    client
        .signed(Method::POST, "/api/v3/order/test", &extra)
        .await
        .expect_error(
            400,
            -1104,
            "Not all sent parameters were read; read '8' parameter(s) but was sent '9'.",
        );
    let open = client
        .signed(Method::GET, "/api/v3/openOrders", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(
        open.ok().as_array().unwrap().len(),
        0,
        "order/test placed nothing"
    );

    let mut ids = Vec::new();
    for _ in 0..2 {
        let placed = client.place(&resting).await;
        let count: u64 = placed.headers["x-mbx-order-count-10s"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(count >= 1);
        ids.push(placed.ok()["orderId"].as_u64().unwrap());
    }
    let cancel = [("symbol", "BTCUSDT"), ("orderId", &ids[0].to_string()[..])];
    client
        .signed(Method::DELETE, "/api/v3/order", &cancel)
        .await
        .ok();
    let all = client
        .signed(Method::GET, "/api/v3/allOrders", &[("symbol", "BTCUSDT")])
        .await;
    let all = all.ok().as_array().unwrap().clone();
    let statuses: Vec<_> = ids
        .iter()
        .map(|id| {
            all.iter()
                .find(|o| o["orderId"] == *id)
                .map(|o| o["status"].clone())
        })
        .collect();
    assert_eq!(statuses, vec![Some("CANCELED".into()), Some("NEW".into())]);
    let from = ids[1].to_string();
    let later = client
        .signed(
            Method::GET,
            "/api/v3/allOrders",
            &[("symbol", "BTCUSDT"), ("orderId", &from)],
        )
        .await;
    assert_eq!(later.ok().as_array().unwrap()[0]["orderId"], ids[1]);

    let limits = client
        .signed(Method::GET, "/api/v3/rateLimit/order", &[])
        .await;
    let limits = limits.ok().as_array().unwrap().clone();
    assert_eq!(limits.len(), 2);
    assert_eq!(
        (limits[0]["interval"].as_str(), limits[0]["limit"].as_u64()),
        (Some("SECOND"), Some(50))
    );
    assert!(limits[1]["count"].as_u64().unwrap() >= 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn legacy_listen_key_lifecycle_and_stream() {
    let mut config = calm_config();
    config.streams.listen_key_ttl_ms = 1_500;
    let (sim, client) = start(config).await;
    client
        .raw(Method::POST, "/api/v3/userDataStream", "", "", None)
        .await
        .expect_error(401, -2014, "API-key format invalid.");
    let created = client.listen_key_request(Method::POST, "").await;
    let key = created.ok()["listenKey"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 64);
    let again = client.listen_key_request(Method::POST, "").await;
    assert_eq!(
        again.ok()["listenKey"],
        key.as_str(),
        "same key while active"
    );
    let query = format!("listenKey={key}");
    let kept = client.listen_key_request(Method::PUT, &query).await;
    assert_eq!(kept.ok(), &serde_json::json!({}));
    client
        .listen_key_request(Method::PUT, "listenKey=nope")
        .await
        .expect_error(400, -1125, "This listenKey does not exist.");

    let mut ws = connect(&format!("{}/ws/{key}", sim.stream_url())).await;
    client.take_best_ask().await;
    let report = next_matching(&mut ws, |v| v["e"] == "executionReport").await;
    assert_eq!(report["s"], "BTCUSDT");
    // Without keepalive the key expires: listenKeyExpired, then nothing more for it.
    let expired = next_matching(&mut ws, |v| v["e"] == "listenKeyExpired").await;
    assert_eq!(expired["listenKey"], key.as_str());
    client
        .listen_key_request(Method::DELETE, &query)
        .await
        .expect_error(400, -1125, "This listenKey does not exist.");
    sim.shutdown().await;
}

#[tokio::test]
async fn historical_trades_page_from_an_id() {
    let (sim, client) = start(calm_config()).await;
    for _ in 0..3 {
        client.take_best_ask().await;
    }
    let (weight, latest) = weight_of(
        &client,
        "/api/v3/historicalTrades",
        &[("symbol", "BTCUSDT"), ("limit", "1000")],
    )
    .await;
    assert_eq!(weight, 25);
    let latest = latest.ok().as_array().unwrap().clone();
    assert!(latest.len() >= 3, "{latest:?}");
    let ids: Vec<u64> = latest.iter().map(|t| t["id"].as_u64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "oldest first, no gaps: {ids:?}"
    );

    let second = ids[1].to_string();
    let page = client
        .public(
            "/api/v3/historicalTrades",
            &[("symbol", "BTCUSDT"), ("fromId", &second), ("limit", "2")],
        )
        .await;
    let page = page.ok().as_array().unwrap().clone();
    assert_eq!(page, latest[1..3]);
    let beyond = (ids[ids.len() - 1] + 1).to_string();
    let none = client
        .public(
            "/api/v3/historicalTrades",
            &[("symbol", "BTCUSDT"), ("fromId", &beyond)],
        )
        .await;
    assert_eq!(none.ok().as_array().unwrap().len(), 0);
    let bad = client
        .public(
            "/api/v3/historicalTrades",
            &[("symbol", "BTCUSDT"), ("fromId", "x1")],
        )
        .await;
    assert_eq!(bad.status, 400);
    sim.shutdown().await;
}

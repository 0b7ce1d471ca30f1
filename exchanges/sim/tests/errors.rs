//! Error responses over real sockets: the venue's codes, HTTP statuses and exact messages for
//! malformed, unauthenticated and unknown requests.

mod common;

use common::*;
use reqwest::Method;

/// Order parameters, then the expected HTTP status, code and message.
type Case = (Vec<(&'static str, &'static str)>, u16, i64, String);

#[tokio::test]
async fn malformed_requests_get_venue_errors() {
    let (sim, client) = start(calm_config()).await;
    let limit = |price: &'static str, qty: &'static str| limit_buy("BTCUSDT", "GTC", qty, price);
    let with = |mut base: Vec<(&'static str, &'static str)>,
                extra: (&'static str, &'static str)| {
        base.push(extra);
        base
    };
    let mandatory = |name: &str| {
        format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    };
    let cases: Vec<Case> = vec![
        (vec![("side", "BUY")], 400, -1102, mandatory("symbol")),
        (vec![("symbol", "NOPE"), ("side", "BUY")], 400, -1121, "Invalid symbol.".into()),
        (vec![("symbol", "BTCUSDT"), ("type", "LIMIT")], 400, -1102, mandatory("side")),
        (vec![("symbol", "BTCUSDT"), ("side", "HOLD"), ("type", "LIMIT")], 400, -1117, "Invalid side.".into()),
        (vec![("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "ICEBERG")], 400, -1116, "Invalid orderType.".into()),
        (vec![("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "1"), ("price", "1")], 400, -1102, mandatory("timeInForce")),
        (limit("29000.000000001", "0.001"), 400, -1111, "Parameter 'price' has too much precision.".into()),
        (limit("29000.005", "0.001"), 400, -1013, "Filter failure: PRICE_FILTER".into()),
        (limit("29000", "0.000015"), 400, -1013, "Filter failure: LOT_SIZE".into()),
        (limit("100", "0.001"), 400, -1013, "Filter failure: NOTIONAL".into()),
        (limit("29000", "1,5"), 400, -1100, r"Illegal characters found in parameter 'quantity'; legal range is '^([0-9]{1,20})(\.[0-9]{1,20})?$'.".into()),
        (vec![("symbol", "BTCUSDT"), ("side", "SELL"), ("type", "LIMIT"), ("timeInForce", "GTC"), ("quantity", "101"), ("price", "40000")], 400, -2010, "Account has insufficient balance for requested action.".into()),
        (limit("29000", "1000"), 400, -1013, "Filter failure: NOTIONAL".into()),
        (with(limit("29000", "0.001"), ("newClientOrderId", "bad id!")), 400, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.".into()),
        (with(limit("29000", "0.001"), ("newClientOrderId", "")), 400, -1118, "New client order ID was empty.".into()),
        (vec![("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET")], 400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!".into()),
        (vec![("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.001"), ("timeInForce", "GTC")], 400, -1106, "Parameter 'timeInForce' sent when not required.".into()),
    ];
    for (params, status, code, msg) in &cases {
        client.place(params).await.expect_error(*status, *code, msg);
    }
    let cancel = client
        .signed(
            Method::DELETE,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("orderId", "999999")],
        )
        .await;
    cancel.expect_error(400, -2011, "Unknown order sent.");
    let cancel = client
        .signed(Method::DELETE, "/api/v3/order", &[("symbol", "BTCUSDT")])
        .await;
    cancel.expect_error(
        400,
        -1102,
        "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
    );
    let query = client
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("origClientOrderId", "nope")],
        )
        .await;
    query.expect_error(400, -2013, "Order does not exist.");
    let query = client
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("orderId", "12x")],
        )
        .await;
    query.expect_error(
        400,
        -1100,
        "Illegal characters found in parameter 'orderId'; legal range is '^[0-9]{1,20}$'.",
    );
    let stats = sim.stats();
    assert_eq!(
        (
            stats.orders_received,
            stats.orders_rejected,
            stats.orders_accepted
        ),
        (cases.len() as u64, cases.len() as u64, 0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn authentication_errors() {
    let (sim, client) = start(config()).await;
    let ts = now_ms().to_string();
    let query = encode(&[("timestamp", &ts)]);
    let signature = hmac_hex(&client.secret, &query);
    let path = "/api/v3/account";
    let signed = format!("{query}&signature={signature}");
    client
        .raw(Method::GET, path, &signed, "", None)
        .await
        .expect_error(401, -2014, "API-key format invalid.");
    client
        .raw(Method::GET, path, &signed, "", Some("someone-else"))
        .await
        .expect_error(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        );
    let wrong = format!("{query}&signature={}", hmac_hex("wrong-secret", &query));
    client
        .raw(Method::GET, path, &wrong, "", Some(&client.key))
        .await
        .expect_error(400, -1022, "Signature for this request is not valid.");
    let missing = "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.";
    let no_ts = format!("signature={}", hmac_hex(&client.secret, ""));
    client
        .raw(Method::GET, path, &no_ts, "", Some(&client.key))
        .await
        .expect_error(400, -1102, missing);
    let ahead = encode(&[("timestamp", &(now_ms() + 5000).to_string())]);
    let ahead = format!("{ahead}&signature={}", hmac_hex(&client.secret, &ahead));
    client
        .raw(Method::GET, path, &ahead, "", Some(&client.key))
        .await
        .expect_error(
            400,
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        );
    let window = encode(&[("recvWindow", "60001"), ("timestamp", &ts)]);
    let window = format!("{window}&signature={}", hmac_hex(&client.secret, &window));
    client
        .raw(Method::GET, path, &window, "", Some(&client.key))
        .await
        .expect_error(
            400,
            -1102,
            "'recvWindow' contains unexpected value. Cannot be greater than 60000.",
        );
    client
        .raw(Method::GET, path, &signed, "", Some(&client.key))
        .await
        .ok();
    sim.shutdown().await;
}

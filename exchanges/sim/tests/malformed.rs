//! Malformed REST requests of every kind, across endpoints: each gets the venue's JSON error
//! body with a 4xx status, never a panic, an HTML page or a dropped connection.

mod common;

use common::*;
use reqwest::Method;

/// Method, path, query, body, API key, expected code.
type RawCase<'a> = (Method, &'a str, String, &'a str, Option<&'a str>, i64);
/// Method, path, signed params, expected code.
type SignedCase<'a> = (Method, &'a str, Vec<(&'a str, &'a str)>, i64);

#[tokio::test]
async fn fuzz_table_of_bad_requests() {
    let (sim, client) = start(config()).await;
    let key = client.key.clone();
    let cases: Vec<RawCase> = vec![
        (
            Method::GET,
            "/api/v3/depth",
            "symbol=BTCUSDT&limit=-1".into(),
            "",
            None,
            -1100,
        ),
        (
            Method::GET,
            "/api/v3/depth",
            "symbol=BTCUSDT&symbol=ETHUSDT".into(),
            "",
            None,
            -1101,
        ),
        (Method::GET, "/api/v3/depth", "".into(), "", None, -1102),
        (
            Method::GET,
            "/api/v3/depth",
            "symbol=%FF%FE".into(),
            "",
            None,
            -1121,
        ),
        (
            Method::GET,
            "/api/v3/trades",
            "symbol=btcusdt".into(),
            "",
            None,
            -1121,
        ),
        (
            Method::GET,
            "/api/v3/aggTrades",
            "symbol=BTCUSDT&fromId=1&startTime=1".into(),
            "",
            None,
            -1128,
        ),
        (
            Method::GET,
            "/api/v3/aggTrades",
            "symbol=BTCUSDT&limit=99999999999999999999999".into(),
            "",
            None,
            -1100,
        ),
        (
            Method::GET,
            "/api/v3/klines",
            "symbol=BTCUSDT".into(),
            "",
            None,
            -1102,
        ),
        (
            Method::GET,
            "/api/v3/klines",
            "symbol=BTCUSDT&interval=1y".into(),
            "",
            None,
            -1120,
        ),
        (
            Method::GET,
            "/api/v3/klines",
            "symbol=BTCUSDT&interval=1m&startTime=abc".into(),
            "",
            None,
            -1100,
        ),
        (
            Method::GET,
            "/api/v3/ticker/24hr",
            "symbols=not-json".into(),
            "",
            None,
            -1102,
        ),
        (
            Method::GET,
            "/api/v3/ticker/24hr",
            "symbol=BTCUSDT&symbols=[\"BTCUSDT\"]".into(),
            "",
            None,
            -1128,
        ),
        (
            Method::GET,
            "/api/v3/ticker/bookTicker",
            "symbols=[\"NOPE\"]".into(),
            "",
            None,
            -1121,
        ),
        (
            Method::GET,
            "/api/v3/exchangeInfo",
            "symbols=[]".into(),
            "",
            None,
            -1102,
        ),
        (Method::GET, "/api/v3/account", "".into(), "", None, -2014),
        (
            Method::GET,
            "/api/v3/account",
            "".into(),
            "",
            Some("no such key"),
            -2014,
        ),
        (
            Method::GET,
            "/api/v3/account",
            "".into(),
            "",
            Some("unknown"),
            -2015,
        ),
        (
            Method::GET,
            "/api/v3/account",
            "timestamp=1".into(),
            "",
            Some(&key),
            -1102,
        ),
        (
            Method::GET,
            "/api/v3/account",
            format!("timestamp={}&signature=zz", now_ms()),
            "",
            Some(&key),
            -1022,
        ),
        (
            Method::GET,
            "/api/v3/account",
            "timestamp=1&recvWindow=70000&signature=00".into(),
            "",
            Some(&key),
            -1102,
        ),
        (
            Method::POST,
            "/api/v3/order",
            "".into(),
            "%%%",
            Some(&key),
            -1102,
        ),
        (
            Method::POST,
            "/api/v3/order/test",
            "".into(),
            "",
            Some(&key),
            -1102,
        ),
        (Method::GET, "/api/v3/allOrders", "".into(), "", None, -2014),
        (
            Method::GET,
            "/api/v3/rateLimit/order",
            "".into(),
            "",
            Some("unknown"),
            -2015,
        ),
        (
            Method::POST,
            "/api/v3/userDataStream",
            "".into(),
            "",
            Some("unknown"),
            -2015,
        ),
        (
            Method::PUT,
            "/api/v3/userDataStream",
            "".into(),
            "",
            Some(&key),
            -1102,
        ),
        (
            Method::DELETE,
            "/api/v3/userDataStream",
            "listenKey=x".into(),
            "",
            Some(&key),
            -1125,
        ),
        (Method::GET, "/api/v3/nope", "".into(), "", None, -1020),
        (Method::PATCH, "/api/v3/order", "".into(), "", None, -1020),
        (Method::GET, "/ws-api/v3", "".into(), "", None, -1020),
    ];
    for (method, path, query, body, key, code) in cases {
        let label = format!("{method} {path}?{query} {body}");
        let reply = client.raw(method, path, &query, body, key).await;
        assert!(reply.status.is_client_error(), "{label}: {reply:?}");
        assert_eq!(reply.body["code"], code, "{label}: {reply:?}");
        assert!(
            reply.body["msg"].as_str().is_some_and(|m| !m.is_empty()),
            "{label}"
        );
        assert!(
            reply.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{label}"
        );
    }
    // Signed requests with bad parameters, past the signature check.
    let signed_cases: Vec<SignedCase> = vec![
        (
            Method::DELETE,
            "/api/v3/order",
            vec![
                ("symbol", "BTCUSDT"),
                ("orderId", "1"),
                ("cancelRestrictions", "SOMETIMES"),
            ],
            -1145,
        ),
        (
            Method::DELETE,
            "/api/v3/order",
            vec![("symbol", "BTCUSDT"), ("orderId", "x1")],
            -1100,
        ),
        (
            Method::GET,
            "/api/v3/order",
            vec![
                ("symbol", "BTCUSDT"),
                ("orderId", "1"),
                ("origClientOrderId", "a"),
                ("x", "1"),
            ],
            -1104,
        ),
        (
            Method::POST,
            "/api/v3/order",
            vec![
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "1"),
                ("price", "1"),
                ("selfTradePreventionMode", "TRANSFER"),
            ],
            -1013,
        ),
        (
            Method::POST,
            "/api/v3/order",
            vec![
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "STOP_LOSS"),
                ("quantity", "1"),
            ],
            -2010,
        ),
        (
            Method::POST,
            "/api/v3/order",
            vec![
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "DAY"),
                ("quantity", "1"),
                ("price", "1"),
            ],
            -1115,
        ),
        (
            Method::POST,
            "/api/v3/order",
            vec![
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "1"),
                ("price", "1"),
                ("newOrderRespType", "ALL"),
            ],
            -1100,
        ),
        (
            Method::GET,
            "/api/v3/allOrders",
            vec![
                ("symbol", "BTCUSDT"),
                ("startTime", "2000"),
                ("endTime", "1000"),
            ],
            -1128,
        ),
        (
            Method::GET,
            "/api/v3/myTrades",
            vec![("symbol", "BTCUSDT"), ("fromId", "-1")],
            -1100,
        ),
        (
            Method::GET,
            "/api/v3/account",
            vec![("omitZeroBalances", "maybe")],
            -1102,
        ),
    ];
    for (method, path, params, code) in signed_cases {
        let label = format!("{method} {path} {params:?}");
        let reply = client.signed(method, path, &params).await;
        assert!(reply.status.is_client_error(), "{label}: {reply:?}");
        assert_eq!(reply.body["code"], code, "{label}: {reply:?}");
    }
    // The server is still fine.
    client.public("/api/v3/ping", &[]).await.ok();
    sim.shutdown().await;
}

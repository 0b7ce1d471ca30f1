//! Tests of the REST client's pure parts: order parameters, error bodies, headers.
use super::*;
use exchange_core::{Side, TimeInForce};
use rust_decimal_macros::dec;

fn order(order_type: OrderType, price: Option<rust_decimal::Decimal>) -> NewOrder {
    NewOrder {
        client_order_id: "omsd-abc_1".into(),
        venue_symbol: "BTCUSDT".into(),
        side: Side::Buy,
        order_type,
        time_in_force: TimeInForce::Ioc,
        quantity: dec!(0.00100000),
        price,
    }
}

#[test]
fn limit_order_params() {
    let params = order_params(&order(OrderType::Limit, Some(dec!(30000.10))));
    let query = encode(&params.unwrap_or_default()).unwrap_or_default();
    assert_eq!(
        query,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.001&price=30000.1&newClientOrderId=omsd-abc_1&newOrderRespType=FULL"
    );
}

#[test]
fn market_order_has_no_time_in_force() {
    let params = order_params(&order(OrderType::Market, None)).unwrap_or_default();
    let query = encode(&params).unwrap_or_default();
    assert_eq!(
        query,
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&newClientOrderId=omsd-abc_1&newOrderRespType=FULL"
    );
}

#[test]
fn signed_query_percent_encodes_before_signing_like_the_venue_vector() {
    // Reference §2.2: the official HMAC vectors, ASCII and non-ASCII symbol.
    let secret = ApiSecret::new("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j");
    let cases = [
        (
            "LTCBTC",
            "symbol=LTCBTC",
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
        ),
        (
            "１２３４５６",
            "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96",
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3",
        ),
    ];
    for (symbol, encoded, signature) in cases {
        let params: Params = vec![
            ("symbol", symbol.to_owned()),
            ("side", "BUY".to_owned()),
            ("type", "LIMIT".to_owned()),
            ("timeInForce", "GTC".to_owned()),
            ("quantity", "1".to_owned()),
            ("price", "0.1".to_owned()),
        ];
        let query = signed_query(&secret, &params, 5000, 1_499_827_319_559).unwrap_or_default();
        assert_eq!(
            query,
            format!(
                "{encoded}&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature={signature}"
            ),
            "{symbol}"
        );
    }
}

#[test]
fn invalid_orders_never_leave() {
    assert!(order_params(&order(OrderType::Limit, None)).is_err());
    assert!(order_params(&order(OrderType::Market, Some(dec!(1)))).is_err());
    let mut bad_id = order(OrderType::Market, None);
    bad_id.client_order_id = "has space".into();
    assert!(order_params(&bad_id).is_err());
    bad_id.client_order_id = "x".repeat(37);
    assert!(order_params(&bad_id).is_err());
}

#[test]
fn error_bodies() {
    let err = api_error(
        StatusCode::BAD_REQUEST,
        br#"{"code":-2013,"msg":"Order does not exist."}"#,
        None,
    );
    assert_eq!(err.code(), Some(-2013));
    let err = api_error(
        StatusCode::BAD_REQUEST,
        include_bytes!("../test_data/http_error_duplicate_order.json"),
        None,
    );
    assert_eq!(err.code(), Some(-2010));
    assert!(
        matches!(ExchangeError::from(err), ExchangeError::Duplicate { .. }),
        "a duplicate client order id is not a rejection"
    );
    let err = api_error(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>", None);
    assert_eq!(err.code(), None);
    assert!(err.to_string().contains("unreadable error body"), "{err}");
}

#[test]
fn retry_after_header_is_clamped_and_never_panics() {
    let mut headers = HeaderMap::new();
    assert_eq!(retry_after(&headers), None);
    let max = Some(MAX_PAUSE);
    let cases: [(&str, Option<Duration>); 10] = [
        ("30", Some(Duration::from_secs(30))),
        (" 7 ", Some(Duration::from_secs(7))),
        ("0", Some(Duration::ZERO)),
        ("259200", max),
        ("259201", max),
        ("18446744073709551615", max),
        ("99999999999999999999999999999", max),
        ("-5", None),
        ("1.5", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ];
    for (value, want) in cases {
        headers.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_static(value),
        );
        let got = retry_after(&headers);
        assert_eq!(got, want, "{value}");
        // Whatever the header said, pausing on it cannot overflow an instant.
        let limiter = RateLimiter::new(exchange_core::LimiterConfig::default(), &[]);
        assert!(limiter.throttled(got) <= MAX_PAUSE, "{value}");
        assert!(limiter.banned(got) <= MAX_PAUSE, "{value}");
    }
}

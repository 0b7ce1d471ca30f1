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
fn retry_after_header() {
    let mut headers = HeaderMap::new();
    assert_eq!(retry_after(&headers), None);
    headers.insert(reqwest::header::RETRY_AFTER, HeaderValue::from_static("30"));
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(30)));
}

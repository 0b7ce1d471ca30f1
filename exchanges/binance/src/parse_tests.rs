//! Tests of `parse.rs` against the venue's documented payloads in `test_data/`.

use rust_decimal_macros::dec;
use serde::de::DeserializeOwned;

use super::*;
use crate::model::{BinanceStreamFrame, BinanceUserEventFrame};

fn fixture<T: DeserializeOwned>(json: &str) -> T {
    match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => panic!("fixture does not decode: {e}"),
    }
}

fn user_event<T: DeserializeOwned>(json: &str) -> T {
    let frame: BinanceUserEventFrame = fixture(json);
    fixture(&frame.event.to_string())
}

fn stream_data<T: DeserializeOwned>(json: &str) -> T {
    let frame: BinanceStreamFrame = fixture(json);
    fixture(&frame.data.to_string())
}

#[test]
fn exchange_info_to_instruments() {
    let info = fixture(include_str!("../test_data/http_get_exchangeInfo.json"));
    let got = instruments(&"binance".to_owned(), info);
    assert_eq!(got.len(), 1);
    let btc = &got[0];
    assert_eq!(
        (btc.name.as_str(), btc.venue_symbol.as_str()),
        ("BTC-USDT", "BTCUSDT")
    );
    assert_eq!(
        (btc.base.as_str(), btc.quote.as_str(), btc.trading),
        ("BTC", "USDT", true)
    );
    assert_eq!(
        btc.filters,
        InstrumentFilters {
            tick_size: dec!(0.01),
            min_price: dec!(0.01),
            max_price: dec!(1000000),
            step_size: dec!(0.00001),
            min_qty: dec!(0.00001),
            max_qty: dec!(9000),
            min_notional: dec!(5),
            max_notional: dec!(9000000),
        }
    );
}

#[test]
fn legacy_min_notional_filter_is_read() {
    let info = fixture(
        r#"{"symbols":[{"symbol":"LTCBTC","status":"BREAK","baseAsset":"LTC","quoteAsset":"BTC",
        "filters":[{"filterType":"MIN_NOTIONAL","minNotional":"0.001","applyToMarket":true,"avgPriceMins":5},
        {"filterType":"ICEBERG_PARTS","limit":10}]}]}"#,
    );
    let got = instruments(&"binance".to_owned(), info);
    assert_eq!(got[0].filters.min_notional, dec!(0.001));
    assert!(!got[0].trading);
}

#[test]
fn full_order_answer_with_fills() {
    let snap = order_snapshot(fixture(include_str!(
        "../test_data/http_post_order_full.json"
    )));
    let snap = snap.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snap.status, OrderStatus::Filled);
    assert_eq!(
        (snap.side, snap.order_type, snap.price),
        (Side::Sell, OrderType::Market, None)
    );
    assert_eq!((snap.quantity, snap.filled_quantity), (dec!(10), dec!(10)));
    assert_eq!(snap.client_order_id, "6gCrw2kRUAF9CvJDGP16IP");
    assert_eq!(snap.venue_order_id, "28");
    assert_eq!(snap.update_time_ms, 1507725176595);
    let ids: Vec<_> = snap.fills.iter().map(|f| f.trade_id.as_str()).collect();
    assert_eq!(ids, ["56", "57"]);
    let second = &snap.fills[1];
    assert_eq!(
        (second.price, second.quantity, second.fee),
        (dec!(3999), dec!(5), dec!(19.995))
    );
    assert_eq!(second.fee_asset.as_deref(), Some("USDT"));
    assert!(!second.is_maker);
    assert_eq!(second.client_order_id, "6gCrw2kRUAF9CvJDGP16IP");
}

#[test]
fn ack_answer_is_not_a_snapshot() {
    let err = order_snapshot(fixture(include_str!(
        "../test_data/http_post_order_ack.json"
    )));
    assert!(err.is_err());
}

#[test]
fn cancel_answer_keeps_the_orders_own_client_id() {
    let snap = order_snapshot(fixture(include_str!("../test_data/http_delete_order.json")));
    let snap = snap.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snap.client_order_id, "myOrder1");
    assert_eq!(snap.status, OrderStatus::Canceled);
    assert_eq!(snap.price, Some(dec!(2)));
}

#[test]
fn query_and_open_orders() {
    let one = order_snapshot(fixture(include_str!("../test_data/http_get_order.json")));
    let one = one.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (one.status, one.price, one.side),
        (OrderStatus::New, Some(dec!(0.1)), Side::Buy)
    );
    assert_eq!(one.update_time_ms, 1499827319559);
    let open: Vec<BinanceOrder> = fixture(include_str!("../test_data/http_get_openOrders.json"));
    assert_eq!(open.len(), 1);
}

#[test]
fn status_type_and_tif_tables() {
    let statuses = [
        ("NEW", OrderStatus::New),
        ("PENDING_NEW", OrderStatus::New),
        ("PARTIALLY_FILLED", OrderStatus::PartiallyFilled),
        ("FILLED", OrderStatus::Filled),
        ("PENDING_CANCEL", OrderStatus::PendingCancel),
        ("CANCELED", OrderStatus::Canceled),
        ("REJECTED", OrderStatus::Rejected),
        ("EXPIRED", OrderStatus::Expired),
        ("EXPIRED_IN_MATCH", OrderStatus::Expired),
    ];
    for (raw, want) in statuses {
        assert_eq!(order_status(raw), Ok(want), "{raw}");
    }
    assert!(order_status("HALF_DONE").is_err());
    assert_eq!(order_type("LIMIT_MAKER"), Ok(OrderType::Limit));
    assert_eq!(order_type("STOP_LOSS"), Ok(OrderType::Market));
    assert!(order_type("OCO").is_err());
    assert_eq!(time_in_force(None), Ok(TimeInForce::Gtc));
    assert_eq!(time_in_force(Some("FOK")), Ok(TimeInForce::Fok));
    assert!(time_in_force(Some("GTD")).is_err());
    assert_eq!(execution_kind("TRADE_PREVENTION"), ExecutionKind::Other);
    assert_eq!(side("SELL"), Ok(Side::Sell));
    assert!(side("sell").is_err());
}

#[test]
fn my_trades_to_fills() {
    let fills = my_trade_fills(
        fixture(include_str!("../test_data/http_get_myTrades.json")),
        "c1",
    );
    assert_eq!(fills.len(), 1);
    let f = &fills[0];
    assert_eq!(
        (f.trade_id.as_str(), f.venue_order_id.as_str()),
        ("28457", "100234")
    );
    assert_eq!(
        (f.side, f.price, f.quantity),
        (Side::Buy, dec!(4.00000100), dec!(12))
    );
    assert_eq!(
        (f.fee, f.fee_asset.as_deref(), f.is_maker),
        (dec!(10.1), Some("BNB"), false)
    );
    assert_eq!(f.client_order_id, "c1");
}

#[test]
fn execution_report_new() {
    let report = execution_report(user_event(include_str!(
        "../test_data/ws_executionReport.json"
    )));
    let report = report.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.client_order_id, "mUvoqJxFIILMdfAW5iGSOW");
    assert_eq!(
        (report.kind, report.status),
        (ExecutionKind::New, OrderStatus::New)
    );
    assert_eq!(
        (report.venue_order_id.as_str(), report.side),
        ("4293153", Side::Buy)
    );
    assert_eq!(
        (report.quantity, report.filled_quantity),
        (dec!(1), dec!(0))
    );
    assert_eq!((report.fill, report.reject_reason), (None, None));
    assert_eq!(report.event_time_ms, 1499405658658);
}

#[test]
fn execution_report_trade_carries_the_fill() {
    let raw = include_str!("../test_data/ws_executionReport_trade.json");
    let report = execution_report(user_event(raw)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.kind, ExecutionKind::Trade);
    assert_eq!(report.status, OrderStatus::PartiallyFilled);
    assert_eq!(report.filled_quantity, dec!(0.4));
    let fill = report.fill.unwrap_or_else(|| panic!("no fill"));
    assert_eq!(fill.trade_id, "1234567");
    assert_eq!((fill.price, fill.quantity), (dec!(0.10264410), dec!(0.4)));
    assert_eq!(
        (fill.fee, fill.fee_asset.as_deref()),
        (dec!(0.0004), Some("ETH"))
    );
    assert!(fill.is_maker);
    assert_eq!(
        (fill.time_ms, fill.client_order_id.as_str()),
        (1499405658700, "mUvoqJxFIILMdfAW5iGSOW")
    );
}

#[test]
fn canceled_report_uses_the_original_client_id() {
    let raw = include_str!("../test_data/ws_executionReport_canceled.json");
    let report = execution_report(user_event(raw)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.client_order_id, "mUvoqJxFIILMdfAW5iGSOW");
    assert_eq!(
        (report.kind, report.status),
        (ExecutionKind::Canceled, OrderStatus::Canceled)
    );
}

#[test]
fn null_original_id_falls_back_to_c() {
    let mut value: serde_json::Value =
        fixture::<BinanceUserEventFrame>(include_str!("../test_data/ws_executionReport.json"))
            .event;
    value["C"] = serde_json::Value::Null;
    value["r"] = "INSUFFICIENT_BALANCES".into();
    let report = execution_report(fixture(&value.to_string())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.client_order_id, "mUvoqJxFIILMdfAW5iGSOW");
    assert_eq!(
        report.reject_reason.as_deref(),
        Some("INSUFFICIENT_BALANCES")
    );
}

#[test]
fn balances_from_stream_and_account() {
    let raw = include_str!("../test_data/ws_outboundAccountPosition.json");
    let got = position_balances(user_event(raw));
    assert_eq!(
        got,
        vec![Balance {
            asset: "ETH".into(),
            free: dec!(10000),
            locked: dec!(0)
        }]
    );
    let got = account_balances(fixture(include_str!("../test_data/http_get_account.json")));
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].asset.as_str(), got[0].free),
        ("BTC", dec!(4723846.89208129))
    );
}

#[test]
fn depth_snapshot_and_update() {
    let snap = book_snapshot(
        "BNBBTC",
        fixture(include_str!("../test_data/http_get_depth.json")),
    );
    assert_eq!(snap.last_update_id, 1027024);
    assert_eq!(snap.bids, vec![Level::new(dec!(4), dec!(431))]);
    assert_eq!(snap.asks, vec![Level::new(dec!(4.000002), dec!(12))]);
    let delta = book_delta(stream_data(include_str!(
        "../test_data/ws_depthUpdate.json"
    )));
    assert_eq!((delta.first_update_id, delta.last_update_id), (157, 160));
    assert_eq!(delta.venue_symbol, "BNBBTC");
    assert_eq!(delta.bids, vec![Level::new(dec!(0.0024), dec!(10))]);
    assert_eq!(delta.asks, vec![Level::new(dec!(0.0026), dec!(100))]);
    assert_eq!(delta.event_time_ms, 1672515782136);
}

#[test]
fn trade_taker_side_follows_m() {
    let t = trade(stream_data(include_str!("../test_data/ws_trade.json")));
    assert_eq!((t.trade_id.as_str(), t.taker_side), ("12345", Side::Sell));
    assert_eq!(
        (t.price, t.quantity, t.time_ms),
        (dec!(0.001), dec!(100), 1672515782136)
    );
    let mut raw: BinanceTrade = stream_data(include_str!("../test_data/ws_trade.json"));
    raw.buyer_is_maker = false;
    assert_eq!(trade(raw).taker_side, Side::Buy);
}

#[test]
fn expiry_reason_is_read_and_unknown_values_are_tolerated() {
    let base =
        fixture::<BinanceUserEventFrame>(include_str!("../test_data/ws_executionReport.json"))
            .event;
    // (execution type, eR, expected reason)
    let cases: [(&str, serde_json::Value, Option<&str>); 6] = [
        ("EXPIRED", "IOC_NOT_FILLED".into(), Some("IOC_NOT_FILLED")),
        (
            "EXPIRED",
            "SOMETHING_NEW_2027".into(),
            Some("SOMETHING_NEW_2027"),
        ),
        ("EXPIRED", 7.into(), Some("7")),
        ("EXPIRED", "NONE".into(), None),
        ("EXPIRED", serde_json::Value::Null, None),
        ("NEW", "IOC_NOT_FILLED".into(), None),
    ];
    for (execution, reason, want) in cases {
        let mut value = base.clone();
        value["x"] = execution.into();
        value["X"] = if execution == "NEW" { "NEW" } else { "EXPIRED" }.into();
        value["eR"] = reason.clone();
        let report = execution_report(fixture(&value.to_string()));
        let got = report.map(|r| r.reject_reason);
        assert_eq!(got, Ok(want.map(str::to_owned)), "{execution} {reason}");
    }
    // Order payloads carry `expiryReason` since 2026: tolerated.
    let mut order: serde_json::Value =
        fixture(include_str!("../test_data/http_post_order_full.json"));
    order["expiryReason"] = "SOMETHING_NEW".into();
    let snap = order_snapshot(fixture(&order.to_string()));
    assert!(snap.is_ok(), "{snap:?}");
}

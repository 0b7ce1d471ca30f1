//! Every pre-trade risk rule through the order processor: each refusal names its rule and the
//! limit, and nothing is written or sent for a refused order.

use std::sync::Arc;

use exchange_core::Side;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::Harness;
use crate::oms::limits::BookMid;
use crate::oms::{OmsError, Submitted};

async fn refusal(
    h: &Harness,
    key: &str,
    side: Side,
    quantity: Decimal,
    price: Decimal,
) -> (&'static str, String) {
    match h.submit(key, side, quantity, price).await {
        Err(OmsError::Risk { code, limit, .. }) => (code, limit),
        other => panic!("{key}: expected a risk refusal, got {other:?}"),
    }
}

async fn accepted(h: &Harness, key: &str, side: Side, quantity: Decimal, price: Decimal) {
    match h.submit(key, side, quantity, price).await {
        Ok(Submitted::Created { answered, .. }) => {
            answered.await.expect("answered");
        }
        other => panic!("{key}: expected an accepted order, got {other:?}"),
    }
}

#[tokio::test]
async fn max_order_notional() {
    let h = Harness::start(r#"max_order_notional = "1000""#).await;
    accepted(&h, "n-ok", Side::Buy, dec!(10), dec!(100)).await;
    let (code, limit) = refusal(&h, "n-big", Side::Buy, dec!(10.01), dec!(100)).await;
    assert_eq!(code, "max_order_notional");
    assert!(limit.contains("1000"), "{limit}");
    assert_eq!(h.venue.sends(), 1);
    h.stop().await;
}

#[tokio::test]
async fn price_band_and_book_out_of_sync() {
    let h = Harness::start(r#"price_band_pct = "2""#).await;
    accepted(&h, "b-ok", Side::Buy, dec!(1), dec!(102)).await;
    let (code, _) = refusal(&h, "b-far", Side::Buy, dec!(1), dec!(102.5)).await;
    assert_eq!(code, "price_outside_band");
    h.mids.send_modify(|t| {
        Arc::make_mut(t).insert(
            ("fake".into(), "BTCUSDT".into()),
            BookMid {
                in_sync: false,
                mid: None,
            },
        );
    });
    let (code, _) = refusal(&h, "b-nosync", Side::Buy, dec!(1), dec!(100)).await;
    assert_eq!(code, "book_out_of_sync");
    h.stop().await;
}

#[tokio::test]
async fn max_open_orders() {
    let h = Harness::start("max_open_orders = 2").await;
    accepted(&h, "o-1", Side::Buy, dec!(1), dec!(100)).await;
    accepted(&h, "o-2", Side::Buy, dec!(1), dec!(100)).await;
    let (code, limit) = refusal(&h, "o-3", Side::Buy, dec!(1), dec!(100)).await;
    assert_eq!(code, "max_open_orders");
    assert!(limit.contains('2'), "{limit}");
    h.stop().await;
}

#[tokio::test]
async fn max_position_counts_holdings_and_open_buys() {
    // The fake venue reports 1 BTC held.
    let h = Harness::start(r#"max_position = { BTC = "2.5" }"#).await;
    accepted(&h, "p-1", Side::Buy, dec!(1), dec!(100)).await;
    let (code, _) = refusal(&h, "p-2", Side::Buy, dec!(0.6), dec!(100)).await;
    assert_eq!(code, "max_position");
    accepted(&h, "p-3", Side::Buy, dec!(0.5), dec!(100)).await;
    // A sell reduces a spot position: never refused by this rule.
    accepted(&h, "p-4", Side::Sell, dec!(1), dec!(100)).await;
    h.stop().await;
}

#[tokio::test]
async fn order_rate_window() {
    let h = Harness::start("order_rate = { max_orders = 3, window_ms = 60000 }").await;
    for i in 0..3 {
        accepted(&h, &format!("r-{i}"), Side::Buy, dec!(1), dec!(100)).await;
    }
    let (code, _) = refusal(&h, "r-4", Side::Buy, dec!(1), dec!(100)).await;
    assert_eq!(code, "order_rate");
    h.stop().await;
}

#[tokio::test]
async fn instrument_overrides_win() {
    let h = Harness::start(
        r#"max_order_notional = "100000"
        [venues.risk.instruments."BTC-USDT"]
        max_order_notional = "50""#,
    )
    .await;
    let (code, limit) = refusal(&h, "i-1", Side::Buy, dec!(1), dec!(100)).await;
    assert_eq!(code, "max_order_notional");
    assert!(limit.contains("50"), "{limit}");
    h.stop().await;
}

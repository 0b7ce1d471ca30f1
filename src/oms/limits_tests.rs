//! Table-driven tests of every risk rule at its boundaries, overrides and the order-rate window.

use exchange_core::{InstrumentFilters, TimeInForce};
use rust_decimal_macros::dec;

use super::*;
use crate::config::{InstrumentRiskConfig, RiskConfig};

fn instrument(symbol: &str) -> Instrument {
    let (base, quote) = symbol.split_once('-').unwrap();
    Instrument {
        venue: "binance".into(),
        name: symbol.into(),
        venue_symbol: symbol.replace('-', ""),
        base: base.into(),
        quote: quote.into(),
        trading: true,
        filters: InstrumentFilters::default(),
    }
}

fn limit(symbol: &str, side: Side, quantity: Decimal, price: Decimal) -> SubmitRequest {
    SubmitRequest {
        venue: "binance".into(),
        symbol: symbol.into(),
        side,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        quantity,
        price: Some(price),
        client_order_id: None,
        idempotency_key: "k".into(),
    }
}

fn market(symbol: &str, side: Side, quantity: Decimal) -> SubmitRequest {
    SubmitRequest {
        order_type: OrderType::Market,
        price: None,
        ..limit(symbol, side, quantity, Decimal::ZERO)
    }
}

/// Venue: notional 50000, band 2%, 10 open orders, BTC position 2; ETH-USDT overrides
/// notional 1000, band 0.5%, 3 open orders.
fn limits() -> Limits {
    let mut config = RiskConfig {
        max_order_notional: Some(dec!(50000)),
        price_band_pct: dec!(2),
        max_open_orders: Some(10),
        ..RiskConfig::default()
    };
    config.max_position.insert("btc".into(), dec!(2));
    config.instruments.insert(
        "ETH-USDT".into(),
        InstrumentRiskConfig {
            max_order_notional: Some(dec!(1000)),
            price_band_pct: Some(dec!(0.5)),
            max_open_orders: Some(3),
        },
    );
    config.instruments.insert(
        "SOL-USDT".into(),
        InstrumentRiskConfig {
            price_band_pct: Some(dec!(10)),
            ..InstrumentRiskConfig::default()
        },
    );
    Limits::new(&config)
}

const IN_SYNC: BookMid = BookMid {
    in_sync: true,
    mid: Some(dec!(10000)),
};

fn flat() -> Exposure {
    Exposure {
        open_orders_venue: 0,
        base_holdings: Some(Decimal::ZERO),
        open_buy_base_quantity: Decimal::ZERO,
    }
}

#[test]
fn overrides_resolve_per_symbol() {
    let limits = limits();
    let btc = limits.for_symbol("BTC-USDT");
    assert_eq!(btc.max_order_notional, Some(dec!(50000)));
    assert_eq!(btc.price_band_pct, dec!(2));
    assert_eq!(btc.max_open_orders, Some(10));
    let eth = limits.for_symbol("ETH-USDT");
    assert_eq!(eth.max_order_notional, Some(dec!(1000)));
    assert_eq!(eth.price_band_pct, dec!(0.5));
    assert_eq!(eth.max_open_orders, Some(3));
    // A partial override keeps the venue's other values.
    let sol = limits.for_symbol("SOL-USDT");
    assert_eq!(sol.price_band_pct, dec!(10));
    assert_eq!(sol.max_order_notional, Some(dec!(50000)));
    assert_eq!(sol.max_open_orders, Some(10));
    assert_eq!(limits.max_position("BTC"), Some(dec!(2)));
    assert_eq!(limits.max_position("btc"), Some(dec!(2)));
    assert_eq!(limits.max_position("ETH"), None);
}

/// (case, request, book, exposure, expected refusal code and limit text)
type Case = (
    &'static str,
    SubmitRequest,
    Option<BookMid>,
    Exposure,
    Option<(&'static str, &'static str)>,
);

#[test]
fn every_rule_and_boundary() {
    let out_of_sync = BookMid {
        in_sync: false,
        ..IN_SYNC
    };
    let no_mid = BookMid {
        in_sync: true,
        mid: None,
    };
    let eth_book = BookMid {
        in_sync: true,
        mid: Some(dec!(100)),
    };
    let open = |n| Exposure {
        open_orders_venue: n,
        ..flat()
    };
    let holding = |held: Option<Decimal>, open_buys: Decimal| Exposure {
        base_holdings: held,
        open_buy_base_quantity: open_buys,
        ..flat()
    };
    let buy = Side::Buy;
    let sell = Side::Sell;
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("plain order", limit("BTC-USDT", buy, dec!(1), dec!(10000)), Some(IN_SYNC), flat(), None),
        // Book.
        ("no book", limit("BTC-USDT", buy, dec!(1), dec!(10000)), None, flat(), Some(("book_out_of_sync", "in-sync book required"))),
        ("book out of sync", limit("BTC-USDT", sell, dec!(1), dec!(10000)), Some(out_of_sync), flat(), Some(("book_out_of_sync", "in-sync book required"))),
        ("book without mid", market("BTC-USDT", sell, dec!(1)), Some(no_mid), flat(), Some(("book_out_of_sync", "in-sync book required"))),
        // Price band: 2% of 10000 = [9800, 10200], bounds included.
        ("band upper bound", limit("BTC-USDT", buy, dec!(1), dec!(10200)), Some(IN_SYNC), flat(), None),
        ("band lower bound", limit("BTC-USDT", sell, dec!(1), dec!(9800)), Some(IN_SYNC), flat(), None),
        ("above band", limit("BTC-USDT", buy, dec!(1), dec!(10200.01)), Some(IN_SYNC), flat(), Some(("price_outside_band", "2%"))),
        ("below band", limit("BTC-USDT", sell, dec!(1), dec!(9799.99)), Some(IN_SYNC), flat(), Some(("price_outside_band", "2%"))),
        ("market order has no band", market("BTC-USDT", sell, dec!(1)), Some(IN_SYNC), flat(), None),
        // Override band 0.5% of 100 = [99.5, 100.5].
        ("override band bound", limit("ETH-USDT", buy, dec!(1), dec!(100.5)), Some(eth_book), flat(), None),
        ("override band exceeded", limit("ETH-USDT", buy, dec!(1), dec!(100.51)), Some(eth_book), flat(), Some(("price_outside_band", "0.5%"))),
        ("override band wider", limit("SOL-USDT", buy, dec!(1), dec!(10900)), Some(IN_SYNC), flat(), None),
        // Notional: 5 x 10000 = 50000 is at the limit.
        ("notional at limit", limit("BTC-USDT", sell, dec!(5), dec!(10000)), Some(IN_SYNC), flat(), None),
        ("notional over limit", limit("BTC-USDT", sell, dec!(5.0001), dec!(10000)), Some(IN_SYNC), flat(), Some(("max_order_notional", "50000"))),
        ("market notional at mid", market("BTC-USDT", sell, dec!(5)), Some(IN_SYNC), flat(), None),
        ("market notional over", market("BTC-USDT", sell, dec!(5.0001)), Some(IN_SYNC), flat(), Some(("max_order_notional", "50000"))),
        ("override notional at limit", limit("ETH-USDT", sell, dec!(10), dec!(100)), Some(eth_book), flat(), None),
        ("override notional over", limit("ETH-USDT", sell, dec!(10.01), dec!(100)), Some(eth_book), flat(), Some(("max_order_notional", "1000"))),
        ("notional overflow refused", market("BTC-USDT", sell, Decimal::MAX), Some(IN_SYNC), flat(), Some(("max_order_notional", "50000"))),
        // Open orders: 9 open + this one = 10 is at the limit.
        ("open orders at limit", limit("BTC-USDT", sell, dec!(1), dec!(10000)), Some(IN_SYNC), open(9), None),
        ("open orders over", limit("BTC-USDT", sell, dec!(1), dec!(10000)), Some(IN_SYNC), open(10), Some(("max_open_orders", "10"))),
        ("override open orders at limit", limit("ETH-USDT", sell, dec!(1), dec!(100)), Some(eth_book), open(2), None),
        ("override open orders over", limit("ETH-USDT", sell, dec!(1), dec!(100)), Some(eth_book), open(3), Some(("max_open_orders", "3"))),
        // Position: held 0.5 + open buys 0.5 + 1 = 2 is at the limit.
        ("position at limit", limit("BTC-USDT", buy, dec!(1), dec!(10000)), Some(IN_SYNC), holding(Some(dec!(0.5)), dec!(0.5)), None),
        ("position over", limit("BTC-USDT", buy, dec!(1.0001), dec!(10000)), Some(IN_SYNC), holding(Some(dec!(0.5)), dec!(0.5)), Some(("max_position", "2"))),
        ("open buys count", limit("BTC-USDT", buy, dec!(0.1), dec!(10000)), Some(IN_SYNC), holding(Some(dec!(0)), dec!(1.95)), Some(("max_position", "2"))),
        ("sell reduces position", limit("BTC-USDT", sell, dec!(1), dec!(10000)), Some(IN_SYNC), holding(Some(dec!(5)), dec!(0)), None),
        ("position unknown", limit("BTC-USDT", buy, dec!(0.1), dec!(10000)), Some(IN_SYNC), holding(None, dec!(0)), Some(("position_unknown", "2"))),
        ("sell with unknown position", limit("BTC-USDT", sell, dec!(0.1), dec!(10000)), Some(IN_SYNC), holding(None, dec!(0)), None),
        ("no position limit on ETH", limit("ETH-USDT", buy, dec!(1), dec!(100)), Some(eth_book), holding(None, dec!(1000)), None),
    ];
    let limits = limits();
    for (case, req, book, exposure, want) in cases {
        let got = check_order(
            &limits,
            &req,
            &instrument(&req.symbol),
            book.as_ref(),
            &exposure,
        );
        match (got, want) {
            (Ok(()), None) => {}
            (Err(r), Some((code, limit))) => {
                assert_eq!((r.code, r.limit.as_str()), (code, limit), "{case}: {r:?}");
                assert!(!r.message.is_empty(), "{case}");
            }
            (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn messages_name_the_values() {
    let limits = limits();
    let btc = instrument("BTC-USDT");
    let check = |req: SubmitRequest, exposure: Exposure| {
        check_order(&limits, &req, &btc, Some(&IN_SYNC), &exposure)
            .unwrap_err()
            .message
    };
    let band = check(limit("BTC-USDT", Side::Buy, dec!(1), dec!(10300)), flat());
    for part in ["10300", "10000", "2%", "3%"] {
        assert!(band.contains(part), "{part} not in {band}");
    }
    let notional = check(limit("BTC-USDT", Side::Sell, dec!(6), dec!(10000)), flat());
    for part in ["60000", "50000", "USDT"] {
        assert!(notional.contains(part), "{part} not in {notional}");
    }
    let open = Exposure {
        open_orders_venue: 12,
        ..flat()
    };
    let orders = check(limit("BTC-USDT", Side::Sell, dec!(1), dec!(10000)), open);
    assert!(orders.contains("12") && orders.contains("10"), "{orders}");
    let held = Exposure {
        base_holdings: Some(dec!(1.5)),
        open_buy_base_quantity: dec!(0.25),
        ..flat()
    };
    let position = check(limit("BTC-USDT", Side::Buy, dec!(1), dec!(10000)), held);
    for part in ["2.75", "1.5", "0.25", "BTC"] {
        assert!(position.contains(part), "{part} not in {position}");
    }
}

#[test]
fn extreme_values_are_refused_not_panicking() {
    let limits = limits();
    let btc = instrument("BTC-USDT");
    let tiny_mid = BookMid {
        in_sync: true,
        mid: Some(Decimal::new(1, 28)),
    };
    let huge_mid = BookMid {
        in_sync: true,
        mid: Some(Decimal::MAX),
    };
    let far = limit("BTC-USDT", Side::Buy, dec!(1), dec!(100000000000000000000));
    let r = check_order(&limits, &far, &btc, Some(&tiny_mid), &flat()).unwrap_err();
    assert_eq!(r.code, "price_outside_band", "{r:?}");
    assert!(r.message.contains("far"), "{}", r.message);
    let low = limit("BTC-USDT", Side::Sell, dec!(1), dec!(1));
    let r = check_order(&limits, &low, &btc, Some(&huge_mid), &flat()).unwrap_err();
    assert_eq!(r.code, "price_outside_band", "{r:?}");
    let zero_mid = BookMid {
        in_sync: true,
        mid: Some(Decimal::ZERO),
    };
    let r = check_order(&limits, &low, &btc, Some(&zero_mid), &flat()).unwrap_err();
    assert_eq!(r.code, "book_out_of_sync", "{r:?}");
    let huge_buy = Exposure {
        base_holdings: Some(Decimal::MAX),
        ..flat()
    };
    let small = limit("BTC-USDT", Side::Buy, dec!(0.001), dec!(10000));
    let r = check_order(&limits, &small, &btc, Some(&IN_SYNC), &huge_buy).unwrap_err();
    assert_eq!(r.code, "max_position", "{r:?}");
}

#[test]
fn no_limits_configured_only_needs_a_book() {
    let limits = Limits::new(&RiskConfig::default());
    let exposure = Exposure {
        open_orders_venue: 100_000,
        base_holdings: None,
        open_buy_base_quantity: dec!(1000000),
    };
    let req = market("BTC-USDT", Side::Buy, dec!(1000000));
    let btc = instrument("BTC-USDT");
    assert_eq!(
        check_order(&limits, &req, &btc, Some(&IN_SYNC), &exposure),
        Ok(())
    );
    assert_eq!(
        check_order(&limits, &req, &btc, None, &exposure)
            .unwrap_err()
            .code,
        "book_out_of_sync"
    );
    assert!(limits.order_rate_window().is_none());
}

#[test]
fn order_rate_window_slides() {
    let config = OrderRateConfig {
        max_orders: 3,
        window_ms: 1000,
    };
    let mut window = Limits::new(&RiskConfig {
        order_rate: Some(config),
        ..RiskConfig::default()
    })
    .order_rate_window()
    .unwrap();
    // (now_ms, admitted?)
    let steps = [
        (0, true),
        (100, true),
        (999, true),
        (999, false), // three in (-1, 999]
        (1000, true), // the order at 0 left the window exactly now
        (1050, false),
        (1099, false),
        (1100, true), // the order at 100 left
        (1998, false),
        (1999, true), // 999 left
        (5000, true), // all left
        (5000, true),
        (5000, true),
        (5001, false),
    ];
    for (now_ms, admitted) in steps {
        let got = window.admit(now_ms);
        assert_eq!(got.is_ok(), admitted, "at {now_ms}: {got:?}");
        assert!(window.admitted.len() <= 3, "memory bounded by max_orders");
    }
    assert_eq!(window.tripped_count(), 5);
    let refusal = window.admit(5002).unwrap_err();
    assert_eq!(refusal.code, "order_rate");
    assert_eq!(refusal.limit, "3 orders per 1000 ms");
    assert!(refusal.message.contains("998 ms"), "{}", refusal.message);
    assert_eq!(window.tripped_count(), 6);
}

#[test]
fn order_rate_window_of_one() {
    let mut window = OrderRateWindow::new(&OrderRateConfig {
        max_orders: 1,
        window_ms: 10,
    });
    assert!(window.admit(0).is_ok());
    assert!(window.admit(9).is_err());
    assert!(window.admit(10).is_ok());
    // A clock step backwards never admits more than the limit.
    assert!(window.admit(5).is_err());
    assert!(window.admit(20).is_ok());
}

#[test]
fn kill_switch_refusal_is_stable() {
    let r = kill_switch_refusal();
    assert_eq!(r.code, "kill_switch_engaged");
    assert_eq!(r.limit, "kill switch on");
    assert_eq!(r.to_string(), r.message);
}

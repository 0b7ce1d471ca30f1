//! Self-trade prevention: each mode against a resting order of the same account, table-driven.

use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::config::SimConfig;

const SYM: SymbolId = SymbolId(0);
const BTC: AssetId = AssetId(0);

fn engine() -> (Engine, AccountId, AccountId) {
    let config = SimConfig::default();
    let catalog = Arc::new(Catalog::new(&config.symbols, std::iter::empty()));
    let fees = Fees {
        maker: dec!(0),
        taker: dec!(0),
    };
    let mut engine = Engine::new(catalog, fees, 3, 1000);
    let (user, other) = (engine.open_account(true), engine.open_account(true));
    for account in [user, other] {
        engine.deposit(account, BTC, dec!(10), 0);
        engine.deposit(account, AssetId(1), dec!(1000000), 0);
    }
    engine.take_events();
    (engine, user, other)
}

fn order(account: AccountId, side: Side, qty: Decimal, stp: Option<StpMode>) -> NewOrder {
    NewOrder {
        symbol: SYM,
        account,
        side,
        kind: OrderKind::Limit {
            price: dec!(30000),
            tif: TimeInForce::Gtc,
        },
        amount: Amount::Base(qty),
        client_order_id: None,
        stp,
    }
}

#[test]
fn each_mode_against_an_own_resting_order() {
    use OrderStatus::*;
    // mode, maker qty, taker qty, maker status after, taker status after, trades
    let cases = [
        (None, dec!(1), dec!(1), ExpiredInMatch, New, 0),
        (
            Some(StpMode::ExpireMaker),
            dec!(1),
            dec!(1),
            ExpiredInMatch,
            New,
            0,
        ),
        (
            Some(StpMode::ExpireTaker),
            dec!(1),
            dec!(1),
            New,
            ExpiredInMatch,
            0,
        ),
        (
            Some(StpMode::ExpireBoth),
            dec!(1),
            dec!(1),
            ExpiredInMatch,
            ExpiredInMatch,
            0,
        ),
        (
            Some(StpMode::Decrement),
            dec!(2),
            dec!(1),
            New,
            ExpiredInMatch,
            0,
        ),
        (
            Some(StpMode::Decrement),
            dec!(1),
            dec!(2),
            ExpiredInMatch,
            New,
            0,
        ),
        (Some(StpMode::None), dec!(1), dec!(1), Filled, Filled, 1),
    ];
    for (mode, maker_qty, taker_qty, maker_status, taker_status, trades) in cases {
        let (mut engine, user, _) = engine();
        let maker = engine
            .place(order(user, Side::Sell, maker_qty, None), 1)
            .unwrap()
            .order;
        let placed = engine
            .place(order(user, Side::Buy, taker_qty, mode), 2)
            .unwrap();
        let label = format!("{mode:?} {maker_qty} {taker_qty}");
        assert_eq!(placed.order.status, taker_status, "taker {label}");
        assert_eq!(placed.fills.len(), trades, "{label}");
        let maker_now = engine
            .query(
                user,
                SYM,
                &OrderKey {
                    order_id: Some(maker.id),
                    client_order_id: None,
                },
            )
            .unwrap();
        assert_eq!(maker_now.status, maker_status, "maker {label}");
        let reports: Vec<_> = engine
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                EngineEvent::Execution(r) if r.exec_type == ExecType::TradePrevention => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(
            reports.is_empty(),
            trades == 1,
            "prevention reports {label}"
        );
        if mode == Some(StpMode::Decrement) {
            let prevented = maker_qty.min(taker_qty);
            assert_eq!(maker_now.prevented_qty, prevented, "{label}");
            assert_eq!(placed.order.prevented_qty, prevented, "{label}");
        }
        // Whatever happened, reservations match what still rests.
        let locked: Decimal = engine
            .open_orders(user, Some(SYM))
            .iter()
            .filter(|o| o.side == Side::Sell)
            .map(|o| o.locked)
            .sum();
        assert_eq!(engine.balance(user, BTC).locked, locked, "{label}");
        let book = engine.book(SYM).unwrap();
        assert!(
            !book.crosses(Side::Buy, book.best(Side::Buy).unwrap_or(Decimal::ZERO)) || trades == 1
        );
    }
}

#[test]
fn other_accounts_trade_before_own_order_is_prevented() {
    let (mut engine, user, other) = engine();
    engine
        .place(order(other, Side::Sell, dec!(1), None), 1)
        .unwrap();
    let own = engine
        .place(order(user, Side::Sell, dec!(1), None), 2)
        .unwrap()
        .order;
    engine
        .place(order(other, Side::Sell, dec!(1), None), 3)
        .unwrap();
    let placed = engine
        .place(
            order(user, Side::Buy, dec!(2), Some(StpMode::ExpireMaker)),
            4,
        )
        .unwrap();
    assert_eq!(placed.order.status, OrderStatus::Filled);
    assert_eq!(
        placed.fills.len(),
        2,
        "traded with both of the other account's orders"
    );
    assert!(
        engine.open_order(SYM, own.id).is_none(),
        "own order expired in match"
    );
    assert_eq!(placed.order.prevented_match_id, Some(1));
}

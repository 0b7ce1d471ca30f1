//! Property tests of the engine over random sequences of placements and cancels by several
//! accounts (self-trade prevention included): the book is never crossed, balances plus fees
//! are conserved, price-time priority holds, no order fills beyond its quantity, and every
//! account's locked balance equals the reservations of its open orders.

use std::sync::Arc;

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::config::SimConfig;

const SYM: SymbolId = SymbolId(0);
const ACCOUNTS: u32 = 3;

#[derive(Clone, Debug)]
enum Op {
    Limit {
        account: u32,
        buy: bool,
        ticks: i64,
        lots: i64,
        tif: u8,
        stp: u8,
    },
    Maker {
        account: u32,
        buy: bool,
        ticks: i64,
        lots: i64,
    },
    Market {
        account: u32,
        buy: bool,
        lots: i64,
        quote: bool,
        stp: u8,
    },
    Cancel {
        account: u32,
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let side = any::<bool>();
    let account = 0..ACCOUNTS;
    prop_oneof![
        4 => (account.clone(), side, -10_i64..10, 1_i64..50, 0_u8..3, 0_u8..6).prop_map(
            |(account, buy, ticks, lots, tif, stp)| Op::Limit { account, buy, ticks, lots, tif, stp }
        ),
        1 => (account.clone(), side, -10_i64..10, 1_i64..50)
            .prop_map(|(account, buy, ticks, lots)| Op::Maker { account, buy, ticks, lots }),
        1 => (account.clone(), side, 1_i64..80, any::<bool>(), 0_u8..6)
            .prop_map(|(account, buy, lots, quote, stp)| Op::Market { account, buy, lots, quote, stp }),
        2 => (account, any::<usize>()).prop_map(|(account, pick)| Op::Cancel { account, pick }),
    ]
}

fn stp(code: u8) -> Option<StpMode> {
    StpMode::ALL.get(usize::from(code)).copied()
}

fn side(buy: bool) -> Side {
    if buy { Side::Buy } else { Side::Sell }
}

/// Runs one op; returns the execution reports it caused.
fn apply(engine: &mut Engine, op: &Op) -> Vec<ExecutionReport> {
    let price = |ticks: i64| dec!(30000) + Decimal::from(ticks);
    let qty = |lots: i64| Decimal::from(lots) * dec!(0.001);
    let new = |account: u32, buy: bool, kind, amount, stp| NewOrder {
        symbol: SYM,
        account: AccountId(account),
        side: side(buy),
        kind,
        amount,
        client_order_id: None,
        stp,
    };
    let _ = match *op {
        Op::Limit {
            account,
            buy,
            ticks,
            lots,
            tif,
            stp: mode,
        } => {
            let tif = [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok][usize::from(tif)];
            let kind = OrderKind::Limit {
                price: price(ticks),
                tif,
            };
            engine
                .place(
                    new(account, buy, kind, Amount::Base(qty(lots)), stp(mode)),
                    1,
                )
                .map(|_| ())
        }
        Op::Maker {
            account,
            buy,
            ticks,
            lots,
        } => {
            let kind = OrderKind::LimitMaker {
                price: price(ticks),
            };
            engine
                .place(new(account, buy, kind, Amount::Base(qty(lots)), None), 1)
                .map(|_| ())
        }
        Op::Market {
            account,
            buy,
            lots,
            quote,
            stp: mode,
        } => {
            let amount = if quote {
                Amount::Quote(Decimal::from(lots) * dec!(30))
            } else {
                Amount::Base(qty(lots))
            };
            engine
                .place(new(account, buy, OrderKind::Market, amount, stp(mode)), 1)
                .map(|_| ())
        }
        Op::Cancel { account, pick } => {
            let open = engine.open_orders(AccountId(account), Some(SYM));
            match open.get(pick % open.len().max(1)) {
                Some(order) => {
                    let key = OrderKey {
                        order_id: Some(order.id),
                        client_order_id: None,
                    };
                    engine
                        .cancel(AccountId(account), SYM, &key, None, 1)
                        .map(|_| ())
                }
                None => Ok(()),
            }
        }
    };
    engine
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            EngineEvent::Execution(report) => Some(*report),
            _ => None,
        })
        .collect()
}

fn check(
    engine: &Engine,
    reports: &[ExecutionReport],
    fees: &mut [Decimal; 2],
    initial: Decimal,
) -> Result<(), TestCaseError> {
    // Not crossed.
    let book = engine
        .book(SYM)
        .ok_or_else(|| TestCaseError::fail("no book"))?;
    if let (Some(bid), Some(ask)) = (book.best(Side::Buy), book.best(Side::Sell)) {
        prop_assert!(bid < ask, "crossed: {bid} >= {ask}");
    }
    // Filled never exceeds the order quantity; trades at or better than the taker's limit.
    for r in reports {
        prop_assert!(
            r.order.executed_qty <= r.order.orig_qty,
            "overfilled {:?}",
            r.order
        );
        prop_assert!(
            r.order.remaining() >= Decimal::ZERO,
            "negative remaining {:?}",
            r.order
        );
        if let Some(last) = &r.last {
            fees[last.commission_asset.0] += last.commission;
        }
    }
    // Price-time priority: a taker's makers come best price first, then oldest first.
    let makers: Vec<(Decimal, OrderId, Side)> = reports
        .iter()
        .filter(|r| r.last.as_ref().is_some_and(|l| l.is_maker))
        .map(|r| {
            (
                r.last.as_ref().map_or(Decimal::ZERO, |l| l.price),
                r.order.id,
                r.order.side,
            )
        })
        .collect();
    for pair in makers.windows(2) {
        let ((p0, id0, side0), (p1, id1, _)) = (pair[0], pair[1]);
        let better_or_same = if side0 == Side::Sell {
            p0 <= p1
        } else {
            p0 >= p1
        };
        prop_assert!(better_or_same, "price priority {pair:?}");
        if p0 == p1 {
            prop_assert!(id0 < id1, "time priority {pair:?}");
        }
    }
    // Locked equals open-order reservations; balances plus fees are conserved.
    let mut totals = [Decimal::ZERO; 2];
    for account in 0..ACCOUNTS {
        let account = AccountId(account);
        let open = engine.open_orders(account, Some(SYM));
        for (asset, side) in [(AssetId(0), Side::Sell), (AssetId(1), Side::Buy)] {
            let reserved: Decimal = open
                .iter()
                .filter(|o| o.side == side)
                .map(|o| o.locked)
                .sum();
            let balance = engine.balance(account, asset);
            prop_assert_eq!(balance.locked, reserved, "locked {:?} {:?}", account, asset);
            prop_assert!(balance.free >= Decimal::ZERO);
            totals[asset.0] += balance.free + balance.locked;
        }
        for order in &open {
            let resting = book.get(order.id).map(|r| r.remaining);
            prop_assert_eq!(
                resting,
                Some(order.remaining()),
                "book vs order {:?}",
                order.id
            );
        }
    }
    for asset in 0..2 {
        let start = if asset == 0 { dec!(10) } else { initial };
        prop_assert_eq!(totals[asset] + fees[asset], start * Decimal::from(ACCOUNTS));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn engine_invariants_hold(ops in prop::collection::vec(op(), 1..80)) {
        let config = SimConfig::default();
        let catalog = Arc::new(Catalog::new(&config.symbols, std::iter::empty()));
        let fee_rates = Fees { maker: dec!(0.001), taker: dec!(0.002) };
        let mut engine = Engine::new(catalog, fee_rates, 9, 10_000);
        let initial = dec!(1000000);
        for _ in 0..ACCOUNTS {
            let account = engine.open_account(true);
            engine.deposit(account, AssetId(0), dec!(10), 0);
            engine.deposit(account, AssetId(1), initial, 0);
        }
        engine.take_events();
        let mut fees = [Decimal::ZERO; 2];
        for op in &ops {
            let reports = apply(&mut engine, op);
            check(&engine, &reports, &mut fees, initial)?;
        }
    }
}

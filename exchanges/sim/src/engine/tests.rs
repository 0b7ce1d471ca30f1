//! Engine unit tests: matching, balances, fees, statuses, filters and events.

use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::config::SimConfig;

const BTC: AssetId = AssetId(0);
const USDT: AssetId = AssetId(1);
const SYM: SymbolId = SymbolId(0);

struct Fixture {
    engine: Engine,
    maker: AccountId,
    user: AccountId,
}

fn fixture() -> Fixture {
    let config = SimConfig::default();
    let catalog = Arc::new(Catalog::new(&config.symbols, std::iter::empty()));
    assert_eq!(catalog.asset_name(BTC), "BTC");
    assert_eq!(catalog.asset_name(USDT), "USDT");
    let fees = Fees {
        maker: dec!(0.001),
        taker: dec!(0.002),
    };
    let mut engine = Engine::new(catalog, fees, 7, 1000);
    let maker = engine.open_account(true);
    let user = engine.open_account(true);
    for account in [maker, user] {
        engine.deposit(account, BTC, dec!(10), 0);
        engine.deposit(account, USDT, dec!(1000000), 0);
    }
    engine.take_events();
    Fixture {
        engine,
        maker,
        user,
    }
}

fn limit(
    account: AccountId,
    side: Side,
    price: Decimal,
    qty: Decimal,
    tif: TimeInForce,
) -> NewOrder {
    NewOrder {
        symbol: SYM,
        account,
        side,
        kind: OrderKind::Limit { price, tif },
        amount: Amount::Base(qty),
        client_order_id: None,
        stp: None,
    }
}

fn market(account: AccountId, side: Side, amount: Amount) -> NewOrder {
    NewOrder {
        symbol: SYM,
        account,
        side,
        kind: OrderKind::Market,
        amount,
        client_order_id: None,
        stp: None,
    }
}

impl Fixture {
    fn rest(&mut self, side: Side, price: Decimal, qty: Decimal) -> Order {
        let req = limit(self.maker, side, price, qty, TimeInForce::Gtc);
        let placed = self.engine.place(req, 1).unwrap();
        assert_eq!(placed.order.status, OrderStatus::New);
        placed.order
    }
}

#[test]
fn crossing_limit_trades_at_maker_prices_in_price_time_order() {
    let mut f = fixture();
    let first = f.rest(Side::Sell, dec!(30000), dec!(0.001));
    let second = f.rest(Side::Sell, dec!(30000), dec!(0.002));
    let _far = f.rest(Side::Sell, dec!(30001), dec!(1));
    let req = limit(
        f.user,
        Side::Buy,
        dec!(30005),
        dec!(0.0025),
        TimeInForce::Gtc,
    );
    let placed = f.engine.place(req, 2).unwrap();
    assert_eq!(placed.order.status, OrderStatus::Filled);
    let fills: Vec<_> = placed.fills.iter().map(|x| (x.price, x.qty)).collect();
    assert_eq!(
        fills,
        vec![(dec!(30000), dec!(0.001)), (dec!(30000), dec!(0.0015))]
    );
    assert_eq!(placed.order.cumm_quote_qty, dec!(75));
    assert_eq!(placed.fills[0].commission, dec!(0.000002));
    assert_eq!(placed.fills[0].commission_asset, BTC);
    assert!(
        f.engine.open_order(SYM, first.id).is_none(),
        "first maker filled"
    );
    let second_left = f.engine.open_order(SYM, second.id).unwrap();
    assert_eq!(second_left.status, OrderStatus::PartiallyFilled);
    assert_eq!(second_left.remaining(), dec!(0.0005));
    // Buyer reserved 30005 * 0.0025, paid 75 at the maker price, got the difference back.
    let usdt = f.engine.balance(f.user, USDT);
    assert_eq!(
        usdt,
        Balance {
            free: dec!(999925),
            locked: dec!(0)
        }
    );
    let btc = f.engine.balance(f.user, BTC);
    assert_eq!(btc.free, dec!(10) + dec!(0.0025) - dec!(0.000005));
    // Maker (seller) got quote minus the maker fee; its remaining sell stays locked.
    let maker_usdt = f.engine.balance(f.maker, USDT);
    assert_eq!(maker_usdt.free, dec!(1000000) + dec!(75) - dec!(0.075));
    assert_eq!(f.engine.balance(f.maker, BTC).locked, dec!(1.0005));
}

#[test]
fn resting_buy_locks_quote_and_cancel_releases_it() {
    let mut f = fixture();
    let req = limit(f.user, Side::Buy, dec!(29000), dec!(0.5), TimeInForce::Gtc);
    let order = f.engine.place(req, 1).unwrap().order;
    assert_eq!(f.engine.balance(f.user, USDT).locked, dec!(14500));
    assert_eq!(f.engine.open_orders(f.user, None).len(), 1);
    f.engine.take_events();
    let key = OrderKey {
        order_id: Some(order.id),
        client_order_id: None,
    };
    let canceled = f
        .engine
        .cancel(f.user, SYM, &key, Some("cxl-1".into()), 2)
        .unwrap();
    assert_eq!(canceled.order.status, OrderStatus::Canceled);
    assert_eq!(canceled.cancel_client_id, "cxl-1");
    assert_eq!(
        f.engine.balance(f.user, USDT),
        Balance {
            free: dec!(1000000),
            locked: dec!(0)
        }
    );
    assert!(f.engine.book(SYM).unwrap().bids().is_empty());
    let events = f.engine.take_events();
    let EngineEvent::Execution(report) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(report.exec_type, ExecType::Canceled);
    assert_eq!(report.cancel_client_id.as_deref(), Some("cxl-1"));
    assert!(matches!(events[1], EngineEvent::Balances(_)));
    assert_eq!(
        f.engine.cancel(f.user, SYM, &key, None, 3),
        Err(Reject::UnknownOrder)
    );
    assert_eq!(
        f.engine.query(f.user, SYM, &key).unwrap().status,
        OrderStatus::Canceled
    );
}

#[test]
fn ioc_remainder_expires_and_market_without_liquidity_expires() {
    let mut f = fixture();
    f.rest(Side::Sell, dec!(30000), dec!(0.001));
    let req = limit(
        f.user,
        Side::Buy,
        dec!(30000),
        dec!(0.003),
        TimeInForce::Ioc,
    );
    let placed = f.engine.place(req, 2).unwrap();
    assert_eq!(placed.order.status, OrderStatus::Expired);
    assert_eq!(placed.order.executed_qty, dec!(0.001));
    assert_eq!(f.engine.balance(f.user, USDT).locked, dec!(0));
    let placed = f
        .engine
        .place(market(f.user, Side::Buy, Amount::Base(dec!(0.01))), 3)
        .unwrap();
    assert_eq!(placed.order.status, OrderStatus::Expired);
    assert!(placed.fills.is_empty());
}

#[test]
fn fok_fills_completely_or_not_at_all() {
    let mut f = fixture();
    f.rest(Side::Sell, dec!(30000), dec!(0.001));
    let req = limit(
        f.user,
        Side::Buy,
        dec!(30000),
        dec!(0.002),
        TimeInForce::Fok,
    );
    let placed = f.engine.place(req, 2).unwrap();
    assert_eq!(
        (placed.order.status, placed.fills.len()),
        (OrderStatus::Expired, 0)
    );
    let req = limit(
        f.user,
        Side::Buy,
        dec!(30000),
        dec!(0.001),
        TimeInForce::Fok,
    );
    assert_eq!(
        f.engine.place(req, 3).unwrap().order.status,
        OrderStatus::Filled
    );
}

#[test]
fn market_sweeps_levels_and_quote_quantity_respects_step() {
    let mut f = fixture();
    f.rest(Side::Buy, dec!(29999), dec!(0.001));
    f.rest(Side::Buy, dec!(29998), dec!(0.002));
    let placed = f
        .engine
        .place(market(f.user, Side::Sell, Amount::Base(dec!(0.002))), 2)
        .unwrap();
    assert_eq!(placed.order.status, OrderStatus::Filled);
    assert_eq!(placed.order.cumm_quote_qty, dec!(29.999) + dec!(29.998));
    f.rest(Side::Sell, dec!(30000), dec!(1));
    let placed = f
        .engine
        .place(market(f.user, Side::Buy, Amount::Quote(dec!(100))), 3)
        .unwrap();
    assert_eq!(placed.order.executed_qty, dec!(0.00333));
    assert_eq!(placed.order.orig_quote_qty, dec!(100));
    assert_eq!(placed.order.status, OrderStatus::Filled);
    assert_eq!(f.engine.balance(f.user, USDT).locked, dec!(0));
}

#[test]
fn quote_market_on_empty_side_is_rejected() {
    let mut f = fixture();
    let result = f
        .engine
        .place(market(f.user, Side::Buy, Amount::Quote(dec!(100))), 1);
    assert_eq!(result, Err(Reject::NoLiquidity));
}

#[test]
fn rejections_change_nothing() {
    let mut f = fixture();
    let cases = [
        (
            limit(
                f.user,
                Side::Buy,
                dec!(30000.001),
                dec!(0.001),
                TimeInForce::Gtc,
            ),
            Reject::Filter("PRICE_FILTER"),
        ),
        (
            limit(
                f.user,
                Side::Buy,
                dec!(30000),
                dec!(0.0000001),
                TimeInForce::Gtc,
            ),
            Reject::Filter("LOT_SIZE"),
        ),
        (
            limit(f.user, Side::Buy, dec!(100), dec!(0.001), TimeInForce::Gtc),
            Reject::Filter("NOTIONAL"),
        ),
        (
            limit(f.user, Side::Buy, dec!(30000), dec!(100), TimeInForce::Gtc),
            Reject::InsufficientBalance,
        ),
        (
            limit(f.user, Side::Sell, dec!(30000), dec!(11), TimeInForce::Gtc),
            Reject::InsufficientBalance,
        ),
    ];
    for (req, expected) in cases {
        assert_eq!(
            f.engine.place(req, 1),
            Err(expected.clone()),
            "{expected:?}"
        );
    }
    assert!(f.engine.take_events().is_empty());
    assert_eq!(
        f.engine.balance(f.user, USDT),
        Balance {
            free: dec!(1000000),
            locked: dec!(0)
        }
    );
}

#[test]
fn duplicate_client_id_only_among_open_orders() {
    let mut f = fixture();
    let mut req = limit(
        f.user,
        Side::Buy,
        dec!(29000),
        dec!(0.001),
        TimeInForce::Gtc,
    );
    req.client_order_id = Some("my-1".into());
    let first = f.engine.place(req.clone(), 1).unwrap().order;
    assert_eq!(f.engine.place(req.clone(), 2), Err(Reject::DuplicateOrder));
    let key = OrderKey {
        order_id: None,
        client_order_id: Some("my-1".into()),
    };
    f.engine.cancel(f.user, SYM, &key, None, 3).unwrap();
    let second = f.engine.place(req, 4).unwrap().order;
    assert_ne!(first.id, second.id);
    let found = f.engine.query(f.user, SYM, &key).unwrap();
    assert_eq!((found.id, found.status), (second.id, OrderStatus::New));
    let wrong = OrderKey {
        order_id: Some(first.id),
        client_order_id: Some("other".into()),
    };
    assert_eq!(
        f.engine.query(f.user, SYM, &wrong),
        Err(Reject::ClientIdMismatch)
    );
}

#[test]
fn generated_client_ids_have_22_chars() {
    let mut f = fixture();
    let req = limit(
        f.user,
        Side::Buy,
        dec!(29000),
        dec!(0.001),
        TimeInForce::Gtc,
    );
    let id = f.engine.place(req, 1).unwrap().order.client_order_id;
    assert_eq!(id.len(), 22);
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
}

#[test]
fn limit_maker_that_would_cross_is_rejected() {
    let mut f = fixture();
    f.rest(Side::Sell, dec!(30000), dec!(0.001));
    let req = NewOrder {
        kind: OrderKind::LimitMaker { price: dec!(30000) },
        ..limit(f.user, Side::Buy, dec!(0), dec!(0.001), TimeInForce::Gtc)
    };
    assert_eq!(f.engine.place(req.clone(), 1), Err(Reject::WouldMatch));
    let passive = NewOrder {
        kind: OrderKind::LimitMaker { price: dec!(29999) },
        ..req
    };
    assert_eq!(
        f.engine.place(passive, 2).unwrap().order.status,
        OrderStatus::New
    );
}

#[test]
fn events_follow_binance_order_new_trade_then_balances() {
    let mut f = fixture();
    f.rest(Side::Sell, dec!(30000), dec!(0.001));
    f.engine.take_events();
    let req = limit(
        f.user,
        Side::Buy,
        dec!(30000),
        dec!(0.001),
        TimeInForce::Gtc,
    );
    f.engine.place(req, 2).unwrap();
    let kinds: Vec<String> = f
        .engine
        .take_events()
        .iter()
        .map(|e| match e {
            EngineEvent::Trade(_) => "trade".to_owned(),
            EngineEvent::Execution(r) => format!("{:?}/{:?}", r.exec_type, r.order.status),
            EngineEvent::Balances(b) => format!("balances{}", b.account.0),
        })
        .collect();
    let expected = [
        "New/New",
        "trade",
        "Trade/Filled",
        "Trade/Filled",
        "balances1",
        "balances0",
    ];
    assert_eq!(kinds, expected);
}

#[test]
fn my_trades_filters_by_order_and_from_id() {
    let mut f = fixture();
    f.rest(Side::Sell, dec!(30000), dec!(0.001));
    f.rest(Side::Sell, dec!(30000), dec!(0.001));
    let req = limit(
        f.user,
        Side::Buy,
        dec!(30000),
        dec!(0.002),
        TimeInForce::Gtc,
    );
    let order = f.engine.place(req, 2).unwrap().order;
    let all = TradeFilter {
        order_id: Some(order.id),
        from_id: None,
        limit: 500,
        ..TradeFilter::default()
    };
    let trades = f.engine.my_trades(f.user, SYM, all);
    assert_eq!(trades.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1, 2]);
    assert!(trades.iter().all(|t| t.is_buyer && !t.is_maker));
    let from = TradeFilter {
        order_id: None,
        from_id: Some(2),
        limit: 500,
        ..TradeFilter::default()
    };
    assert_eq!(f.engine.my_trades(f.user, SYM, from).len(), 1);
    let latest = TradeFilter {
        order_id: None,
        from_id: None,
        limit: 1,
        ..TradeFilter::default()
    };
    assert_eq!(f.engine.my_trades(f.user, SYM, latest)[0].id, 2);
}

#[test]
fn quote_market_that_empties_the_book_expires_and_releases_the_rest() {
    let mut f = fixture();
    f.rest(Side::Sell, dec!(30000), dec!(0.01));
    let too_much = market(f.user, Side::Buy, Amount::Quote(dec!(2000000)));
    assert_eq!(
        f.engine.place(too_much, 2),
        Err(Reject::InsufficientBalance)
    );
    let req = market(f.user, Side::Buy, Amount::Quote(dec!(1000)));
    let placed = f.engine.place(req, 3).unwrap();
    assert_eq!(placed.order.status, OrderStatus::Expired);
    assert_eq!(placed.order.executed_qty, dec!(0.01));
    assert_eq!(placed.order.cumm_quote_qty, dec!(300));
    assert_eq!(
        f.engine.balance(f.user, USDT),
        Balance {
            free: dec!(999700),
            locked: dec!(0)
        }
    );
}

#[test]
fn filled_quote_market_keeps_no_reservation() {
    let mut f = fixture();
    f.rest(Side::Sell, dec!(30000), dec!(1));
    let placed = f
        .engine
        .place(market(f.user, Side::Buy, Amount::Quote(dec!(100.005))), 2)
        .unwrap();
    assert_eq!(placed.order.status, OrderStatus::Filled);
    assert_eq!(f.engine.balance(f.user, USDT).locked, dec!(0));
    assert_eq!(
        f.engine.balance(f.user, USDT).free,
        dec!(1000000) - dec!(99.9)
    );
}

//! Unit tests of the synthetic market: seeded determinism, the ladder's shape with several
//! orders per level, and the taker's bursts.

use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::*;
use crate::engine::{AssetId, Catalog, EngineEvent, Fees};

fn setup(seed: u64) -> (Engine, SyntheticMarket, AccountId) {
    let config = SimConfig {
        seed,
        ..SimConfig::default()
    };
    let catalog = Arc::new(Catalog::new(&config.symbols, std::iter::empty()));
    let fees = Fees {
        maker: config.fees.maker,
        taker: config.fees.taker,
    };
    let mut engine = Engine::new(catalog.clone(), fees, seed, 100);
    let maker = engine.open_account(false);
    let taker = engine.open_account(false);
    for asset in 0..catalog.asset_count() {
        for account in [maker, taker] {
            engine.deposit(account, AssetId(asset), config.market.agent_balance, 0);
        }
    }
    let market = SyntheticMarket::new(&config, maker, taker);
    (engine, market, maker)
}

/// Mid path, ask depth at the end, and per tick whether symbol 0 traded.
fn run(seed: u64, ticks: i64) -> (Vec<Decimal>, Vec<(Decimal, Decimal)>, Vec<bool>) {
    let (mut engine, mut market, _) = setup(seed);
    let mut mids = Vec::new();
    let mut traded = Vec::new();
    for t in 0..ticks {
        market.tick(&mut engine, t * 100);
        mids.push(market.mid(SymbolId(0)).unwrap_or_default());
        traded.push(
            engine
                .take_events()
                .iter()
                .any(|e| matches!(e, EngineEvent::Trade(t) if t.symbol == SymbolId(0))),
        );
    }
    let book = engine
        .book(SymbolId(0))
        .map(|b| b.depth(Side::Sell, 20))
        .unwrap_or_default();
    (mids, book, traded)
}

#[test]
fn same_seed_gives_same_mid_path_book_and_taker_timing() {
    let (mids_a, book_a, traded_a) = run(42, 300);
    let (mids_b, book_b, traded_b) = run(42, 300);
    assert_eq!(mids_a, mids_b);
    assert_eq!(book_a, book_b);
    assert_eq!(traded_a, traded_b);
    let (mids_c, _, traded_c) = run(43, 300);
    assert_ne!(mids_a, mids_c);
    assert_ne!(traded_a, traded_c);
    assert!(mids_a.windows(2).any(|w| w[0] != w[1]), "mid must move");
}

#[test]
fn ladder_has_levels_on_both_sides_around_mid() {
    let (mut engine, mut market, _) = setup(5);
    market.tick(&mut engine, 0);
    let book = engine.book(SymbolId(0)).unwrap();
    let mid = market.mid(SymbolId(0)).unwrap();
    assert_eq!(book.bids().len(), 20);
    assert_eq!(book.asks().len(), 20);
    let (bid, ask) = (
        book.best(Side::Buy).unwrap(),
        book.best(Side::Sell).unwrap(),
    );
    assert!(bid < mid && mid < ask, "{bid} < {mid} < {ask}");
    assert!(ask - bid <= Decimal::from(2));
}

/// The maker's open orders grouped by (side, price): their sizes, oldest first.
fn maker_levels(engine: &Engine, maker: AccountId) -> BTreeMap<(Side, Decimal), Vec<Decimal>> {
    let mut levels: BTreeMap<(Side, Decimal), Vec<Decimal>> = BTreeMap::new();
    for order in engine.open_orders(maker, Some(SymbolId(0))) {
        levels
            .entry((order.side, order.price))
            .or_default()
            .push(order.orig_qty);
    }
    levels
}

#[test]
fn every_level_holds_several_maker_orders_of_varied_sizes() {
    let (mut engine, mut market, maker) = setup(9);
    for t in 0..50 {
        market.tick(&mut engine, t * 100);
    }
    let levels = maker_levels(&engine, maker);
    assert_eq!(levels.len(), 40);
    assert!(levels.values().all(|sizes| sizes.len() == 3), "{levels:?}");
    let varied = levels
        .values()
        .filter(|sizes| sizes.iter().any(|s| *s != sizes[0]))
        .count();
    assert!(varied >= 35, "sizes differ within most levels: {levels:?}");
}

#[test]
fn resting_maker_orders_are_refreshed_over_time() {
    let (mut engine, mut market, maker) = setup(3);
    market.tick(&mut engine, 0);
    let ids = |engine: &Engine| {
        engine
            .open_orders(maker, Some(SymbolId(0)))
            .iter()
            .map(|o| o.id)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let first = ids(&engine);
    for t in 1..200 {
        market.tick(&mut engine, t * 100);
    }
    let later = ids(&engine);
    let replaced = first.difference(&later).count();
    assert!(replaced > 0, "some orders were cancelled or filled");
    assert!(
        replaced < first.len(),
        "the ladder is not rebuilt wholesale"
    );
}

#[test]
fn taker_trades_in_bursts_then_rests() {
    let (_, _, traded) = run(11, 3000);
    let mut runs = Vec::new();
    let mut current = 0usize;
    for active in traded.iter().copied().chain([false]) {
        if active {
            current += 1;
        } else if current > 0 {
            runs.push(current);
            current = 0;
        }
    }
    assert!(runs.len() >= 20, "the taker traded: {runs:?}");
    let mean = runs.iter().sum::<usize>() as f64 / runs.len() as f64;
    // Independent draws at the mean rate (0.2 per tick) would give runs of 1.25 on average.
    assert!(
        mean > 2.5,
        "orders come in runs of consecutive ticks: {runs:?}"
    );
    let quiet = traded.iter().filter(|t| !**t).count();
    assert!(quiet > traded.len() / 2, "quiet between bursts");
}

//! Depth diff publication: turns the engine's per-symbol book changes into `depthUpdate` diff
//! events and keeps the book *as published*, which is what REST `/depth` serves.
//!
//! Every level change bumps the symbol's update id by one. A fast event (`@depth@100ms`) covers
//! exactly `[last published + 1, current]`; a slow event (`@depth`) covers the union of the
//! fast events since the previous slow one and always ends on a fast boundary. Serving REST
//! depth from the published book makes `lastUpdateId` equal the last published `u`, so both
//! the official sync procedure and strict clients (ccxt pro, python-binance) line up.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use crate::engine::{Engine, Side, SymbolId};

/// One diff event's content: levels with their new quantity (zero = removed).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DepthDiff {
    pub symbol: SymbolId,
    pub first: u64,
    pub last: u64,
    /// Best first.
    pub bids: Vec<(Decimal, Decimal)>,
    /// Best first.
    pub asks: Vec<(Decimal, Decimal)>,
}

/// REST depth: the published book, best first.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct DepthSnapshot {
    pub last_update_id: u64,
    pub bids: Vec<(Decimal, Decimal)>,
    pub asks: Vec<(Decimal, Decimal)>,
}

/// What one publication produced.
#[derive(Debug, Default)]
pub(crate) struct Published {
    pub fast: Vec<DepthDiff>,
    pub slow: Vec<DepthDiff>,
    /// This publication is also a slow (1000 ms) one.
    pub slow_tick: bool,
}

#[derive(Debug, Default)]
struct SymbolFeed {
    last_fast: u64,
    last_slow: u64,
    slow_dirty: BTreeSet<(Side, Decimal)>,
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

#[derive(Debug)]
pub(crate) struct DepthFeed {
    symbols: Vec<SymbolFeed>,
    slow_every: u32,
    fast_count: u32,
}

impl DepthFeed {
    pub fn new(symbol_count: usize, slow_every: u32) -> Self {
        Self {
            symbols: (0..symbol_count).map(|_| SymbolFeed::default()).collect(),
            slow_every: slow_every.max(1),
            fast_count: 0,
        }
    }

    /// Publishes one fast interval for every symbol that changed, and a slow one every
    /// `slow_every` calls.
    pub fn publish(&mut self, engine: &mut Engine) -> Published {
        let mut out = Published::default();
        for (index, feed) in self.symbols.iter_mut().enumerate() {
            let symbol = SymbolId(index);
            let changes = engine.take_book_changes(symbol);
            let Some(book) = engine.book(symbol).filter(|_| !changes.is_empty()) else {
                continue;
            };
            let levels: BTreeSet<(Side, Decimal)> = changes.into_iter().collect();
            let mut diff = DepthDiff {
                symbol,
                first: feed.last_fast + 1,
                last: book.update_id(),
                bids: vec![],
                asks: vec![],
            };
            for (side, price) in levels {
                let qty = book.level_qty(side, price);
                feed.apply(side, price, qty);
                feed.slow_dirty.insert((side, price));
                diff.push(side, price, qty);
            }
            feed.last_fast = diff.last;
            diff.bids.reverse();
            out.fast.push(diff);
        }
        self.fast_count = self.fast_count.wrapping_add(1);
        if self.fast_count % self.slow_every == 0 {
            out.slow_tick = true;
            out.slow = self
                .symbols
                .iter_mut()
                .enumerate()
                .filter_map(|(i, f)| f.take_slow(SymbolId(i)))
                .collect();
        }
        out
    }

    /// Up to `limit` levels per side of the published book.
    pub fn snapshot(&self, symbol: SymbolId, limit: usize) -> Option<DepthSnapshot> {
        let feed = self.symbols.get(symbol.0)?;
        let pair = |(p, q): (&Decimal, &Decimal)| (*p, *q);
        Some(DepthSnapshot {
            last_update_id: feed.last_fast,
            bids: feed.bids.iter().rev().take(limit).map(pair).collect(),
            asks: feed.asks.iter().take(limit).map(pair).collect(),
        })
    }
}

impl SymbolFeed {
    fn apply(&mut self, side: Side, price: Decimal, qty: Decimal) {
        let levels = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if qty.is_zero() {
            levels.remove(&price);
        } else {
            levels.insert(price, qty);
        }
    }

    fn take_slow(&mut self, symbol: SymbolId) -> Option<DepthDiff> {
        if self.slow_dirty.is_empty() {
            return None;
        }
        let mut diff = DepthDiff {
            symbol,
            first: self.last_slow + 1,
            last: self.last_fast,
            bids: vec![],
            asks: vec![],
        };
        for (side, price) in std::mem::take(&mut self.slow_dirty) {
            let book = if side == Side::Buy {
                &self.bids
            } else {
                &self.asks
            };
            diff.push(side, price, book.get(&price).copied().unwrap_or_default());
        }
        diff.bids.reverse();
        self.last_slow = self.last_fast;
        Some(diff)
    }
}

impl DepthDiff {
    /// Levels arrive in ascending price order; bids are reversed afterwards.
    fn push(&mut self, side: Side, price: Decimal, qty: Decimal) {
        match side {
            Side::Buy => self.bids.push((price, qty)),
            Side::Sell => self.asks.push((price, qty)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rust_decimal_macros::dec;

    use super::*;
    use crate::config::SimConfig;
    use crate::engine::{Amount, AssetId, Catalog, Fees, NewOrder, OrderKind, TimeInForce};

    fn engine() -> (Engine, crate::engine::AccountId) {
        let catalog = Arc::new(Catalog::new(
            &SimConfig::default().symbols,
            std::iter::empty(),
        ));
        let mut engine = Engine::new(
            catalog,
            Fees {
                maker: dec!(0),
                taker: dec!(0),
            },
            1,
            10,
        );
        let account = engine.open_account(false);
        engine.deposit(account, AssetId(0), dec!(100), 0);
        engine.deposit(account, AssetId(1), dec!(10000000), 0);
        (engine, account)
    }

    fn rest(engine: &mut Engine, account: crate::engine::AccountId, side: Side, price: Decimal) {
        let kind = OrderKind::Limit {
            price,
            tif: TimeInForce::Gtc,
        };
        let order = NewOrder {
            symbol: SymbolId(0),
            account,
            side,
            kind,
            amount: Amount::Base(dec!(1)),
            client_order_id: None,
            stp: None,
        };
        engine.place(order, 0).unwrap();
    }

    #[test]
    fn fast_events_are_contiguous_and_snapshot_matches_book() {
        let (mut engine, account) = engine();
        let mut feed = DepthFeed::new(2, 3);
        let mut last = 0;
        for round in 0..6 {
            let price = dec!(100) + Decimal::from(round);
            rest(&mut engine, account, Side::Buy, price);
            rest(&mut engine, account, Side::Sell, price + dec!(50));
            rest(&mut engine, account, Side::Sell, price + dec!(50));
            let published = feed.publish(&mut engine);
            assert_eq!(published.fast.len(), 1);
            let diff = &published.fast[0];
            assert_eq!(diff.first, last + 1, "contiguous");
            last = diff.last;
            assert_eq!(published.slow.len(), usize::from(round % 3 == 2));
        }
        assert!(
            feed.publish(&mut engine).fast.is_empty(),
            "no change, no event"
        );
        let snapshot = feed.snapshot(SymbolId(0), 100).unwrap();
        let book = engine.book(SymbolId(0)).unwrap();
        assert_eq!(snapshot.last_update_id, book.update_id());
        assert_eq!(snapshot.bids, book.depth(Side::Buy, 100));
        assert_eq!(snapshot.asks, book.depth(Side::Sell, 100));
        assert_eq!(snapshot.bids[0].0, dec!(105), "bids best first");
    }

    #[test]
    fn slow_events_cover_the_fast_ranges() {
        let (mut engine, account) = engine();
        let mut feed = DepthFeed::new(2, 2);
        rest(&mut engine, account, Side::Buy, dec!(100));
        let first = feed.publish(&mut engine);
        rest(&mut engine, account, Side::Buy, dec!(101));
        let second = feed.publish(&mut engine);
        let slow = &second.slow[0];
        assert_eq!(
            (slow.first, slow.last),
            (first.fast[0].first, second.fast[0].last)
        );
        assert_eq!(slow.bids, vec![(dec!(101), dec!(1)), (dec!(100), dec!(1))]);
    }
}

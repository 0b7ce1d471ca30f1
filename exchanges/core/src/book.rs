//! Order-book types shared by adapters and the daemon: venue snapshots and deltas, the events an
//! adapter emits for one symbol, and [`OrderBook`], a local price-level book.
//!
//! The venue's sync procedure (buffering, snapshot, replay, sequence checks) lives in each adapter;
//! what leaves the adapter is already in order: a `Snapshot`, then contiguous `Delta`s, and an
//! `OutOfSync` as soon as continuity is lost (DESIGN invariant 5: an out-of-sync book is not used).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One price level: price and total quantity. A zero quantity in a delta removes the level.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub price: Decimal,
    pub quantity: Decimal,
}

impl Level {
    pub fn new(price: Decimal, quantity: Decimal) -> Self {
        Level { price, quantity }
    }
}

/// A full (or top-N) book at one venue update id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookSnapshot {
    pub venue_symbol: String,
    pub last_update_id: u64,
    /// Best (highest) first.
    pub bids: Vec<Level>,
    /// Best (lowest) first.
    pub asks: Vec<Level>,
}

/// A diff covering venue update ids `first_update_id..=last_update_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookDelta {
    pub venue_symbol: String,
    pub first_update_id: u64,
    pub last_update_id: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    pub event_time_ms: i64,
}

/// What an adapter reports about one symbol's book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookUpdate {
    /// The book is (re)synchronised: replace the local book with this.
    Snapshot(BookSnapshot),
    /// The next contiguous change after the last snapshot or delta.
    Delta(BookDelta),
    /// Continuity was lost (gap, stale or dropped stream); a new snapshot will follow.
    OutOfSync {
        venue_symbol: String,
        reason: String,
    },
}

/// A local price-level book, kept from a snapshot and contiguous deltas.
#[derive(Debug, Clone, Default)]
pub struct OrderBook {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
    last_update_id: u64,
    in_sync: bool,
}

impl OrderBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the whole book and marks it in sync.
    pub fn apply_snapshot(&mut self, snapshot: &BookSnapshot) {
        self.bids = snapshot
            .bids
            .iter()
            .filter(|l| !l.quantity.is_zero())
            .map(|l| (l.price, l.quantity))
            .collect();
        self.asks = snapshot
            .asks
            .iter()
            .filter(|l| !l.quantity.is_zero())
            .map(|l| (l.price, l.quantity))
            .collect();
        self.last_update_id = snapshot.last_update_id;
        self.in_sync = true;
    }

    /// Applies a delta; quantities replace levels, zero removes them.
    pub fn apply_delta(&mut self, delta: &BookDelta) {
        for (side, levels) in [(&mut self.bids, &delta.bids), (&mut self.asks, &delta.asks)] {
            for level in levels {
                if level.quantity.is_zero() {
                    side.remove(&level.price);
                } else {
                    side.insert(level.price, level.quantity);
                }
            }
        }
        self.last_update_id = delta.last_update_id;
    }

    /// Applies any adapter update, tracking the sync state.
    pub fn apply(&mut self, update: &BookUpdate) {
        match update {
            BookUpdate::Snapshot(s) => self.apply_snapshot(s),
            BookUpdate::Delta(d) => self.apply_delta(d),
            BookUpdate::OutOfSync { .. } => self.in_sync = false,
        }
    }

    pub fn in_sync(&self) -> bool {
        self.in_sync
    }

    pub fn last_update_id(&self) -> u64 {
        self.last_update_id
    }

    pub fn best_bid(&self) -> Option<Level> {
        self.bids
            .iter()
            .next_back()
            .map(|(p, q)| Level::new(*p, *q))
    }

    pub fn best_ask(&self) -> Option<Level> {
        self.asks.iter().next().map(|(p, q)| Level::new(*p, *q))
    }

    /// The best `depth` bids (highest first) and asks (lowest first).
    pub fn top(&self, depth: usize) -> (Vec<Level>, Vec<Level>) {
        let bids = self
            .bids
            .iter()
            .rev()
            .take(depth)
            .map(|(p, q)| Level::new(*p, *q))
            .collect();
        let asks = self
            .asks
            .iter()
            .take(depth)
            .map(|(p, q)| Level::new(*p, *q))
            .collect();
        (bids, asks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn snapshot() -> BookSnapshot {
        BookSnapshot {
            venue_symbol: "BTCUSDT".into(),
            last_update_id: 10,
            bids: vec![Level::new(dec!(99), dec!(1)), Level::new(dec!(98), dec!(2))],
            asks: vec![
                Level::new(dec!(101), dec!(1)),
                Level::new(dec!(102), dec!(3)),
            ],
        }
    }

    #[test]
    fn snapshot_then_delta() {
        let mut book = OrderBook::new();
        assert!(!book.in_sync());
        book.apply(&BookUpdate::Snapshot(snapshot()));
        assert!(book.in_sync());
        assert_eq!(book.best_bid(), Some(Level::new(dec!(99), dec!(1))));
        book.apply(&BookUpdate::Delta(BookDelta {
            venue_symbol: "BTCUSDT".into(),
            first_update_id: 11,
            last_update_id: 12,
            bids: vec![
                Level::new(dec!(99), dec!(0)),
                Level::new(dec!(100), dec!(5)),
            ],
            asks: vec![Level::new(dec!(101), dec!(0.5))],
            event_time_ms: 0,
        }));
        assert_eq!(book.last_update_id(), 12);
        let (bids, asks) = book.top(5);
        assert_eq!(
            bids,
            vec![
                Level::new(dec!(100), dec!(5)),
                Level::new(dec!(98), dec!(2))
            ]
        );
        assert_eq!(
            asks,
            vec![
                Level::new(dec!(101), dec!(0.5)),
                Level::new(dec!(102), dec!(3))
            ]
        );
        book.apply(&BookUpdate::OutOfSync {
            venue_symbol: "BTCUSDT".into(),
            reason: "gap".into(),
        });
        assert!(!book.in_sync());
    }
}

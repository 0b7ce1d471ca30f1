//! The limit order book of one symbol: price levels in a `BTreeMap`, a FIFO queue of order ids
//! per level and an index by order id.
//!
//! Every change to a level's total quantity bumps the book's `update_id` by one and records the
//! level, so the depth feed can publish contiguous diff events (`U`/`u`) without diffing books.

use std::collections::{BTreeMap, HashMap, VecDeque};

use rust_decimal::Decimal;

use super::types::{AccountId, OrderId, Side};

/// One price level: total resting quantity and the orders in time priority.
#[derive(Clone, Debug, Default)]
pub struct Level {
    pub qty: Decimal,
    pub queue: VecDeque<OrderId>,
}

/// What the book knows about a resting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resting {
    pub side: Side,
    pub price: Decimal,
    pub remaining: Decimal,
    pub account: AccountId,
}

#[derive(Clone, Debug, Default)]
pub struct OrderBook {
    bids: BTreeMap<Decimal, Level>,
    asks: BTreeMap<Decimal, Level>,
    index: HashMap<OrderId, Resting>,
    update_id: u64,
    changes: Vec<(Side, Decimal)>,
}

impl OrderBook {
    /// Rests an order at the back of its price level.
    pub fn insert(
        &mut self,
        id: OrderId,
        side: Side,
        price: Decimal,
        qty: Decimal,
        account: AccountId,
    ) {
        let level = self.side_mut(side).entry(price).or_default();
        level.qty += qty;
        level.queue.push_back(id);
        let resting = Resting {
            side,
            price,
            remaining: qty,
            account,
        };
        self.index.insert(id, resting);
        self.touch(side, price);
    }

    /// Takes an order off the book (cancel); `None` if it does not rest here.
    pub fn remove(&mut self, id: OrderId) -> Option<Resting> {
        let resting = self.index.remove(&id)?;
        let levels = self.side_mut(resting.side);
        if let Some(level) = levels.get_mut(&resting.price) {
            level.qty -= resting.remaining;
            if let Some(pos) = level.queue.iter().position(|&queued| queued == id) {
                level.queue.remove(pos);
            }
            if level.queue.is_empty() {
                levels.remove(&resting.price);
            }
        }
        self.touch(resting.side, resting.price);
        Some(resting)
    }

    /// Reduces a resting order by a traded quantity and removes it once nothing is left.
    /// Returns the quantity still resting.
    pub fn reduce(&mut self, id: OrderId, qty: Decimal) -> Option<Decimal> {
        let resting = self.index.get_mut(&id)?;
        let traded = qty.min(resting.remaining);
        resting.remaining -= traded;
        let (side, price, remaining) = (resting.side, resting.price, resting.remaining);
        if remaining.is_zero() {
            self.index.remove(&id);
        }
        let levels = self.side_mut(side);
        if let Some(level) = levels.get_mut(&price) {
            level.qty -= traded;
            if remaining.is_zero() {
                if level.queue.front() == Some(&id) {
                    level.queue.pop_front();
                } else if let Some(pos) = level.queue.iter().position(|&q| q == id) {
                    level.queue.remove(pos);
                }
            }
            if level.queue.is_empty() {
                levels.remove(&price);
            }
        }
        self.touch(side, price);
        Some(remaining)
    }

    /// Takes `qty` off a resting order in place, keeping its place in the queue; the caller
    /// makes sure something is left. Returns the quantity still resting.
    pub fn shrink(&mut self, id: OrderId, qty: Decimal) -> Option<Decimal> {
        let resting = self.index.get_mut(&id)?;
        let taken = qty.min(resting.remaining);
        resting.remaining -= taken;
        let (side, price, remaining) = (resting.side, resting.price, resting.remaining);
        if let Some(level) = self.side_mut(side).get_mut(&price) {
            level.qty -= taken;
        }
        self.touch(side, price);
        Some(remaining)
    }

    pub fn get(&self, id: OrderId) -> Option<&Resting> {
        self.index.get(&id)
    }

    /// Best price of a side: highest bid or lowest ask.
    pub fn best(&self, side: Side) -> Option<Decimal> {
        match side {
            Side::Buy => self.bids.keys().next_back().copied(),
            Side::Sell => self.asks.keys().next().copied(),
        }
    }

    /// Whether a taker of `side` at `price` would trade immediately.
    pub fn crosses(&self, side: Side, price: Decimal) -> bool {
        match side {
            Side::Buy => self.best(Side::Sell).is_some_and(|ask| ask <= price),
            Side::Sell => self.best(Side::Buy).is_some_and(|bid| bid >= price),
        }
    }

    /// Total quantity resting at one price (zero if the level is empty).
    pub fn level_qty(&self, side: Side, price: Decimal) -> Decimal {
        self.side_ref(side)
            .get(&price)
            .map_or(Decimal::ZERO, |level| level.qty)
    }

    /// Up to `limit` levels of a side, best first.
    pub fn depth(&self, side: Side, limit: usize) -> Vec<(Decimal, Decimal)> {
        let pair = |(price, level): (&Decimal, &Level)| (*price, level.qty);
        match side {
            Side::Buy => self.bids.iter().rev().take(limit).map(pair).collect(),
            Side::Sell => self.asks.iter().take(limit).map(pair).collect(),
        }
    }

    /// Bid levels, ascending by price (iterate in reverse for best first).
    pub fn bids(&self) -> &BTreeMap<Decimal, Level> {
        &self.bids
    }

    /// Ask levels, ascending by price (best first).
    pub fn asks(&self) -> &BTreeMap<Decimal, Level> {
        &self.asks
    }

    /// Number of book changes so far; the diff streams' `u`.
    pub fn update_id(&self) -> u64 {
        self.update_id
    }

    /// Levels changed since the last call, in change order (may repeat a level).
    pub fn take_changes(&mut self) -> Vec<(Side, Decimal)> {
        std::mem::take(&mut self.changes)
    }

    pub fn order_count(&self) -> usize {
        self.index.len()
    }

    fn touch(&mut self, side: Side, price: Decimal) {
        self.update_id += 1;
        self.changes.push((side, price));
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<Decimal, Level> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    fn side_ref(&self, side: Side) -> &BTreeMap<Decimal, Level> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const A: AccountId = AccountId(7);

    #[test]
    fn levels_aggregate_and_keep_fifo() {
        let mut book = OrderBook::default();
        book.insert(1, Side::Sell, dec!(101), dec!(1), A);
        book.insert(2, Side::Sell, dec!(101), dec!(2), A);
        book.insert(3, Side::Sell, dec!(100), dec!(5), A);
        book.insert(4, Side::Buy, dec!(99), dec!(1), A);
        assert_eq!(book.best(Side::Sell), Some(dec!(100)));
        assert_eq!(book.best(Side::Buy), Some(dec!(99)));
        assert_eq!(book.level_qty(Side::Sell, dec!(101)), dec!(3));
        let queue: Vec<_> = book.asks()[&dec!(101)].queue.iter().copied().collect();
        assert_eq!(queue, vec![1, 2]);
        assert_eq!(book.depth(Side::Sell, 1), vec![(dec!(100), dec!(5))]);
        assert!(book.crosses(Side::Buy, dec!(100)));
        assert!(!book.crosses(Side::Buy, dec!(99.99)));
        assert_eq!(book.update_id(), 4);
    }

    #[test]
    fn reduce_and_remove_update_levels_and_ids() {
        let mut book = OrderBook::default();
        book.insert(1, Side::Buy, dec!(10), dec!(2), A);
        book.insert(2, Side::Buy, dec!(10), dec!(3), A);
        assert_eq!(book.reduce(1, dec!(0.5)), Some(dec!(1.5)));
        assert_eq!(book.level_qty(Side::Buy, dec!(10)), dec!(4.5));
        assert_eq!(book.reduce(1, dec!(1.5)), Some(dec!(0)));
        assert!(book.get(1).is_none());
        assert_eq!(book.remove(2).map(|r| r.remaining), Some(dec!(3)));
        assert_eq!(book.level_qty(Side::Buy, dec!(10)), dec!(0));
        assert!(book.bids().is_empty());
        assert_eq!(book.remove(2), None);
        assert_eq!(book.update_id(), 5);
        assert_eq!(book.take_changes().len(), 5);
        assert!(book.take_changes().is_empty());
    }
}

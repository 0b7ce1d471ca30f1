//! Planning a taker order against the book without changing it: price-time priority (best
//! price first, FIFO within a level), one trade per maker order at the maker's price, bounded
//! by a base quantity or a quote amount (rounded down to the lot step).

use rust_decimal::Decimal;

use super::book::{Level, OrderBook};
use super::catalog::Filters;
use super::types::{Amount, OrderId, Side};

/// One trade the taker will make.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Planned {
    pub maker: OrderId,
    pub price: Decimal,
    pub qty: Decimal,
}

/// The trades a taker of `side` would make now, best price first, FIFO within a level, and
/// whether they use up the whole amount (false when the book runs out first).
pub(crate) fn plan(
    book: &OrderBook,
    side: Side,
    limit: Option<Decimal>,
    amount: Amount,
    f: &Filters,
) -> (Vec<Planned>, bool) {
    match side {
        Side::Buy => walk(
            book.asks().iter(),
            book,
            |p| limit.is_none_or(|l| p <= l),
            amount,
            f,
        ),
        Side::Sell => walk(
            book.bids().iter().rev(),
            book,
            |p| limit.is_none_or(|l| p >= l),
            amount,
            f,
        ),
    }
}

fn walk<'a>(
    levels: impl Iterator<Item = (&'a Decimal, &'a Level)>,
    book: &OrderBook,
    accept: impl Fn(Decimal) -> bool,
    amount: Amount,
    f: &Filters,
) -> (Vec<Planned>, bool) {
    let (mut base_left, mut quote_left) = match amount {
        Amount::Base(qty) => (qty, None),
        Amount::Quote(quote) => (Decimal::MAX, Some(quote)),
    };
    let mut out = Vec::new();
    let mut last_price = Decimal::ZERO;
    for (&price, level) in levels {
        if !accept(price) {
            break;
        }
        for id in &level.queue {
            let Some(resting) = book.get(*id) else {
                continue;
            };
            let mut qty = resting.remaining.min(base_left);
            if let Some(quote) = quote_left {
                qty = qty.min(f.floor_to_step(quote / price));
            }
            if qty <= Decimal::ZERO {
                return (out, true);
            }
            out.push(Planned {
                maker: *id,
                price,
                qty,
            });
            if qty < resting.remaining {
                // The amount, not the maker's size, bounded this trade: nothing is left.
                return (out, true);
            }
            base_left -= qty;
            last_price = price;
            if let Some(quote) = quote_left.as_mut() {
                *quote -= price * qty;
            }
        }
    }
    // The book ran out; complete only if what is left cannot buy a single lot step.
    let dust = |quote: Decimal| quote < last_price * f.step_size || quote.is_zero();
    (out, base_left.is_zero() || quote_left.is_some_and(dust))
}

pub(crate) fn mid(book: &OrderBook) -> Option<Decimal> {
    let bid = book.best(Side::Buy)?;
    let ask = book.best(Side::Sell)?;
    Some((bid + ask) / Decimal::TWO)
}

//! Planning a taker order against the book without changing it: price-time priority (best
//! price first, FIFO within a level), one trade per maker order at the maker's price, bounded
//! by a base quantity or a quote amount (rounded down to the lot step), and self-trade
//! prevention decided by the taker's mode when it meets a resting order of its own account.

use rust_decimal::Decimal;

use super::book::{Level, OrderBook};
use super::catalog::Filters;
use super::types::{AccountId, Amount, OrderId, Side, StpMode};

/// One trade the taker will make.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Planned {
    pub maker: OrderId,
    pub price: Decimal,
    pub qty: Decimal,
}

/// One step of a placement, in book order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Step {
    Trade(Planned),
    /// A match with the taker's own resting order that self-trade prevention stops: `qty` comes
    /// off the maker (which expires when `expire_maker`) and, for DECREMENT, off the taker.
    Prevent {
        maker: OrderId,
        qty: Decimal,
        expire_maker: bool,
        decrement_taker: bool,
    },
}

/// What a taker would do now.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Plan {
    pub steps: Vec<Step>,
    /// The amount was used up (false when the book ran out first).
    pub complete: bool,
    /// Self-trade prevention expires the taker's remainder.
    pub taker_expires: bool,
}

impl Plan {
    pub fn trades(&self) -> impl Iterator<Item = &Planned> {
        self.steps.iter().filter_map(|s| match s {
            Step::Trade(p) => Some(p),
            Step::Prevent { .. } => None,
        })
    }

    pub fn traded_qty(&self) -> Decimal {
        self.trades().map(|p| p.qty).sum()
    }

    pub fn traded_cost(&self) -> Decimal {
        self.trades().map(|p| p.price * p.qty).sum()
    }
}

/// Who is taking, and how far.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Taker {
    pub account: AccountId,
    pub side: Side,
    pub limit: Option<Decimal>,
    pub amount: Amount,
    pub stp: StpMode,
}

/// The steps a taker would make now, best price first, FIFO within a level.
pub(crate) fn plan(book: &OrderBook, taker: &Taker, f: &Filters) -> Plan {
    let limit = taker.limit;
    match taker.side {
        Side::Buy => walk(
            book.asks().iter(),
            book,
            |p| limit.is_none_or(|l| p <= l),
            taker,
            f,
        ),
        Side::Sell => walk(
            book.bids().iter().rev(),
            book,
            |p| limit.is_none_or(|l| p >= l),
            taker,
            f,
        ),
    }
}

fn walk<'a>(
    levels: impl Iterator<Item = (&'a Decimal, &'a Level)>,
    book: &OrderBook,
    accept: impl Fn(Decimal) -> bool,
    taker: &Taker,
    f: &Filters,
) -> Plan {
    let (mut base_left, mut quote_left) = match taker.amount {
        Amount::Base(qty) => (qty, None),
        Amount::Quote(quote) => (Decimal::MAX, Some(quote)),
    };
    let mut out = Plan::default();
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
                out.complete = true;
                return out;
            }
            if taker.stp != StpMode::None && resting.account == taker.account {
                let whole = resting.remaining;
                let (expire_maker, stop) = match taker.stp {
                    StpMode::ExpireTaker => (false, true),
                    StpMode::ExpireBoth => (true, true),
                    StpMode::ExpireMaker => (true, false),
                    StpMode::Decrement | StpMode::None => (qty == whole, false),
                };
                let decrement_taker = taker.stp == StpMode::Decrement;
                if taker.stp != StpMode::ExpireTaker {
                    let prevented = if decrement_taker { qty } else { whole };
                    out.steps.push(Step::Prevent {
                        maker: *id,
                        qty: prevented,
                        expire_maker,
                        decrement_taker,
                    });
                }
                if decrement_taker {
                    base_left -= qty;
                    if let Some(quote) = quote_left.as_mut() {
                        *quote -= price * qty;
                    }
                    if qty < whole || base_left.is_zero() {
                        out.taker_expires = true;
                        out.complete = true;
                        return out;
                    }
                }
                if stop {
                    out.taker_expires = true;
                    out.complete = true;
                    return out;
                }
                continue;
            }
            out.steps.push(Step::Trade(Planned {
                maker: *id,
                price,
                qty,
            }));
            if qty < resting.remaining {
                // The amount, not the maker's size, bounded this trade: nothing is left.
                out.complete = true;
                return out;
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
    out.complete = base_left.is_zero() || quote_left.is_some_and(dust);
    out
}

pub(crate) fn mid(book: &OrderBook) -> Option<Decimal> {
    let bid = book.best(Side::Buy)?;
    let ask = book.best(Side::Sell)?;
    Some((bid + ask) / Decimal::TWO)
}

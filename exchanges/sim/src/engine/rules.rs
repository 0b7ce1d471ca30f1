//! The rules a placement follows before it touches the book: symbol filters (PRICE_FILTER,
//! LOT_SIZE / MARKET_LOT_SIZE, NOTIONAL) and what funds an order reserves.

use rust_decimal::{Decimal, RoundingStrategy};

use super::catalog::{Filters, SymbolDef};
use super::plan::{Plan, Step};
use super::types::*;

/// Base quantity DECREMENT took off the taker.
pub(super) fn decremented(plan: &Plan) -> Decimal {
    plan.steps
        .iter()
        .map(|s| match s {
            Step::Prevent {
                qty,
                decrement_taker: true,
                ..
            } => *qty,
            _ => Decimal::ZERO,
        })
        .sum()
}

/// Checks an order against PRICE_FILTER, LOT_SIZE / MARKET_LOT_SIZE and NOTIONAL.
pub(super) fn validate(
    f: &Filters,
    req: &NewOrder,
    reference: Option<Decimal>,
) -> Result<(), Reject> {
    match (req.kind, req.amount) {
        (OrderKind::Limit { price, .. } | OrderKind::LimitMaker { price }, Amount::Base(qty)) => {
            f.check_price(price)?;
            f.check_qty(qty, false)?;
            f.check_notional(price.checked_mul(qty), false)
        }
        (OrderKind::Market, Amount::Base(qty)) => {
            f.check_qty(qty, true)?;
            match reference {
                Some(price) => f.check_notional(price.checked_mul(qty), true),
                None => Ok(()),
            }
        }
        (OrderKind::Market, Amount::Quote(quote)) if quote > Decimal::ZERO => {
            f.check_notional(Some(quote), true)
        }
        (OrderKind::Market, Amount::Quote(_)) => Err(Reject::Filter("NOTIONAL")),
        _ => Err(Reject::Unsupported),
    }
}

pub(super) fn limit_price(kind: OrderKind) -> Option<Decimal> {
    match kind {
        OrderKind::Limit { price, .. } | OrderKind::LimitMaker { price } => Some(price),
        OrderKind::Market => None,
    }
}

/// What a placement reserves: quote for a BUY (limit price × qty, the quote amount, or the
/// planned cost of a MARKET), base for a SELL (qty, or the planned quantity of a MARKET).
pub(super) fn reservation(def: &SymbolDef, req: &NewOrder, plan: &Plan) -> (AssetId, Decimal) {
    match (req.side, req.kind, req.amount) {
        (Side::Buy, OrderKind::Market, Amount::Quote(quote)) => (def.quote, quote),
        (Side::Buy, OrderKind::Market, _) => (def.quote, plan.traded_cost()),
        (
            Side::Buy,
            OrderKind::Limit { price, .. } | OrderKind::LimitMaker { price },
            Amount::Base(qty),
        ) => (def.quote, price * qty),
        (Side::Sell, OrderKind::Market, _) => (def.base, plan.traded_qty()),
        (Side::Sell, _, Amount::Base(qty)) => (def.base, qty),
        (side, _, Amount::Quote(q)) => (
            if side == Side::Buy {
                def.quote
            } else {
                def.base
            },
            q,
        ),
    }
}

pub(super) fn round(value: Decimal, dp: u32) -> Decimal {
    value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

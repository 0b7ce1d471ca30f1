//! Order amend keep-priority: reduces an open order's quantity in place. The order keeps its
//! id and its place in the price level's queue; only its quantity (and, if asked, its client
//! order id) changes, and the funds reserved for the removed quantity are released.

use rust_decimal::Decimal;

use super::Engine;
use super::types::{AccountId, ExecType, Order, OrderKey, Reject, Side, SymbolId};

/// Result of an amend: the order after it and the values it replaced.
#[derive(Clone, Debug, PartialEq)]
pub struct Amended {
    pub order: Order,
    pub orig_client_order_id: String,
    pub orig_qty: Decimal,
}

impl Engine {
    /// Reduces an open order of the account to `new_qty`, keeping its queue priority.
    ///
    /// `new_qty` must be below the order's quantity (`AmendIncrease`) and above what already
    /// executed (`AmendBelowExecuted`); an order amended `MAX_NUM_ORDER_AMENDS` times refuses
    /// further amends.
    pub fn amend(
        &mut self,
        account: AccountId,
        symbol: SymbolId,
        key: &OrderKey,
        new_client_id: Option<String>,
        new_qty: Decimal,
        now: i64,
    ) -> Result<Amended, Reject> {
        let def = self.catalog.symbol(symbol).ok_or(Reject::UnknownSymbol)?;
        let (base, quote, max_amends) = (def.base, def.quote, def.filters.max_num_order_amends);
        let order = self.find_open(account, symbol, key, Reject::OrderNotFound)?;
        let id = order.id;
        let state = self.symbols.get(symbol.0).ok_or(Reject::UnknownSymbol)?;
        if new_qty >= order.orig_qty {
            return Err(Reject::AmendIncrease);
        }
        if new_qty <= order.executed_qty + order.prevented_qty {
            return Err(Reject::AmendBelowExecuted);
        }
        if state.orders.amend_count(id) >= max_amends {
            return Err(Reject::Filter("MAX_NUM_ORDER_AMENDS"));
        }
        if let Some(client) = &new_client_id {
            let taken = state.orders.open_by_client(account, client);
            if taken.is_some_and(|other| other != id) {
                return Err(Reject::DuplicateOrder);
            }
        }
        let (orig_client_order_id, orig_qty) = (order.client_order_id.clone(), order.orig_qty);
        let delta = orig_qty - new_qty;
        let new_client_id = new_client_id.unwrap_or_else(|| self.next_client_id());
        let state = self
            .symbols
            .get_mut(symbol.0)
            .ok_or(Reject::UnknownSymbol)?;
        state.book.shrink(id, delta);
        state.orders.record_amend(id, new_client_id);
        let order = state.orders.open_mut(id).ok_or(Reject::OrderNotFound)?;
        let (asset, release) = match order.side {
            Side::Buy => (quote, (delta * order.price).min(order.locked)),
            Side::Sell => (base, delta.min(order.locked)),
        };
        order.orig_qty = new_qty;
        order.locked -= release;
        order.update_time = now;
        let order = order.clone();
        self.accounts.unlock(account, asset, release, now);
        self.report(&order, ExecType::Replaced, None, None, now);
        self.emit_balances(now);
        Ok(Amended {
            order,
            orig_client_order_id,
            orig_qty,
        })
    }
}

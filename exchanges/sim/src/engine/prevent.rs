//! Self-trade prevention: what happens to a resting order (and, for DECREMENT, to the taker)
//! when a taker meets an order of its own account. The resting order loses the prevented
//! quantity and its reservation for it; if nothing is left it ends `EXPIRED_IN_MATCH`. Each
//! affected resting order gets a `TRADE_PREVENTION` execution report.

use rust_decimal::Decimal;

use super::Engine;
use super::catalog::SymbolDef;
use super::types::*;

/// One prevention step as `place` hands it over.
#[derive(Clone, Copy, Debug)]
pub(super) struct PreventStep {
    pub maker: OrderId,
    pub qty: Decimal,
    pub expire_maker: bool,
    pub decrement_taker: bool,
}

impl Engine {
    /// Applies one prevention step to the resting order and the taker.
    pub(super) fn prevent(
        &mut self,
        def: &SymbolDef,
        taker: &mut Order,
        step: PreventStep,
        now: i64,
    ) {
        let symbol = taker.symbol;
        let state = &mut self.symbols[symbol.0];
        let match_id = state.next_prevented_match_id;
        state.next_prevented_match_id += 1;
        let Some(maker) = state.orders.open_mut(step.maker) else {
            return;
        };
        maker.prevented_qty += step.qty;
        maker.prevented_match_id = Some(match_id);
        maker.update_time = now;
        let maker_order = if step.expire_maker {
            match self.close_order(symbol, step.maker, OrderStatus::ExpiredInMatch, now) {
                Ok(order) => order,
                Err(_) => return,
            }
        } else {
            let (asset, amount) = reserved_for(def, maker, step.qty);
            maker.locked -= amount;
            let snapshot = maker.clone();
            state.book.reduce(step.maker, step.qty);
            self.accounts.unlock(snapshot.account, asset, amount, now);
            snapshot
        };
        let prevention = Prevention {
            match_id,
            qty: step.qty,
            counter_order_id: taker.id,
        };
        self.push_report(ExecutionReport {
            order: maker_order,
            exec_type: ExecType::TradePrevention,
            last: None,
            cancel_client_id: None,
            prevention: Some(prevention),
            time: now,
        });
        taker.prevented_match_id = Some(match_id);
        if step.decrement_taker {
            taker.prevented_qty += step.qty;
            if taker.order_type != OrderType::Market {
                // A MARKET taker reserved only what it trades; a limit one reserved it all.
                let (asset, amount) = reserved_for(def, taker, step.qty);
                taker.locked -= amount;
                self.accounts.unlock(taker.account, asset, amount, now);
            }
        }
    }
}

/// The reservation a resting limit order holds for `qty`.
fn reserved_for(def: &SymbolDef, order: &Order, qty: Decimal) -> (AssetId, Decimal) {
    match order.side {
        Side::Buy => (def.quote, order.price * qty),
        Side::Sell => (def.base, qty),
    }
}

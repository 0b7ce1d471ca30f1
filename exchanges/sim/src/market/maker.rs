//! The maker agent: a ladder of levels on the spacing grid around the mid, each holding several
//! resting orders of their own random sizes. Filled orders are replaced at the back of their
//! level's queue, and resting orders are now and then cancelled and placed again, so queue
//! position at a level matters as it does on a venue.

use rand::Rng;
use rust_decimal::Decimal;
use tracing::debug;

use super::{Params, SymbolAgent};
use crate::engine::{
    AccountId, Amount, Engine, NewOrder, OrderId, OrderKey, OrderKind, Side, TimeInForce,
};

impl SymbolAgent {
    /// Target quote prices (ticks) per side, on the `spacing` grid, best first.
    pub(super) fn targets(&self, levels: i64) -> Vec<(Side, i64)> {
        let best_bid = (self.mid - self.half_spread).div_euclid(self.spacing) * self.spacing;
        let best_ask = -((-(self.mid + self.half_spread)).div_euclid(self.spacing)) * self.spacing;
        let bids = (0..levels).map(|i| (Side::Buy, best_bid - i * self.spacing));
        let asks = (0..levels).map(|i| (Side::Sell, best_ask + i * self.spacing));
        bids.chain(asks).filter(|(_, p)| *p > 0).collect()
    }

    /// Cancels levels off the grid; on every target level forgets filled orders, refreshes some
    /// resting ones and tops the level up to `orders_per_level` orders.
    pub(super) fn refresh_ladder(
        &mut self,
        engine: &mut Engine,
        maker: AccountId,
        params: &Params,
        now: i64,
    ) {
        let targets = self.targets(params.levels);
        let stale: Vec<(Side, i64)> = self
            .quotes
            .keys()
            .filter(|k| !targets.contains(k))
            .copied()
            .collect();
        for key in stale {
            for id in self.quotes.remove(&key).unwrap_or_default() {
                self.cancel(engine, maker, id, now);
            }
        }
        for key in targets {
            let mut resting = self.quotes.remove(&key).unwrap_or_default();
            resting.retain(|id| engine.open_order(self.symbol, *id).is_some());
            if params.refresh_probability > 0.0 {
                let mut kept = Vec::with_capacity(resting.len());
                for id in resting {
                    if self.maker_rng.random::<f64>() < params.refresh_probability {
                        self.cancel(engine, maker, id, now);
                    } else {
                        kept.push(id);
                    }
                }
                resting = kept;
            }
            while resting.len() < params.orders_per_level {
                match self.quote(engine, maker, key, now) {
                    Some(id) => resting.push(id),
                    None => break,
                }
            }
            if !resting.is_empty() {
                self.quotes.insert(key, resting);
            }
        }
    }

    /// Places one maker order of a random size at `ticks`; its id if it rests on the book.
    fn quote(
        &mut self,
        engine: &mut Engine,
        maker: AccountId,
        (side, ticks): (Side, i64),
        now: i64,
    ) -> Option<OrderId> {
        let qty = Decimal::from(
            self.maker_rng
                .random_range(self.quote_steps.0..=self.quote_steps.1),
        ) * self.step;
        let price = self.price(ticks);
        let order = NewOrder {
            symbol: self.symbol,
            account: maker,
            side,
            kind: OrderKind::Limit {
                price,
                tif: TimeInForce::Gtc,
            },
            amount: Amount::Base(qty),
            client_order_id: None,
            stp: None,
        };
        match engine.place(order, now) {
            Ok(placed) if placed.order.status.is_open() => Some(placed.order.id),
            Ok(_) => None,
            Err(reject) => {
                debug!(symbol = self.symbol.0, %price, %reject, "maker quote rejected");
                None
            }
        }
    }

    fn cancel(&self, engine: &mut Engine, maker: AccountId, id: OrderId, now: i64) {
        let key = OrderKey {
            order_id: Some(id),
            client_order_id: None,
        };
        // The quote may have been filled meanwhile; then there is nothing to cancel.
        let _ = engine.cancel(maker, self.symbol, &key, None, now);
    }
}

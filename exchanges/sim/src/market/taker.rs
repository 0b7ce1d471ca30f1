//! The taker agent: MARKET orders in bursts. A burst starts at random (seeded), sends a drawn
//! number of orders on consecutive market ticks, mostly on one side, then the taker is quiet
//! until the next burst; the start rate is set so the mean order rate is the configured one.

use rand::Rng;
use rust_decimal::Decimal;
use tracing::debug;

use super::{Params, SymbolAgent};
use crate::engine::{AccountId, Amount, Engine, NewOrder, OrderKind, Side};

/// Share of a burst's orders on its main side.
const BURST_SIDE_BIAS: f64 = 0.8;

impl SymbolAgent {
    /// Starts a burst with the right probability, then sends this tick's orders of it.
    pub(super) fn take(&mut self, engine: &mut Engine, taker: AccountId, p: &Params, now: i64) {
        let per_tick = self.taker_rate * p.tick_secs;
        if per_tick <= 0.0 {
            return;
        }
        if self.burst_left == 0 {
            let mean_burst = f64::from(p.burst.0 + p.burst.1) / 2.0;
            if self.taker_rng.random::<f64>() >= (per_tick / mean_burst).min(1.0) {
                return;
            }
            self.burst_left = self.taker_rng.random_range(p.burst.0..=p.burst.1);
            self.burst_side = if self.taker_rng.random::<bool>() {
                Side::Buy
            } else {
                Side::Sell
            };
        }
        // Faster than one order per tick on average: send that many per tick of the burst.
        let this_tick = (per_tick.ceil() as u32).clamp(1, self.burst_left);
        for _ in 0..this_tick {
            self.send_taker(engine, taker, now);
        }
        self.burst_left -= this_tick;
    }

    fn send_taker(&mut self, engine: &mut Engine, taker: AccountId, now: i64) {
        let side = if self.taker_rng.random::<f64>() < BURST_SIDE_BIAS {
            self.burst_side
        } else {
            self.burst_side.opposite()
        };
        let qty = Decimal::from(
            self.taker_rng
                .random_range(self.taker_steps.0..=self.taker_steps.1),
        ) * self.step;
        let order = NewOrder {
            symbol: self.symbol,
            account: taker,
            side,
            kind: OrderKind::Market,
            amount: Amount::Base(qty),
            client_order_id: None,
            stp: None,
        };
        if let Err(reject) = engine.place(order, now) {
            debug!(symbol = self.symbol.0, %reject, "taker order rejected");
        }
    }
}

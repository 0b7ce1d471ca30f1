//! The synthetic market: per symbol a seeded random-walk mid (in ticks, mildly mean-reverting),
//! a maker agent that keeps a ladder of quotes on a fixed price grid around it — several orders
//! of different sizes per level, some cancelled and placed again over time — and a taker agent
//! that sends MARKET orders in bursts at a configured mean rate.
//!
//! Each symbol draws from three independent ChaCha streams (mid, maker, taker), so the mid path
//! and the taker's timing depend only on the seed, never on what users do. Agents trade through
//! the same engine calls and rules as users.

mod maker;
mod taker;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::config::{SimConfig, SymbolConfig};
use crate::engine::{AccountId, Engine, OrderId, Side, SymbolId};

pub(crate) struct SyntheticMarket {
    agents: Vec<SymbolAgent>,
    maker: AccountId,
    taker: AccountId,
    params: Params,
}

/// Market-wide agent parameters, converted to per-tick terms.
struct Params {
    levels: i64,
    orders_per_level: usize,
    /// Probability that one resting maker order is refreshed in one tick.
    refresh_probability: f64,
    burst: (u32, u32),
    tick_secs: f64,
}

struct SymbolAgent {
    symbol: SymbolId,
    tick: Decimal,
    step: Decimal,
    mid: i64,
    anchor: i64,
    min_mid: i64,
    half_spread: i64,
    spacing: i64,
    volatility: i64,
    /// Quote sizes and taker sizes, in lot steps.
    quote_steps: (i64, i64),
    taker_steps: (i64, i64),
    taker_rate: f64,
    walk_rng: ChaCha8Rng,
    maker_rng: ChaCha8Rng,
    taker_rng: ChaCha8Rng,
    /// The maker's resting orders at each grid price (in ticks), oldest first.
    quotes: BTreeMap<(Side, i64), Vec<OrderId>>,
    /// Taker orders still to send in the current burst, and the burst's main side.
    burst_left: u32,
    burst_side: Side,
}

impl SyntheticMarket {
    /// Agents for every configured symbol; `maker` and `taker` are funded agent accounts.
    pub fn new(config: &SimConfig, maker: AccountId, taker: AccountId) -> Self {
        let m = &config.market;
        let levels = i64::try_from(m.maker_levels).unwrap_or(1);
        let tick_secs = m.tick_interval_ms as f64 / 1000.0;
        let agents = config
            .symbols
            .iter()
            .enumerate()
            .map(|(i, s)| SymbolAgent::new(SymbolId(i), s, config.seed, levels))
            .collect();
        Self {
            agents,
            maker,
            taker,
            params: Params {
                levels,
                orders_per_level: m.maker_orders_per_level.max(1),
                refresh_probability: (m.maker_refresh_per_sec * tick_secs).clamp(0.0, 1.0),
                burst: (
                    m.taker_burst_min.max(1),
                    m.taker_burst_max.max(m.taker_burst_min.max(1)),
                ),
                tick_secs,
            },
        }
    }

    /// One market step for every symbol: move the mid, refresh the ladder, maybe take.
    pub fn tick(&mut self, engine: &mut Engine, now: i64) {
        for agent in &mut self.agents {
            agent.step_mid();
            agent.refresh_ladder(engine, self.maker, &self.params, now);
            agent.take(engine, self.taker, &self.params, now);
        }
    }

    /// Current mid of a symbol.
    #[cfg(test)]
    pub fn mid(&self, symbol: SymbolId) -> Option<Decimal> {
        self.agents
            .iter()
            .find(|a| a.symbol == symbol)
            .map(|a| a.price(a.mid))
    }
}

impl SymbolAgent {
    fn new(symbol: SymbolId, c: &SymbolConfig, seed: u64, levels: i64) -> Self {
        let rng = |stream: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(symbol.0 as u64 * 3 + stream + 1);
            rng
        };
        let ticks = |d: Decimal| (d / c.tick_size).trunc().to_i64().unwrap_or(1);
        let steps = |d: Decimal| (d / c.step_size).trunc().to_i64().unwrap_or(1);
        let mid = ticks(c.initial_mid);
        Self {
            symbol,
            tick: c.tick_size,
            step: c.step_size,
            mid,
            anchor: mid,
            min_mid: ticks(c.min_price)
                + c.half_spread_ticks
                + c.level_spacing_ticks * (levels + 1),
            half_spread: c.half_spread_ticks,
            spacing: c.level_spacing_ticks,
            volatility: c.volatility_ticks,
            quote_steps: (steps(c.level_qty_min), steps(c.level_qty_max)),
            taker_steps: (steps(c.taker_qty_min), steps(c.taker_qty_max)),
            taker_rate: c.taker_orders_per_sec,
            walk_rng: rng(0),
            maker_rng: rng(1),
            taker_rng: rng(2),
            quotes: BTreeMap::new(),
            burst_left: 0,
            burst_side: Side::Buy,
        }
    }

    fn price(&self, ticks: i64) -> Decimal {
        Decimal::from(ticks) * self.tick
    }

    /// Random walk with a weak pull back to the starting mid so the market stays in range.
    fn step_mid(&mut self) {
        let shock = if self.volatility > 0 {
            self.walk_rng
                .random_range(-self.volatility..=self.volatility)
        } else {
            0
        };
        let pull = (self.anchor - self.mid) / 500;
        self.mid = (self.mid + shock + pull).max(self.min_mid);
    }
}

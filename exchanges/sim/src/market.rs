//! The synthetic market: per symbol a seeded random-walk mid (in ticks, mildly mean-reverting),
//! a maker agent that keeps a ladder of quotes on a fixed price grid around it, and a taker
//! agent that sends MARKET orders at a configured rate.
//!
//! Each symbol draws from three independent ChaCha streams (mid, maker sizes, taker), so the mid
//! path depends only on the seed, never on what users do. Agents trade through the same engine
//! calls and rules as users.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use tracing::debug;

use crate::config::{SimConfig, SymbolConfig};
use crate::engine::{
    AccountId, Amount, Engine, NewOrder, OrderId, OrderKey, OrderKind, Side, SymbolId, TimeInForce,
};

pub(crate) struct SyntheticMarket {
    agents: Vec<SymbolAgent>,
    maker: AccountId,
    taker: AccountId,
    levels: i64,
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
    /// The maker's quote at each grid price (in ticks): order id and size placed.
    quotes: BTreeMap<(Side, i64), (OrderId, Decimal)>,
}

impl SyntheticMarket {
    /// Agents for every configured symbol; `maker` and `taker` are funded agent accounts.
    pub fn new(config: &SimConfig, maker: AccountId, taker: AccountId) -> Self {
        let levels = i64::try_from(config.market.maker_levels).unwrap_or(1);
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
            levels,
            tick_secs: config.market.tick_interval_ms as f64 / 1000.0,
        }
    }

    /// One market step for every symbol: move the mid, refresh the ladder, maybe take.
    pub fn tick(&mut self, engine: &mut Engine, now: i64) {
        for agent in &mut self.agents {
            agent.step_mid();
            agent.refresh_ladder(engine, self.maker, self.levels, now);
            agent.maybe_take(engine, self.taker, self.tick_secs, now);
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

    /// Target quote prices (ticks) per side, on the `spacing` grid, best first.
    fn targets(&self, levels: i64) -> Vec<(Side, i64)> {
        let best_bid = (self.mid - self.half_spread).div_euclid(self.spacing) * self.spacing;
        let best_ask = -((-(self.mid + self.half_spread)).div_euclid(self.spacing)) * self.spacing;
        let bids = (0..levels).map(|i| (Side::Buy, best_bid - i * self.spacing));
        let asks = (0..levels).map(|i| (Side::Sell, best_ask + i * self.spacing));
        bids.chain(asks).filter(|(_, p)| *p > 0).collect()
    }

    /// Cancels quotes off the grid, then (re)places any level that is missing or mostly taken.
    fn refresh_ladder(&mut self, engine: &mut Engine, maker: AccountId, levels: i64, now: i64) {
        let targets = self.targets(levels);
        let stale: Vec<(Side, i64)> = self
            .quotes
            .keys()
            .filter(|k| !targets.contains(k))
            .copied()
            .collect();
        for key in stale {
            if let Some((id, _)) = self.quotes.remove(&key) {
                self.cancel(engine, maker, id, now);
            }
        }
        for key in targets {
            let min_left = Decimal::from(self.quote_steps.0) * self.step;
            let left = self
                .quotes
                .get(&key)
                .and_then(|(id, _)| engine.open_order(self.symbol, *id))
                .map(|o| o.remaining());
            match left {
                Some(left) if left >= min_left => continue,
                Some(_) => {
                    if let Some((id, _)) = self.quotes.remove(&key) {
                        self.cancel(engine, maker, id, now);
                    }
                }
                None => {
                    self.quotes.remove(&key);
                }
            }
            self.quote(engine, maker, key, now);
        }
    }

    fn quote(
        &mut self,
        engine: &mut Engine,
        maker: AccountId,
        (side, ticks): (Side, i64),
        now: i64,
    ) {
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
            Ok(placed) if placed.order.status.is_open() => {
                self.quotes.insert((side, ticks), (placed.order.id, qty));
            }
            Ok(_) => {}
            Err(reject) => debug!(symbol = self.symbol.0, %price, %reject, "maker quote rejected"),
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

    fn maybe_take(&mut self, engine: &mut Engine, taker: AccountId, tick_secs: f64, now: i64) {
        let probability = (self.taker_rate * tick_secs).min(1.0);
        if self.taker_rng.random::<f64>() >= probability {
            return;
        }
        let side = if self.taker_rng.random::<bool>() {
            Side::Buy
        } else {
            Side::Sell
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::{Catalog, Fees};

    fn setup(seed: u64) -> (Engine, SyntheticMarket) {
        let config = SimConfig {
            seed,
            ..SimConfig::default()
        };
        let catalog = Arc::new(Catalog::new(&config.symbols, std::iter::empty()));
        let fees = Fees {
            maker: config.fees.maker,
            taker: config.fees.taker,
        };
        let mut engine = Engine::new(catalog.clone(), fees, seed, 100);
        let maker = engine.open_account(false);
        let taker = engine.open_account(false);
        for asset in 0..catalog.asset_count() {
            for account in [maker, taker] {
                engine.deposit(
                    account,
                    crate::engine::AssetId(asset),
                    config.market.agent_balance,
                    0,
                );
            }
        }
        let market = SyntheticMarket::new(&config, maker, taker);
        (engine, market)
    }

    fn run(seed: u64, ticks: i64) -> (Vec<Decimal>, Vec<(Decimal, Decimal)>) {
        let (mut engine, mut market) = setup(seed);
        let mut mids = Vec::new();
        for t in 0..ticks {
            market.tick(&mut engine, t * 100);
            mids.push(market.mid(SymbolId(0)).unwrap_or_default());
        }
        (
            mids,
            engine
                .book(SymbolId(0))
                .map(|b| b.depth(Side::Sell, 20))
                .unwrap_or_default(),
        )
    }

    #[test]
    fn same_seed_gives_same_mid_path_and_book() {
        let (mids_a, book_a) = run(42, 300);
        let (mids_b, book_b) = run(42, 300);
        assert_eq!(mids_a, mids_b);
        assert_eq!(book_a, book_b);
        let (mids_c, _) = run(43, 300);
        assert_ne!(mids_a, mids_c);
        assert!(mids_a.windows(2).any(|w| w[0] != w[1]), "mid must move");
    }

    #[test]
    fn ladder_has_levels_on_both_sides_around_mid() {
        let (mut engine, mut market) = setup(5);
        market.tick(&mut engine, 0);
        let book = engine.book(SymbolId(0)).unwrap();
        let mid = market.mid(SymbolId(0)).unwrap();
        assert_eq!(book.bids().len(), 20);
        assert_eq!(book.asks().len(), 20);
        let (bid, ask) = (
            book.best(Side::Buy).unwrap(),
            book.best(Side::Sell).unwrap(),
        );
        assert!(bid < mid && mid < ask, "{bid} < {mid} < {ask}");
        assert!(ask - bid <= Decimal::from(2));
    }

    #[test]
    fn taker_trades_over_time() {
        let (mut engine, mut market) = setup(11);
        for t in 0..200 {
            market.tick(&mut engine, t * 100);
        }
        assert!(
            engine.last_price(SymbolId(0)).is_some(),
            "taker must have traded"
        );
    }
}

//! One listed symbol's configuration: the filters served in exchangeInfo and enforced by the
//! engine, and the synthetic-market parameters of its agents. Every field but the names and the
//! starting mid has a default (the venue documentation's example filters).

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Deserialize;

/// One listed symbol: its exchangeInfo filters and its synthetic-market parameters.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolConfig {
    pub symbol: String,
    pub base_asset: String,
    pub quote_asset: String,
    /// Starting mid price; a multiple of `tick_size`.
    pub initial_mid: Decimal,
    #[serde(default = "eight")]
    pub base_precision: u32,
    #[serde(default = "eight")]
    pub quote_precision: u32,
    #[serde(default = "d_tick")]
    pub tick_size: Decimal,
    #[serde(default = "d_tick")]
    pub min_price: Decimal,
    #[serde(default = "d_max_price")]
    pub max_price: Decimal,
    #[serde(default = "d_step")]
    pub step_size: Decimal,
    #[serde(default = "d_step")]
    pub min_qty: Decimal,
    #[serde(default = "d_max_qty")]
    pub max_qty: Decimal,
    #[serde(default = "d_market_max_qty")]
    pub market_max_qty: Decimal,
    #[serde(default = "d_min_notional")]
    pub min_notional: Decimal,
    #[serde(default = "d_max_notional")]
    pub max_notional: Decimal,
    #[serde(default = "d_max_num_orders")]
    pub max_num_orders: u32,
    /// `MAX_NUM_ORDER_AMENDS`: how many times one order may be amended.
    #[serde(default = "d_max_num_order_amends")]
    pub max_num_order_amends: u32,
    /// Distance in ticks from the mid to the maker's nearest quote.
    #[serde(default = "d_half_spread")]
    pub half_spread_ticks: i64,
    /// Distance in ticks between two maker levels; quotes sit on this grid.
    #[serde(default = "d_spacing")]
    pub level_spacing_ticks: i64,
    #[serde(default = "d_level_qty_min")]
    /// Size range of each maker order (a level holds `market.maker_orders_per_level` of them).
    pub level_qty_min: Decimal,
    #[serde(default = "d_level_qty_max")]
    pub level_qty_max: Decimal,
    /// Largest mid move per market tick, in ticks.
    #[serde(default = "d_volatility")]
    pub volatility_ticks: i64,
    /// Mean number of taker market orders per second (sent in bursts, see `MarketConfig`).
    #[serde(default = "d_taker_rate")]
    pub taker_orders_per_sec: f64,
    #[serde(default = "d_taker_qty_min")]
    pub taker_qty_min: Decimal,
    #[serde(default = "d_taker_qty_max")]
    pub taker_qty_max: Decimal,
}

fn eight() -> u32 {
    8
}
fn d_tick() -> Decimal {
    dec!(0.01)
}
fn d_max_price() -> Decimal {
    dec!(1000000)
}
fn d_step() -> Decimal {
    dec!(0.00001)
}
fn d_max_qty() -> Decimal {
    dec!(9000)
}
fn d_market_max_qty() -> Decimal {
    dec!(100)
}
fn d_min_notional() -> Decimal {
    dec!(5)
}
fn d_max_notional() -> Decimal {
    dec!(9000000)
}
fn d_max_num_orders() -> u32 {
    200
}
fn d_max_num_order_amends() -> u32 {
    10
}
fn d_half_spread() -> i64 {
    50
}
fn d_spacing() -> i64 {
    50
}
fn d_level_qty_min() -> Decimal {
    dec!(0.05)
}
fn d_level_qty_max() -> Decimal {
    dec!(1)
}
fn d_volatility() -> i64 {
    10
}
fn d_taker_rate() -> f64 {
    2.0
}
fn d_taker_qty_min() -> Decimal {
    dec!(0.001)
}
fn d_taker_qty_max() -> Decimal {
    dec!(0.05)
}

impl SymbolConfig {
    /// A symbol with every filter and agent parameter at its default.
    pub fn new(symbol: &str, base: &str, quote: &str, initial_mid: Decimal) -> Self {
        Self {
            symbol: symbol.to_owned(),
            base_asset: base.to_owned(),
            quote_asset: quote.to_owned(),
            initial_mid,
            base_precision: eight(),
            quote_precision: eight(),
            tick_size: d_tick(),
            min_price: d_tick(),
            max_price: d_max_price(),
            step_size: d_step(),
            min_qty: d_step(),
            max_qty: d_max_qty(),
            market_max_qty: d_market_max_qty(),
            min_notional: d_min_notional(),
            max_notional: d_max_notional(),
            max_num_orders: d_max_num_orders(),
            max_num_order_amends: d_max_num_order_amends(),
            half_spread_ticks: d_half_spread(),
            level_spacing_ticks: d_spacing(),
            level_qty_min: d_level_qty_min(),
            level_qty_max: d_level_qty_max(),
            volatility_ticks: d_volatility(),
            taker_orders_per_sec: d_taker_rate(),
            taker_qty_min: d_taker_qty_min(),
            taker_qty_max: d_taker_qty_max(),
        }
    }
}

impl SymbolConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        let name = &self.symbol;
        let mut fail = |what: &str| problems.push(format!("symbol {name}: {what}"));
        if !is_asset_name(name)
            || !is_asset_name(&self.base_asset)
            || !is_asset_name(&self.quote_asset)
        {
            fail("symbol and assets must be upper-case letters and digits");
        }
        if self.base_asset == self.quote_asset {
            fail("base_asset and quote_asset must differ");
        }
        if self.base_precision > 16 || self.quote_precision > 16 {
            fail("precisions must be at most 16");
        }
        if self.tick_size <= Decimal::ZERO || self.step_size <= Decimal::ZERO {
            fail("tick_size and step_size must be positive");
            return;
        }
        if self.min_price <= Decimal::ZERO || self.min_price > self.max_price {
            fail("need 0 < min_price <= max_price");
        }
        if self.min_qty <= Decimal::ZERO || self.min_qty > self.max_qty {
            fail("need 0 < min_qty <= max_qty");
        }
        if self.min_notional < Decimal::ZERO || self.min_notional > self.max_notional {
            fail("need 0 <= min_notional <= max_notional");
        }
        if self.initial_mid <= self.min_price || !(self.initial_mid % self.tick_size).is_zero() {
            fail("initial_mid must be above min_price and a multiple of tick_size");
        }
        if self.half_spread_ticks < 1 || self.level_spacing_ticks < 1 || self.volatility_ticks < 0 {
            fail("need half_spread_ticks >= 1, level_spacing_ticks >= 1, volatility_ticks >= 0");
        }
        let qty_ok = |lo: Decimal, hi: Decimal| {
            lo >= self.min_qty && lo <= hi && hi <= self.max_qty && hi <= self.market_max_qty
        };
        if !qty_ok(self.level_qty_min, self.level_qty_max) {
            fail("level_qty_min..=level_qty_max must lie within the lot size");
        }
        if !qty_ok(self.taker_qty_min, self.taker_qty_max) {
            fail("taker_qty_min..=taker_qty_max must lie within the lot size");
        }
        if !self.taker_orders_per_sec.is_finite() || self.taker_orders_per_sec < 0.0 {
            fail("taker_orders_per_sec must be a finite number >= 0");
        }
    }
}

pub(super) fn is_asset_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 20
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

//! The catalog of listed symbols and assets, and the symbol filters the engine enforces
//! (PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, NOTIONAL, MAX_NUM_ORDERS) with exact decimals.
//!
//! The catalog is immutable after start-up and shared (`Arc`) between the engine and the
//! protocol layer, so both agree on ids, precisions and filter values.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::types::{AssetId, Reject, StpMode, SymbolId};
use crate::config::SymbolConfig;

/// Filter values of one symbol. A zero bound is disabled, as on the venue.
#[derive(Clone, Debug, PartialEq)]
pub struct Filters {
    pub min_price: Decimal,
    pub max_price: Decimal,
    pub tick_size: Decimal,
    pub min_qty: Decimal,
    pub max_qty: Decimal,
    pub step_size: Decimal,
    pub market_min_qty: Decimal,
    pub market_max_qty: Decimal,
    pub market_step_size: Decimal,
    pub min_notional: Decimal,
    pub apply_min_to_market: bool,
    pub max_notional: Decimal,
    pub apply_max_to_market: bool,
    pub max_num_orders: u32,
    pub max_num_order_amends: u32,
}

/// One listed symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct SymbolDef {
    pub name: String,
    pub base: AssetId,
    pub quote: AssetId,
    pub base_precision: u32,
    pub quote_precision: u32,
    pub filters: Filters,
    /// Self-trade prevention mode of orders that name none.
    pub default_stp: StpMode,
}

/// All symbols and assets, with lookups by name.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    assets: Vec<String>,
    symbols: Vec<SymbolDef>,
    by_name: HashMap<String, SymbolId>,
}

impl Catalog {
    /// Builds the catalog from the configured symbols plus any extra asset names (balances).
    pub fn new<'a>(symbols: &[SymbolConfig], extra_assets: impl Iterator<Item = &'a str>) -> Self {
        let mut catalog = Self::default();
        for config in symbols {
            let base = catalog.add_asset(&config.base_asset);
            let quote = catalog.add_asset(&config.quote_asset);
            let id = SymbolId(catalog.symbols.len());
            catalog.by_name.insert(config.symbol.clone(), id);
            catalog.symbols.push(SymbolDef {
                name: config.symbol.clone(),
                base,
                quote,
                base_precision: config.base_precision,
                quote_precision: config.quote_precision,
                filters: Filters::from_config(config),
                default_stp: StpMode::ExpireMaker,
            });
        }
        for asset in extra_assets {
            catalog.add_asset(asset);
        }
        catalog
    }

    fn add_asset(&mut self, name: &str) -> AssetId {
        match self.assets.iter().position(|a| a == name) {
            Some(index) => AssetId(index),
            None => {
                self.assets.push(name.to_owned());
                AssetId(self.assets.len() - 1)
            }
        }
    }

    pub fn symbol(&self, id: SymbolId) -> Option<&SymbolDef> {
        self.symbols.get(id.0)
    }

    /// Looks a symbol up by its exact (upper-case) name.
    pub fn symbol_id(&self, name: &str) -> Option<SymbolId> {
        self.by_name.get(name).copied()
    }

    pub fn symbols(&self) -> impl Iterator<Item = (SymbolId, &SymbolDef)> {
        self.symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (SymbolId(i), s))
    }

    pub fn asset_name(&self, id: AssetId) -> &str {
        self.assets.get(id.0).map_or("", String::as_str)
    }

    pub fn asset_id(&self, name: &str) -> Option<AssetId> {
        self.assets.iter().position(|a| a == name).map(AssetId)
    }

    pub fn asset_count(&self) -> usize {
        self.assets.len()
    }
}

impl Filters {
    fn from_config(c: &SymbolConfig) -> Self {
        Self {
            min_price: c.min_price,
            max_price: c.max_price,
            tick_size: c.tick_size,
            min_qty: c.min_qty,
            max_qty: c.max_qty,
            step_size: c.step_size,
            market_min_qty: Decimal::ZERO,
            market_max_qty: c.market_max_qty,
            market_step_size: Decimal::ZERO,
            min_notional: c.min_notional,
            apply_min_to_market: true,
            max_notional: c.max_notional,
            apply_max_to_market: false,
            max_num_orders: c.max_num_orders,
            max_num_order_amends: c.max_num_order_amends,
        }
    }

    /// PRICE_FILTER: `min <= price <= max` and `(price - min) % tick == 0`; never `<= 0`.
    pub fn check_price(&self, price: Decimal) -> Result<(), Reject> {
        let ok = price > Decimal::ZERO
            && (self.min_price.is_zero() || price >= self.min_price)
            && (self.max_price.is_zero() || price <= self.max_price)
            && on_grid(price, self.min_price, self.tick_size);
        ok.then_some(()).ok_or(Reject::Filter("PRICE_FILTER"))
    }

    /// LOT_SIZE for every quantity; MARKET_LOT_SIZE in addition for MARKET orders.
    pub fn check_qty(&self, qty: Decimal, market: bool) -> Result<(), Reject> {
        if !lot_ok(qty, self.min_qty, self.max_qty, self.step_size) || qty <= Decimal::ZERO {
            return Err(Reject::Filter("LOT_SIZE"));
        }
        if market
            && !lot_ok(
                qty,
                self.market_min_qty,
                self.market_max_qty,
                self.market_step_size,
            )
        {
            return Err(Reject::Filter("MARKET_LOT_SIZE"));
        }
        Ok(())
    }

    /// NOTIONAL: `min <= notional <= max`, each bound for MARKET only if it applies there.
    pub fn check_notional(&self, notional: Option<Decimal>, market: bool) -> Result<(), Reject> {
        let Some(notional) = notional else {
            return Err(Reject::Filter("NOTIONAL"));
        };
        let min_applies = !market || self.apply_min_to_market;
        let max_applies = !market || self.apply_max_to_market;
        let ok = (!min_applies || notional >= self.min_notional)
            && (!max_applies || self.max_notional.is_zero() || notional <= self.max_notional);
        ok.then_some(()).ok_or(Reject::Filter("NOTIONAL"))
    }

    /// Rounds a quantity down to the lot step (no-op when the step is disabled).
    pub fn floor_to_step(&self, qty: Decimal) -> Decimal {
        if self.step_size.is_zero() {
            qty
        } else {
            (qty / self.step_size).floor() * self.step_size
        }
    }
}

fn lot_ok(qty: Decimal, min: Decimal, max: Decimal, step: Decimal) -> bool {
    (min.is_zero() || qty >= min) && (max.is_zero() || qty <= max) && on_grid(qty, min, step)
}

fn on_grid(value: Decimal, origin: Decimal, step: Decimal) -> bool {
    step.is_zero() || ((value - origin) % step).is_zero()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use rust_decimal_macros::dec;

    fn filters() -> Filters {
        let catalog = Catalog::new(&SimConfig::default().symbols, std::iter::empty());
        catalog.symbols[0].filters.clone()
    }

    #[test]
    fn price_filter_table() {
        let f = filters();
        let cases = [
            (dec!(30000.01), true),
            (dec!(0.01), true),
            (dec!(30000.015), false),
            (dec!(0), false),
            (dec!(-1), false),
            (dec!(0.001), false),
            (dec!(1000000.01), false),
        ];
        for (price, ok) in cases {
            assert_eq!(f.check_price(price).is_ok(), ok, "price {price}");
        }
    }

    #[test]
    fn lot_size_table() {
        let f = filters();
        let cases = [
            (dec!(0.00001), false, Ok(())),
            (dec!(0.000015), false, Err(Reject::Filter("LOT_SIZE"))),
            (dec!(0.000001), false, Err(Reject::Filter("LOT_SIZE"))),
            (dec!(9000.00001), false, Err(Reject::Filter("LOT_SIZE"))),
            (dec!(101), true, Err(Reject::Filter("MARKET_LOT_SIZE"))),
            (dec!(100), true, Ok(())),
        ];
        for (qty, market, expected) in cases {
            assert_eq!(f.check_qty(qty, market), expected, "qty {qty}");
        }
    }

    #[test]
    fn notional_table() {
        let f = filters();
        assert!(f.check_notional(Some(dec!(5)), false).is_ok());
        assert!(f.check_notional(Some(dec!(4.99999999)), false).is_err());
        assert!(f.check_notional(Some(dec!(9000000.01)), false).is_err());
        assert!(f.check_notional(Some(dec!(9000000.01)), true).is_ok());
        assert!(f.check_notional(Some(dec!(4.99)), true).is_err());
        assert!(f.check_notional(None, false).is_err());
    }

    #[test]
    fn floor_to_step_rounds_down() {
        assert_eq!(filters().floor_to_step(dec!(0.123456789)), dec!(0.12345));
    }
}

//! Pre-trade risk limits of one venue (`[venues.risk]`), with per-instrument overrides. The
//! OMS turns them into [`crate::oms::limits::Limits`]; this module only parses, defaults and
//! validates them.
//!
//! Decimal values may be written as TOML strings (`"2.5"`, exact) or numbers (`2.5`, `2`).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

/// Risk limits of one venue account. Every limit is off unless configured, except the price
/// band, which always applies.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// Largest order value in the quote asset (quantity x limit price, or x the book mid for
    /// market orders). None = no limit.
    #[serde(default)]
    pub max_order_notional: Option<Decimal>,
    /// Limit prices must lie within this percentage of the in-sync book's mid. Must be > 0.
    #[serde(default = "default_price_band_pct")]
    pub price_band_pct: Decimal,
    /// Most non-terminal orders on the venue. None = no limit.
    #[serde(default)]
    pub max_open_orders: Option<u32>,
    /// Sliding-window order-rate limit per venue and account. None = off.
    #[serde(default)]
    pub order_rate: Option<OrderRateConfig>,
    /// Largest holding per asset (free + locked + open buy quantity + the new order), e.g.
    /// `BTC = "2"`. Asset names are compared case-insensitively.
    #[serde(default)]
    pub max_position: BTreeMap<String, Decimal>,
    /// Per canonical symbol (e.g. `BTC-USDT`) overrides of `max_order_notional`,
    /// `price_band_pct` and `max_open_orders`.
    #[serde(default)]
    pub instruments: BTreeMap<String, InstrumentRiskConfig>,
}

/// At most `max_orders` orders admitted in any `window_ms` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRateConfig {
    pub max_orders: u32,
    pub window_ms: u64,
}

/// Overrides for one instrument; a field left out keeps the venue's value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentRiskConfig {
    #[serde(default)]
    pub max_order_notional: Option<Decimal>,
    #[serde(default)]
    pub price_band_pct: Option<Decimal>,
    /// Checked against the venue's count of open orders, for orders on this instrument.
    #[serde(default)]
    pub max_open_orders: Option<u32>,
}

fn default_price_band_pct() -> Decimal {
    // Wide enough for normal quoting around the mid, narrow enough to stop a fat-fingered
    // price (a misplaced digit is off by far more than 2%).
    Decimal::TWO
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            max_order_notional: None,
            price_band_pct: default_price_band_pct(),
            max_open_orders: None,
            order_rate: None,
            max_position: BTreeMap::new(),
            instruments: BTreeMap::new(),
        }
    }
}

impl RiskConfig {
    /// Every problem of this venue's risk section; `at` names the venue, `symbols` are the
    /// venue's configured instruments.
    pub(super) fn problems(&self, at: &str, symbols: &[String]) -> Vec<String> {
        let mut problems = Vec::new();
        let mut positive = |name: &str, value: Decimal| {
            if value <= Decimal::ZERO {
                problems.push(format!("{at}: risk.{name} must be positive (got {value})"));
            }
        };
        if let Some(v) = self.max_order_notional {
            positive("max_order_notional", v);
        }
        positive("price_band_pct", self.price_band_pct);
        for (asset, max) in &self.max_position {
            positive(&format!("max_position.{asset}"), *max);
        }
        for (symbol, o) in &self.instruments {
            if let Some(v) = o.max_order_notional {
                positive(&format!("instruments.{symbol}.max_order_notional"), v);
            }
            if let Some(v) = o.price_band_pct {
                positive(&format!("instruments.{symbol}.price_band_pct"), v);
            }
        }
        if self.price_band_pct >= Decimal::ONE_HUNDRED {
            // A band of 100% or more lets a buy at any price through: almost surely a typo.
            problems.push(format!("{at}: risk.price_band_pct must be below 100"));
        }
        if self.max_open_orders == Some(0) {
            problems.push(format!("{at}: risk.max_open_orders must be positive"));
        }
        if let Some(rate) = self.order_rate {
            if rate.max_orders == 0 {
                problems.push(format!("{at}: risk.order_rate.max_orders must be positive"));
            }
            if rate.window_ms == 0 {
                problems.push(format!("{at}: risk.order_rate.window_ms must be positive"));
            }
        }
        for asset in self.max_position.keys() {
            if asset.is_empty() || !asset.chars().all(|c| c.is_ascii_alphanumeric()) {
                problems.push(format!(
                    "{at}: risk.max_position key '{asset}' is not an asset name (e.g. BTC)"
                ));
            }
        }
        for (symbol, o) in &self.instruments {
            if !symbols.contains(symbol) {
                problems.push(format!(
                    "{at}: risk.instruments.{symbol} names a symbol not in this venue's symbols"
                ));
            }
            if o.price_band_pct.is_some_and(|p| p >= Decimal::ONE_HUNDRED) {
                problems.push(format!(
                    "{at}: risk.instruments.{symbol}.price_band_pct must be below 100"
                ));
            }
            if o.max_open_orders == Some(0) {
                problems.push(format!(
                    "{at}: risk.instruments.{symbol}.max_open_orders must be positive"
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::config::Config;

    fn venue_with(risk: &str) -> String {
        format!(
            "[[venues]]\nname = \"b\"\nkind = \"binance\"\nembedded_sim = true\n\
             symbols = [\"BTC-USDT\", \"ETH-USDT\"]\n[venues.risk]\n{risk}\n"
        )
    }

    fn risk_of(risk: &str) -> RiskConfig {
        let config = Config::from_toml(&venue_with(risk)).unwrap();
        config.venues[0].risk.clone()
    }

    #[test]
    fn defaults_when_absent() {
        let config = Config::from_toml(
            "[[venues]]\nname = \"b\"\nkind = \"binance\"\nsymbols = [\"BTC-USDT\"]\n",
        )
        .unwrap();
        let risk = &config.venues[0].risk;
        assert_eq!(risk, &RiskConfig::default());
        assert_eq!(risk.price_band_pct, dec!(2));
        assert_eq!(risk.max_order_notional, None);
        assert_eq!(risk.order_rate, None);
        assert_eq!(risk_of(""), RiskConfig::default());
    }

    #[test]
    fn decimals_as_strings_and_numbers() {
        // (TOML value, expected decimal)
        let cases = [
            ("\"2.5\"", dec!(2.5)),
            ("2.5", dec!(2.5)),
            ("2", dec!(2)),
            ("\"50000\"", dec!(50000)),
            ("0.1", dec!(0.1)),
            ("\"0.00000001\"", dec!(0.00000001)),
        ];
        for (text, want) in cases {
            let risk = risk_of(&format!(
                "max_order_notional = {text}\nprice_band_pct = {text}\n\
                 max_position = {{ BTC = {text} }}\n\
                 instruments.BTC-USDT = {{ max_order_notional = {text}, price_band_pct = {text} }}"
            ));
            assert_eq!(risk.max_order_notional, Some(want), "{text}");
            assert_eq!(risk.price_band_pct, want, "{text}");
            assert_eq!(risk.max_position["BTC"], want, "{text}");
            let o = &risk.instruments["BTC-USDT"];
            assert_eq!(o.max_order_notional, Some(want), "{text}");
            assert_eq!(o.price_band_pct, Some(want), "{text}");
        }
        for bad in ["\"two\"", "true", "[1]"] {
            let text = venue_with(&format!("max_order_notional = {bad}"));
            assert!(Config::from_toml(&text).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn full_section_parses() {
        let risk = risk_of(
            r#"
            max_order_notional = "100000"
            price_band_pct = "2"
            max_open_orders = 200
            order_rate = { max_orders = 100, window_ms = 1000 }
            max_position = { BTC = "10", ETH = 100 }
            [venues.risk.instruments.ETH-USDT]
            max_order_notional = 20000
            max_open_orders = 50
            "#,
        );
        assert_eq!(risk.max_open_orders, Some(200));
        assert_eq!(
            risk.order_rate,
            Some(OrderRateConfig {
                max_orders: 100,
                window_ms: 1000
            })
        );
        assert_eq!(risk.max_position["ETH"], dec!(100));
        let eth = &risk.instruments["ETH-USDT"];
        assert_eq!(eth.max_order_notional, Some(dec!(20000)));
        assert_eq!(eth.price_band_pct, None);
        assert_eq!(eth.max_open_orders, Some(50));
    }

    #[test]
    fn unknown_risk_fields_are_refused() {
        for risk in [
            "max_notional = 1",
            "order_rate = { max_orders = 1, window_ms = 1, burst = 2 }",
            "order_rate = { max_orders = 1 }",
            "instruments.BTC-USDT = { max_position = 1 }",
        ] {
            assert!(
                Config::from_toml(&venue_with(risk)).is_err(),
                "accepted: {risk}"
            );
        }
    }

    #[test]
    fn validation_reports_every_risk_problem() {
        let config = Config::from_toml(&venue_with(
            r#"
            max_order_notional = 0
            price_band_pct = "-1"
            max_open_orders = 0
            order_rate = { max_orders = 0, window_ms = 0 }
            max_position = { BTC = "0", "BT C" = 1 }
            instruments.SOL-USDT = { price_band_pct = 0 }
            instruments.BTC-USDT = { max_order_notional = "-5", max_open_orders = 0, price_band_pct = 150 }
            "#,
        ))
        .unwrap();
        let err = config.validate().unwrap_err();
        let text = err.to_string();
        for needle in [
            "risk.max_order_notional must be positive",
            "risk.price_band_pct must be positive",
            "risk.max_open_orders must be positive",
            "risk.order_rate.max_orders",
            "risk.order_rate.window_ms",
            "risk.max_position.BTC must be positive",
            "'BT C' is not an asset name",
            "risk.instruments.SOL-USDT names a symbol not in this venue's symbols",
            "risk.instruments.SOL-USDT.price_band_pct must be positive",
            "risk.instruments.BTC-USDT.max_order_notional must be positive",
            "risk.instruments.BTC-USDT.max_open_orders must be positive",
            "risk.instruments.BTC-USDT.price_band_pct must be below 100",
        ] {
            assert!(text.contains(needle), "missing '{needle}' in {text}");
        }
        assert_eq!(err.0.len(), 12, "{text}");
    }

    #[test]
    fn valid_limits_pass_validation() {
        let config = Config::from_toml(&venue_with(
            "max_order_notional = \"0.01\"\nprice_band_pct = \"99.9\"\nmax_open_orders = 1\n\
             order_rate = { max_orders = 1, window_ms = 1 }\nmax_position = { btc = 1 }\n\
             instruments.ETH-USDT = { price_band_pct = \"0.5\" }",
        ))
        .unwrap();
        config.validate().unwrap();
    }
}

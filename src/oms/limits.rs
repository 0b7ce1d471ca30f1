//! Pre-trade risk limits: pure checks of one order against the venue's configured limits, the
//! live book and the account's exposure, plus the per-venue order-rate window. No I/O, no
//! clock: the OMS passes in everything a decision needs, so every rule is unit-tested here.

use std::collections::{BTreeMap, VecDeque};

use exchange_core::{Instrument, OrderType, Side};
use rust_decimal::Decimal;

use super::SubmitRequest;
use crate::config::{OrderRateConfig, RiskConfig};

/// The refusal codes, one per rule (stable: they appear in API errors and metric labels).
pub mod code {
    pub const BOOK_OUT_OF_SYNC: &str = "book_out_of_sync";
    pub const PRICE_OUTSIDE_BAND: &str = "price_outside_band";
    pub const MAX_ORDER_NOTIONAL: &str = "max_order_notional";
    pub const MAX_OPEN_ORDERS: &str = "max_open_orders";
    pub const MAX_POSITION: &str = "max_position";
    pub const POSITION_UNKNOWN: &str = "position_unknown";
    pub const ORDER_RATE: &str = "order_rate";
    pub const KILL_SWITCH_ENGAGED: &str = "kill_switch_engaged";
}

/// Why a risk limit refused an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RiskRefusal {
    /// The rule, one of [`code`].
    pub code: &'static str,
    /// What was refused, naming the values compared.
    pub message: String,
    /// The configured value that was hit, as text (e.g. `50000`, `2%`).
    pub limit: String,
}

impl RiskRefusal {
    fn new(code: &'static str, message: String, limit: String) -> Self {
        RiskRefusal {
            code,
            message,
            limit,
        }
    }
}

/// The refusal of every new order while the kill switch is engaged.
pub fn kill_switch_refusal() -> RiskRefusal {
    RiskRefusal::new(
        code::KILL_SWITCH_ENGAGED,
        "the kill switch is engaged: new orders are refused until it is released".into(),
        "kill switch on".into(),
    )
}

/// The limits that apply to orders on one instrument (venue values with its overrides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstrumentLimits {
    pub max_order_notional: Option<Decimal>,
    pub price_band_pct: Decimal,
    /// Compared with the venue's count of open orders.
    pub max_open_orders: Option<u32>,
}

/// One venue's limits, resolved from its [`RiskConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    venue: InstrumentLimits,
    overrides: BTreeMap<String, InstrumentLimits>,
    /// Keyed by upper-case asset name.
    max_position: BTreeMap<String, Decimal>,
    /// The venue's order-rate limit, for [`OrderRateWindow::new`].
    pub order_rate: Option<OrderRateConfig>,
}

impl Limits {
    /// Resolves a venue's risk configuration (assumed validated).
    pub fn new(config: &RiskConfig) -> Limits {
        let venue = InstrumentLimits {
            max_order_notional: config.max_order_notional,
            price_band_pct: config.price_band_pct,
            max_open_orders: config.max_open_orders,
        };
        let overrides = config
            .instruments
            .iter()
            .map(|(symbol, o)| {
                let limits = InstrumentLimits {
                    max_order_notional: o.max_order_notional.or(venue.max_order_notional),
                    price_band_pct: o.price_band_pct.unwrap_or(venue.price_band_pct),
                    max_open_orders: o.max_open_orders.or(venue.max_open_orders),
                };
                (symbol.clone(), limits)
            })
            .collect();
        let max_position = config
            .max_position
            .iter()
            .map(|(asset, max)| (asset.to_ascii_uppercase(), *max))
            .collect();
        Limits {
            venue,
            overrides,
            max_position,
            order_rate: config.order_rate,
        }
    }

    /// The limits for orders on `symbol` (canonical name): its overrides, else the venue's.
    pub fn for_symbol(&self, symbol: &str) -> InstrumentLimits {
        self.overrides.get(symbol).copied().unwrap_or(self.venue)
    }

    /// The largest holding allowed of `asset`, if limited.
    pub fn max_position(&self, asset: &str) -> Option<Decimal> {
        self.max_position.get(&asset.to_ascii_uppercase()).copied()
    }

    /// A fresh order-rate window when the venue has an order-rate limit.
    pub fn order_rate_window(&self) -> Option<OrderRateWindow> {
        self.order_rate.as_ref().map(OrderRateWindow::new)
    }
}

/// The reference price of an instrument's book, as the market-data side sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookMid {
    pub in_sync: bool,
    /// (best bid + best ask) / 2; None while a side is empty.
    pub mid: Option<Decimal>,
}

/// What the account already has or has asked for on the order's venue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exposure {
    /// Non-terminal orders on the venue (all symbols), not counting this one.
    pub open_orders_venue: usize,
    /// Free + locked of the base asset; None while balances are not known yet.
    pub base_holdings: Option<Decimal>,
    /// Remaining quantity of open buy orders on the base asset.
    pub open_buy_base_quantity: Decimal,
}

/// Checks one order against every configured limit; the first rule it breaks refuses it.
///
/// Every order needs an in-sync book with a mid: the band and the notional of market orders
/// are measured against it, and a price from a stale book proves nothing.
pub fn check_order(
    limits: &Limits,
    req: &SubmitRequest,
    instrument: &Instrument,
    book: Option<&BookMid>,
    exposure: &Exposure,
) -> Result<(), RiskRefusal> {
    let mid = match book {
        Some(BookMid {
            in_sync: true,
            mid: Some(mid),
        }) if *mid > Decimal::ZERO => *mid,
        _ => {
            let state = match book {
                None => "no book",
                Some(b) if !b.in_sync => "its book is out of sync",
                Some(_) => "its book has no mid price",
            };
            return Err(RiskRefusal::new(
                code::BOOK_OUT_OF_SYNC,
                format!(
                    "{} on {}: {state}; orders need an in-sync book to check prices against",
                    req.symbol, req.venue
                ),
                "in-sync book required".into(),
            ));
        }
    };
    let il = limits.for_symbol(&req.symbol);
    let price = match (req.order_type, req.price) {
        (OrderType::Limit, Some(price)) => {
            check_band(req, price, mid, il.price_band_pct)?;
            price
        }
        // Market orders (and a limit without a price, which the filters already refuse) are
        // valued at the mid.
        _ => mid,
    };
    if let Some(max) = il.max_order_notional {
        let notional = req.quantity.checked_mul(price);
        if notional.is_none_or(|n| n > max) {
            let value = notional.map_or_else(|| "too large".into(), |n| n.normalize().to_string());
            return Err(RiskRefusal::new(
                code::MAX_ORDER_NOTIONAL,
                format!(
                    "order value {value} {quote} ({} x {}) exceeds the limit of {} {quote}",
                    req.quantity,
                    price,
                    max.normalize(),
                    quote = instrument.quote
                ),
                max.normalize().to_string(),
            ));
        }
    }
    if let Some(max) = il.max_open_orders
        && exposure.open_orders_venue >= max as usize
    {
        return Err(RiskRefusal::new(
            code::MAX_OPEN_ORDERS,
            format!(
                "{} already has {} open orders, the limit is {max}",
                req.venue, exposure.open_orders_venue
            ),
            max.to_string(),
        ));
    }
    if req.side == Side::Buy {
        check_position(limits, req, instrument, exposure)?;
    }
    Ok(())
}

/// A limit price must lie within `band_pct` percent of the mid, bounds included.
fn check_band(
    req: &SubmitRequest,
    price: Decimal,
    mid: Decimal,
    band_pct: Decimal,
) -> Result<(), RiskRefusal> {
    // Checked arithmetic throughout: no input may panic the OMS; an overflow is a refusal.
    let bounds = mid
        .checked_mul(band_pct)
        .and_then(|w| w.checked_div(Decimal::ONE_HUNDRED))
        .and_then(|w| Some((mid.checked_sub(w)?, mid.checked_add(w)?)));
    if bounds.is_some_and(|(low, high)| low <= price && price <= high) {
        return Ok(());
    }
    let off_pct = price
        .checked_sub(mid)
        .and_then(|d| d.checked_div(mid))
        .and_then(|r| r.checked_mul(Decimal::ONE_HUNDRED))
        .map_or_else(
            || "far".to_string(),
            |p| format!("{}%", p.round_dp(4).normalize()),
        );
    Err(RiskRefusal::new(
        code::PRICE_OUTSIDE_BAND,
        format!(
            "price {price} is {off_pct} from the {} mid {}, outside the band of {}%",
            req.symbol,
            mid.normalize(),
            band_pct.normalize()
        ),
        format!("{}%", band_pct.normalize()),
    ))
}

/// A buy may not take the base-asset holding (with open buys) above its maximum.
fn check_position(
    limits: &Limits,
    req: &SubmitRequest,
    instrument: &Instrument,
    exposure: &Exposure,
) -> Result<(), RiskRefusal> {
    let asset = &instrument.base;
    let Some(max) = limits.max_position(asset) else {
        return Ok(());
    };
    let Some(holdings) = exposure.base_holdings else {
        return Err(RiskRefusal::new(
            code::POSITION_UNKNOWN,
            format!(
                "{asset} balance on {} is not known yet; buys are refused until it is",
                req.venue
            ),
            max.normalize().to_string(),
        ));
    };
    let projected = holdings
        .checked_add(exposure.open_buy_base_quantity)
        .and_then(|h| h.checked_add(req.quantity));
    if projected.is_none_or(|p| p > max) {
        return Err(RiskRefusal::new(
            code::MAX_POSITION,
            format!(
                "buying {} {asset} would hold {} {asset} (held {holdings}, open buys {}), \
                 above the limit of {} {asset}",
                req.quantity,
                projected.map_or_else(|| "too much".into(), |p| p.normalize().to_string()),
                exposure.open_buy_base_quantity,
                max.normalize()
            ),
            max.normalize().to_string(),
        ));
    }
    Ok(())
}

/// A venue's sliding order-rate window: at most `max_orders` orders admitted in any
/// `window_ms` milliseconds. It keeps only the timestamps of admitted orders, at most
/// `max_orders` of them.
#[derive(Debug, Clone)]
pub struct OrderRateWindow {
    max_orders: usize,
    window_ms: i64,
    admitted: VecDeque<i64>,
    trips: u64,
}

impl OrderRateWindow {
    /// An empty window for `config` (assumed validated: both values positive).
    pub fn new(config: &OrderRateConfig) -> OrderRateWindow {
        let max_orders = config.max_orders.max(1) as usize;
        OrderRateWindow {
            max_orders,
            window_ms: i64::try_from(config.window_ms).unwrap_or(i64::MAX),
            admitted: VecDeque::with_capacity(max_orders),
            trips: 0,
        }
    }

    /// Admits an order sent at `now_ms` (records it) or refuses it (records nothing). Call it
    /// after every other check passed, so a refused order does not use up a slot.
    pub fn admit(&mut self, now_ms: i64) -> Result<(), RiskRefusal> {
        // An order at `t` leaves the window at `t + window_ms`.
        let horizon = now_ms.saturating_sub(self.window_ms);
        while self.admitted.front().is_some_and(|&t| t <= horizon) {
            self.admitted.pop_front();
        }
        if self.admitted.len() < self.max_orders {
            self.admitted.push_back(now_ms);
            return Ok(());
        }
        self.trips += 1;
        let oldest = self.admitted.front().copied().unwrap_or(now_ms);
        let wait_ms = oldest.saturating_add(self.window_ms).saturating_sub(now_ms);
        Err(RiskRefusal::new(
            code::ORDER_RATE,
            format!(
                "order rate limit reached: {} orders in the last {} ms; next order possible in {wait_ms} ms",
                self.max_orders, self.window_ms
            ),
            format!("{} orders per {} ms", self.max_orders, self.window_ms),
        ))
    }

    /// Orders this window has refused since it was created.
    pub fn tripped_count(&self) -> u64 {
        self.trips
    }
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;

//! The venue-neutral trading model: instruments and their filters, orders, execution reports,
//! fills, balances and public trades.
//!
//! Prices and quantities are `rust_decimal::Decimal` everywhere (DESIGN invariant 10). Times are
//! milliseconds since the Unix epoch. Venue order and trade ids are strings so that every venue
//! fits; venue symbols (`BTCUSDT`) are opaque strings owned by the adapter, while instruments
//! also carry the canonical `BASE-QUOTE` name the control port speaks.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Name of a configured venue (e.g. `binance`): the key of everything per venue.
pub type VenueId = String;

/// Order side.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

/// Order type supported across venues.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    Limit,
    Market,
}

/// Time in force of a limit order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    #[default]
    Gtc,
    Ioc,
    Fok,
}

/// The state of an order. The first three states and `Unknown` exist only locally (the OMS);
/// venues report the others.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Durable locally, not yet acknowledged by the venue.
    PendingNew,
    /// Accepted by the venue and working.
    New,
    PartiallyFilled,
    Filled,
    /// Cancel requested locally, not yet confirmed by the venue.
    PendingCancel,
    Canceled,
    /// Definitively refused by the venue (or by local checks before sending).
    Rejected,
    Expired,
    /// The outcome of a send is not known; only the venue can resolve it.
    Unknown,
}

impl OrderStatus {
    /// Every status, for tables and tests.
    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::PendingNew,
        OrderStatus::New,
        OrderStatus::PartiallyFilled,
        OrderStatus::Filled,
        OrderStatus::PendingCancel,
        OrderStatus::Canceled,
        OrderStatus::Rejected,
        OrderStatus::Expired,
        OrderStatus::Unknown,
    ];

    /// A terminal order never changes again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Rejected
                | OrderStatus::Expired
        )
    }

    /// The snake_case name used in the API and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingNew => "pending_new",
            OrderStatus::New => "new",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::PendingCancel => "pending_cancel",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Expired => "expired",
            OrderStatus::Unknown => "unknown",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown order status '{s}'"))
    }
}

macro_rules! str_enum {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The snake_case name used in the API and in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    other => Err(format!("unknown {} '{}'", stringify!($ty), other)),
                }
            }
        }
    };
}

str_enum!(Side { Buy => "buy", Sell => "sell" });
str_enum!(OrderType { Limit => "limit", Market => "market" });
str_enum!(TimeInForce { Gtc => "gtc", Ioc => "ioc", Fok => "fok" });

/// Trading rules of an instrument, as published by the venue. A zero bound is disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InstrumentFilters {
    pub tick_size: Decimal,
    pub min_price: Decimal,
    pub max_price: Decimal,
    pub step_size: Decimal,
    pub min_qty: Decimal,
    pub max_qty: Decimal,
    pub min_notional: Decimal,
    pub max_notional: Decimal,
}

/// Why an order breaks an instrument's filters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterViolation {
    #[error("quantity must be positive")]
    NonPositiveQuantity,
    #[error("price must be positive")]
    NonPositivePrice,
    #[error("a limit order needs a price")]
    MissingPrice,
    #[error("a market order takes no price")]
    UnexpectedPrice,
    #[error("price {price} is not a multiple of the tick size {tick}")]
    PriceOffTick { price: Decimal, tick: Decimal },
    #[error("price {price} is outside [{min}, {max}]")]
    PriceOutOfRange {
        price: Decimal,
        min: Decimal,
        max: Decimal,
    },
    #[error("quantity {qty} is not a multiple of the step size {step}")]
    QuantityOffStep { qty: Decimal, step: Decimal },
    #[error("quantity {qty} is outside [{min}, {max}]")]
    QuantityOutOfRange {
        qty: Decimal,
        min: Decimal,
        max: Decimal,
    },
    #[error("notional {notional} is outside [{min}, {max}]")]
    NotionalOutOfRange {
        notional: Decimal,
        min: Decimal,
        max: Decimal,
    },
}

impl InstrumentFilters {
    /// Checks an order against the filters. `price` is `None` for market orders; market orders
    /// skip the notional check (the venue applies it at its own reference price).
    pub fn check(
        &self,
        order_type: OrderType,
        quantity: Decimal,
        price: Option<Decimal>,
    ) -> Result<(), FilterViolation> {
        if quantity <= Decimal::ZERO {
            return Err(FilterViolation::NonPositiveQuantity);
        }
        match (order_type, price) {
            (OrderType::Limit, None) => return Err(FilterViolation::MissingPrice),
            (OrderType::Market, Some(_)) => return Err(FilterViolation::UnexpectedPrice),
            _ => {}
        }
        if let Some(price) = price {
            self.check_price(price)?;
        }
        if !is_multiple(quantity, self.step_size) {
            return Err(FilterViolation::QuantityOffStep {
                qty: quantity,
                step: self.step_size,
            });
        }
        if out_of_range(quantity, self.min_qty, self.max_qty) {
            return Err(FilterViolation::QuantityOutOfRange {
                qty: quantity,
                min: self.min_qty,
                max: self.max_qty,
            });
        }
        if let Some(price) = price {
            let notional = price * quantity;
            if out_of_range(notional, self.min_notional, self.max_notional) {
                return Err(FilterViolation::NotionalOutOfRange {
                    notional,
                    min: self.min_notional,
                    max: self.max_notional,
                });
            }
        }
        Ok(())
    }

    fn check_price(&self, price: Decimal) -> Result<(), FilterViolation> {
        if price <= Decimal::ZERO {
            return Err(FilterViolation::NonPositivePrice);
        }
        if !is_multiple(price, self.tick_size) {
            return Err(FilterViolation::PriceOffTick {
                price,
                tick: self.tick_size,
            });
        }
        if out_of_range(price, self.min_price, self.max_price) {
            return Err(FilterViolation::PriceOutOfRange {
                price,
                min: self.min_price,
                max: self.max_price,
            });
        }
        Ok(())
    }
}

fn is_multiple(value: Decimal, step: Decimal) -> bool {
    step.is_zero() || (value % step).is_zero()
}

fn out_of_range(value: Decimal, min: Decimal, max: Decimal) -> bool {
    (!min.is_zero() && value < min) || (!max.is_zero() && value > max)
}

/// A tradable instrument on one venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    pub venue: VenueId,
    /// Canonical name, `BASE-QUOTE` (e.g. `BTC-USDT`).
    pub name: String,
    /// The venue's own symbol (e.g. `BTCUSDT`).
    pub venue_symbol: String,
    pub base: String,
    pub quote: String,
    /// Whether the venue currently accepts orders.
    pub trading: bool,
    pub filters: InstrumentFilters,
}

impl Instrument {
    /// The canonical `BASE-QUOTE` name for a base and quote asset.
    pub fn canonical_name(base: &str, quote: &str) -> String {
        format!(
            "{}-{}",
            base.to_ascii_uppercase(),
            quote.to_ascii_uppercase()
        )
    }
}

/// An order to send to a venue. The client order id is ours, derived from the trader's
/// idempotency key, and identical on every retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    pub client_order_id: String,
    pub venue_symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
}

/// One execution (a fill) of one of our orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The venue's trade id: unique per venue and symbol.
    pub trade_id: String,
    pub venue_order_id: String,
    pub client_order_id: String,
    pub venue_symbol: String,
    pub side: Side,
    pub price: Decimal,
    pub quantity: Decimal,
    pub fee: Decimal,
    pub fee_asset: Option<String>,
    pub is_maker: bool,
    pub time_ms: i64,
}

/// The venue's view of an order at one moment (answer to place, query, cancel, open orders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSnapshot {
    pub venue_symbol: String,
    pub client_order_id: String,
    pub venue_order_id: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub status: OrderStatus,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    /// Cumulative filled base quantity.
    pub filled_quantity: Decimal,
    /// Cumulative filled quote quantity.
    pub cumulative_quote: Decimal,
    /// Fills carried by this answer (only a place answer carries them on most venues).
    pub fills: Vec<Fill>,
    pub update_time_ms: i64,
}

/// What a single execution report says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionKind {
    New,
    Trade,
    Canceled,
    Rejected,
    Expired,
    /// Anything else the venue reports (replaced, trade prevention, ...).
    Other,
}

/// One order update from the venue's user-data stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionReport {
    pub venue_symbol: String,
    /// The order's own client order id (never a cancel request's id).
    pub client_order_id: String,
    pub venue_order_id: String,
    pub kind: ExecutionKind,
    pub status: OrderStatus,
    pub side: Side,
    pub quantity: Decimal,
    /// Cumulative filled base quantity after this event.
    pub filled_quantity: Decimal,
    /// Cumulative filled quote quantity after this event.
    pub cumulative_quote: Decimal,
    /// The fill this event reports, for `ExecutionKind::Trade`.
    pub fill: Option<Fill>,
    /// Why the venue ended the order, if it says: reject reason, or expiry reason if expired.
    pub reject_reason: Option<String>,
    pub event_time_ms: i64,
}

/// An asset balance on a venue account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub asset: String,
    pub free: Decimal,
    pub locked: Decimal,
}

/// A public trade from the market-data stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub venue_symbol: String,
    pub trade_id: String,
    pub price: Decimal,
    pub quantity: Decimal,
    /// The side of the aggressor (taker).
    pub taker_side: Side,
    pub time_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn filters() -> InstrumentFilters {
        InstrumentFilters {
            tick_size: dec!(0.01),
            min_price: dec!(0.01),
            max_price: dec!(1000000),
            step_size: dec!(0.00001),
            min_qty: dec!(0.00001),
            max_qty: dec!(9000),
            min_notional: dec!(5),
            max_notional: dec!(9000000),
        }
    }

    #[test]
    fn filter_check_table() {
        use FilterViolation as V;
        let f = filters();
        type Case = (OrderType, Decimal, Option<Decimal>, Result<(), V>);
        let cases: Vec<Case> = vec![
            (OrderType::Limit, dec!(0.001), Some(dec!(30000.00)), Ok(())),
            (OrderType::Market, dec!(0.001), None, Ok(())),
            (
                OrderType::Limit,
                dec!(-1),
                Some(dec!(1)),
                Err(V::NonPositiveQuantity),
            ),
            (
                OrderType::Limit,
                dec!(0),
                Some(dec!(1)),
                Err(V::NonPositiveQuantity),
            ),
            (OrderType::Limit, dec!(1), None, Err(V::MissingPrice)),
            (
                OrderType::Market,
                dec!(1),
                Some(dec!(1)),
                Err(V::UnexpectedPrice),
            ),
            (
                OrderType::Limit,
                dec!(1),
                Some(dec!(-5)),
                Err(V::NonPositivePrice),
            ),
            (
                OrderType::Limit,
                dec!(1),
                Some(dec!(100.001)),
                Err(V::PriceOffTick {
                    price: dec!(100.001),
                    tick: dec!(0.01),
                }),
            ),
            (
                OrderType::Limit,
                dec!(0.000001),
                Some(dec!(100)),
                Err(V::QuantityOffStep {
                    qty: dec!(0.000001),
                    step: dec!(0.00001),
                }),
            ),
            (
                OrderType::Limit,
                dec!(10000),
                Some(dec!(1)),
                Err(V::QuantityOutOfRange {
                    qty: dec!(10000),
                    min: dec!(0.00001),
                    max: dec!(9000),
                }),
            ),
            (
                OrderType::Limit,
                dec!(0.001),
                Some(dec!(100)),
                Err(V::NotionalOutOfRange {
                    notional: dec!(0.100),
                    min: dec!(5),
                    max: dec!(9000000),
                }),
            ),
        ];
        for (ty, qty, price, want) in cases {
            assert_eq!(f.check(ty, qty, price), want, "{ty:?} {qty} {price:?}");
        }
    }

    #[test]
    fn zero_bounds_are_disabled() {
        let f = InstrumentFilters::default();
        assert_eq!(
            f.check(OrderType::Limit, dec!(0.123456789), Some(dec!(0.987654321))),
            Ok(())
        );
    }

    #[test]
    fn enums_round_trip_through_strings() {
        for st in OrderStatus::ALL {
            assert_eq!(st.as_str().parse::<OrderStatus>(), Ok(st));
            assert_eq!(serde_json::to_string(&st).unwrap(), format!("\"{st}\""));
        }
        assert_eq!("sell".parse::<Side>(), Ok(Side::Sell));
        assert_eq!("market".parse::<OrderType>(), Ok(OrderType::Market));
        assert_eq!("fok".parse::<TimeInForce>(), Ok(TimeInForce::Fok));
        assert!("BUY".parse::<Side>().is_err());
        assert!(OrderStatus::Filled.is_terminal());
        assert!(!OrderStatus::Unknown.is_terminal());
    }

    #[test]
    fn canonical_names() {
        assert_eq!(Instrument::canonical_name("btc", "usdt"), "BTC-USDT");
    }
}

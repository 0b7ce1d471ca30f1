//! The Binance Spot wire format: enum spellings and the JSON payloads the simulator sends
//! (REST responses, market stream events, user data events, exchangeInfo).
//!
//! This is the simulator's own reading of the venue documentation; it shares no code with the
//! adapter on purpose, so adapter-against-simulator tests really test the protocol.

pub(crate) mod events;
pub(crate) mod info;
pub(crate) mod orders;
pub(crate) mod stats;
pub(crate) mod stream_stats;

use rust_decimal::Decimal;

use crate::engine::{ExecType, OrderStatus, OrderType, Side, StpMode, SymbolDef, TimeInForce};
use crate::format::fixed;

/// Precision of commissions and balances in payloads.
pub(crate) const ASSET_DP: u32 = 8;

pub(crate) fn side(side: Side) -> &'static str {
    match side {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

pub(crate) fn order_type(order_type: OrderType) -> &'static str {
    match order_type {
        OrderType::Limit => "LIMIT",
        OrderType::LimitMaker => "LIMIT_MAKER",
        OrderType::Market => "MARKET",
    }
}

pub(crate) fn time_in_force(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
    }
}

pub(crate) fn status(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::New => "NEW",
        OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
        OrderStatus::Filled => "FILLED",
        OrderStatus::Canceled => "CANCELED",
        OrderStatus::Expired => "EXPIRED",
        OrderStatus::ExpiredInMatch => "EXPIRED_IN_MATCH",
    }
}

pub(crate) fn exec_type(exec_type: ExecType) -> &'static str {
    match exec_type {
        ExecType::New => "NEW",
        ExecType::Trade => "TRADE",
        ExecType::Canceled => "CANCELED",
        ExecType::Expired => "EXPIRED",
        ExecType::TradePrevention => "TRADE_PREVENTION",
        ExecType::Replaced => "REPLACED",
    }
}

/// Why an order expired (`expiryReason` / `eR`), present only once its status is `EXPIRED`:
/// an IOC or FOK remainder, or a MARKET order that ran out of book. Orders expired by
/// self-trade prevention end `EXPIRED_IN_MATCH`, for which the venue lists no reason.
pub(crate) fn expiry_reason(order: &crate::engine::Order) -> Option<&'static str> {
    if order.status != OrderStatus::Expired {
        return None;
    }
    Some(match (order.order_type, order.time_in_force) {
        (OrderType::Market, _) => "INSUFFICIENT_LIQUIDITY",
        (_, TimeInForce::Ioc) => "UNFILLED_IOC_QUANTITY_EXPIRED",
        (_, TimeInForce::Fok) => "UNFILLED_FOK_ORDER_EXPIRED",
        (_, TimeInForce::Gtc) => "EXCHANGE_CANCELED",
    })
}

pub(crate) fn stp_mode(mode: StpMode) -> &'static str {
    match mode {
        StpMode::None => "NONE",
        StpMode::ExpireTaker => "EXPIRE_TAKER",
        StpMode::ExpireMaker => "EXPIRE_MAKER",
        StpMode::ExpireBoth => "EXPIRE_BOTH",
        StpMode::Decrement => "DECREMENT",
    }
}

pub(crate) fn parse_stp_mode(text: &str) -> Option<StpMode> {
    StpMode::ALL.into_iter().find(|m| stp_mode(*m) == text)
}

pub(crate) fn parse_side(text: &str) -> Option<Side> {
    match text {
        "BUY" => Some(Side::Buy),
        "SELL" => Some(Side::Sell),
        _ => None,
    }
}

pub(crate) fn parse_time_in_force(text: &str) -> Option<TimeInForce> {
    match text {
        "GTC" => Some(TimeInForce::Gtc),
        "IOC" => Some(TimeInForce::Ioc),
        "FOK" => Some(TimeInForce::Fok),
        _ => None,
    }
}

/// Order types the venue knows; only some of them are supported by the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireOrderType {
    Supported(OrderType),
    /// Stop and take-profit types: valid venue names, not listed in our `orderTypes`.
    Unsupported,
}

pub(crate) fn parse_order_type(text: &str) -> Option<WireOrderType> {
    match text {
        "LIMIT" => Some(WireOrderType::Supported(OrderType::Limit)),
        "LIMIT_MAKER" => Some(WireOrderType::Supported(OrderType::LimitMaker)),
        "MARKET" => Some(WireOrderType::Supported(OrderType::Market)),
        "STOP_LOSS" | "STOP_LOSS_LIMIT" | "TAKE_PROFIT" | "TAKE_PROFIT_LIMIT" => {
            Some(WireOrderType::Unsupported)
        }
        _ => None,
    }
}

/// A price of this symbol as a fixed-precision string.
pub(crate) fn price(def: &SymbolDef, value: Decimal) -> String {
    fixed(value, def.quote_precision)
}

/// A base quantity of this symbol as a fixed-precision string.
pub(crate) fn qty(def: &SymbolDef, value: Decimal) -> String {
    fixed(value, def.base_precision)
}

/// A quote amount of this symbol as a fixed-precision string.
pub(crate) fn quote(def: &SymbolDef, value: Decimal) -> String {
    fixed(value, def.quote_precision)
}

/// A commission or balance amount.
pub(crate) fn amount(value: Decimal) -> String {
    fixed(value, ASSET_DP)
}

//! Pure mapping of raw Binance payloads ([`crate::model`]) to exchange-core types.
//!
//! No I/O here: every function is tested against the venue's documented payloads in
//! `test_data/`. Unknown enum values are errors (the caller counts and skips them); unknown
//! fields are ignored.

use exchange_core::{
    Balance, BookDelta, BookSnapshot, ExecutionKind, ExecutionReport, Fill, Instrument,
    InstrumentFilters, Level, OrderSnapshot, OrderStatus, OrderType, Side, TimeInForce, Trade,
    VenueId,
};
use rust_decimal::Decimal;

use crate::model::{
    BinanceAccount, BinanceAccountPosition, BinanceDepthSnapshot, BinanceDepthUpdate,
    BinanceExchangeInfo, BinanceExecutionReport, BinanceFilter, BinanceHistoricalTrade,
    BinanceMyTrade, BinanceOrder, BinanceTrade,
};

/// A payload that decoded as JSON but does not make sense as the expected message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ParseError(String);

fn bad(what: &str, value: &str) -> ParseError {
    ParseError(format!("unknown {what} '{value}'"))
}

/// `BUY`/`SELL`.
pub(crate) fn side(raw: &str) -> Result<Side, ParseError> {
    match raw {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        other => Err(bad("side", other)),
    }
}

/// The wire name of a side.
pub(crate) fn side_str(side: Side) -> &'static str {
    match side {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// Order status (reference §6). `EXPIRED_IN_MATCH` (self-trade prevention) is an expiry.
pub(crate) fn order_status(raw: &str) -> Result<OrderStatus, ParseError> {
    Ok(match raw {
        "NEW" | "PENDING_NEW" => OrderStatus::New,
        "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
        "FILLED" => OrderStatus::Filled,
        "PENDING_CANCEL" => OrderStatus::PendingCancel,
        "CANCELED" => OrderStatus::Canceled,
        "REJECTED" => OrderStatus::Rejected,
        "EXPIRED" | "EXPIRED_IN_MATCH" => OrderStatus::Expired,
        other => return Err(bad("order status", other)),
    })
}

/// Order type. Limit-priced variants map to `Limit`, market-executed ones to `Market`.
pub(crate) fn order_type(raw: &str) -> Result<OrderType, ParseError> {
    match raw {
        "LIMIT" | "LIMIT_MAKER" | "STOP_LOSS_LIMIT" | "TAKE_PROFIT_LIMIT" => Ok(OrderType::Limit),
        "MARKET" | "STOP_LOSS" | "TAKE_PROFIT" => Ok(OrderType::Market),
        other => Err(bad("order type", other)),
    }
}

/// Time in force; absent means GTC (MARKET answers still say `GTC`).
pub(crate) fn time_in_force(raw: Option<&str>) -> Result<TimeInForce, ParseError> {
    match raw {
        None | Some("GTC") => Ok(TimeInForce::Gtc),
        Some("IOC") => Ok(TimeInForce::Ioc),
        Some("FOK") => Ok(TimeInForce::Fok),
        Some(other) => Err(bad("time in force", other)),
    }
}

/// The wire name of a time in force.
pub(crate) fn time_in_force_str(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
    }
}

/// Execution type `x` of an executionReport.
pub(crate) fn execution_kind(raw: &str) -> ExecutionKind {
    match raw {
        "NEW" => ExecutionKind::New,
        "TRADE" => ExecutionKind::Trade,
        "CANCELED" => ExecutionKind::Canceled,
        "REJECTED" => ExecutionKind::Rejected,
        "EXPIRED" => ExecutionKind::Expired,
        _ => ExecutionKind::Other,
    }
}

/// Instruments from exchangeInfo, named `BASE-QUOTE`.
pub(crate) fn instruments(venue: &VenueId, info: BinanceExchangeInfo) -> Vec<Instrument> {
    info.symbols
        .into_iter()
        .map(|s| {
            let mut filters = InstrumentFilters::default();
            for filter in s.filters {
                match filter {
                    BinanceFilter::Price {
                        min_price,
                        max_price,
                        tick_size,
                    } => {
                        filters.min_price = min_price;
                        filters.max_price = max_price;
                        filters.tick_size = tick_size;
                    }
                    BinanceFilter::LotSize {
                        min_qty,
                        max_qty,
                        step_size,
                    } => {
                        filters.min_qty = min_qty;
                        filters.max_qty = max_qty;
                        filters.step_size = step_size;
                    }
                    BinanceFilter::Notional {
                        min_notional,
                        max_notional,
                    } => {
                        filters.min_notional = min_notional;
                        filters.max_notional = max_notional.unwrap_or_default();
                    }
                    BinanceFilter::MinNotional { min_notional } => {
                        filters.min_notional = min_notional;
                    }
                    BinanceFilter::Other => {}
                }
            }
            Instrument {
                venue: venue.clone(),
                name: Instrument::canonical_name(&s.base_asset, &s.quote_asset),
                venue_symbol: s.symbol,
                base: s.base_asset,
                quote: s.quote_asset,
                trading: s.status == "TRADING",
                filters,
            }
        })
        .collect()
}

/// An order answer (place FULL/RESULT, cancel, query, open orders) as a snapshot. The client
/// order id is the order's own: `origClientOrderId` on a cancel answer.
pub(crate) fn order_snapshot(raw: BinanceOrder) -> Result<OrderSnapshot, ParseError> {
    let missing = |field: &str| ParseError(format!("order answer without '{field}'"));
    let status = order_status(raw.status.as_deref().ok_or_else(|| missing("status"))?)?;
    let side = side(raw.side.as_deref().ok_or_else(|| missing("side"))?)?;
    let order_type = order_type(raw.order_type.as_deref().ok_or_else(|| missing("type"))?)?;
    let time_in_force = time_in_force(raw.time_in_force.as_deref())?;
    let client_order_id = match raw.orig_client_order_id {
        Some(orig) if !orig.is_empty() => orig,
        _ => raw.client_order_id,
    };
    let venue_order_id = raw.order_id.to_string();
    let time_ms = raw
        .update_time
        .or(raw.transact_time)
        .or(raw.time)
        .unwrap_or_default();
    let price = match order_type {
        OrderType::Limit => raw.price.filter(|p| !p.is_zero()),
        OrderType::Market => None,
    };
    // FULL answers carry the fills made on arrival, where the new order is the taker.
    let fills = raw
        .fills
        .into_iter()
        .map(|f| Fill {
            trade_id: f.trade_id.to_string(),
            venue_order_id: venue_order_id.clone(),
            client_order_id: client_order_id.clone(),
            venue_symbol: raw.symbol.clone(),
            side,
            price: f.price,
            quantity: f.qty,
            fee: f.commission,
            fee_asset: f.commission_asset,
            is_maker: false,
            time_ms,
        })
        .collect();
    Ok(OrderSnapshot {
        venue_symbol: raw.symbol,
        client_order_id,
        venue_order_id,
        side,
        order_type,
        time_in_force,
        status,
        quantity: raw.orig_qty.unwrap_or_default(),
        price,
        filled_quantity: raw.executed_qty.unwrap_or_default(),
        cumulative_quote: raw.cummulative_quote_qty.unwrap_or_default(),
        fills,
        update_time_ms: time_ms,
    })
}

/// Fills of one order from `myTrades` (which does not carry the client order id).
pub(crate) fn my_trade_fills(trades: Vec<BinanceMyTrade>, client_order_id: &str) -> Vec<Fill> {
    trades
        .into_iter()
        .map(|t| Fill {
            trade_id: t.id.to_string(),
            venue_order_id: t.order_id.to_string(),
            client_order_id: client_order_id.to_owned(),
            venue_symbol: t.symbol,
            side: if t.is_buyer { Side::Buy } else { Side::Sell },
            price: t.price,
            quantity: t.qty,
            fee: t.commission,
            fee_asset: t.commission_asset,
            is_maker: t.is_maker,
            time_ms: t.time,
        })
        .collect()
}

/// An executionReport as a core report. On a cancel, `C` holds the order's own client id and
/// `c` the cancel request's; the report always carries the order's own id.
pub(crate) fn execution_report(raw: BinanceExecutionReport) -> Result<ExecutionReport, ParseError> {
    let kind = execution_kind(&raw.execution_type);
    let status = order_status(&raw.status)?;
    let side = side(&raw.side)?;
    let client_order_id = match raw.orig_client_order_id {
        Some(orig) if !orig.is_empty() => orig,
        _ => raw.client_order_id,
    };
    let venue_order_id = raw.order_id.to_string();
    let fill = (kind == ExecutionKind::Trade).then(|| Fill {
        trade_id: raw.trade_id.to_string(),
        venue_order_id: venue_order_id.clone(),
        client_order_id: client_order_id.clone(),
        venue_symbol: raw.symbol.clone(),
        side,
        price: raw.last_price,
        quantity: raw.last_quantity,
        fee: raw.commission.unwrap_or_default(),
        fee_asset: raw.commission_asset.filter(|a| !a.is_empty()),
        is_maker: raw.is_maker,
        time_ms: raw.transaction_time,
    });
    if fill.is_some() && raw.trade_id < 0 {
        return Err(ParseError("TRADE report without a trade id".into()));
    }
    Ok(ExecutionReport {
        venue_symbol: raw.symbol,
        client_order_id,
        venue_order_id,
        kind,
        status,
        side,
        quantity: raw.quantity,
        filled_quantity: raw.cumulative_quantity,
        cumulative_quote: raw.cumulative_quote,
        fill,
        reject_reason: end_reason(kind, raw.reject_reason, raw.expiry_reason),
        event_time_ms: raw.event_time,
    })
}

/// Why the venue ended the order: its reject reason (`r`), or for an expiry its expiry reason
/// (`eR`), whatever its value; `NONE` and empty mean none.
fn end_reason(
    kind: ExecutionKind,
    reject: Option<String>,
    expiry: Option<serde_json::Value>,
) -> Option<String> {
    let given = |r: &String| !r.is_empty() && r != "NONE";
    let expiry = expiry.and_then(|v| match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    });
    match (reject.filter(given), kind) {
        (Some(reject), _) => Some(reject),
        (None, ExecutionKind::Expired) => expiry.filter(given),
        (None, _) => None,
    }
}

/// Balances from an `outboundAccountPosition` event.
pub(crate) fn position_balances(raw: BinanceAccountPosition) -> Vec<Balance> {
    raw.balances
        .into_iter()
        .map(|b| Balance {
            asset: b.asset,
            free: b.free,
            locked: b.locked,
        })
        .collect()
}

/// Balances from `GET /api/v3/account`.
pub(crate) fn account_balances(raw: BinanceAccount) -> Vec<Balance> {
    raw.balances
        .into_iter()
        .map(|b| Balance {
            asset: b.asset,
            free: b.free,
            locked: b.locked,
        })
        .collect()
}

fn levels(raw: Vec<(Decimal, Decimal)>) -> Vec<Level> {
    raw.into_iter().map(|(p, q)| Level::new(p, q)).collect()
}

/// A REST depth snapshot.
pub(crate) fn book_snapshot(venue_symbol: &str, raw: BinanceDepthSnapshot) -> BookSnapshot {
    BookSnapshot {
        venue_symbol: venue_symbol.to_owned(),
        last_update_id: raw.last_update_id,
        bids: levels(raw.bids),
        asks: levels(raw.asks),
    }
}

/// A diff-depth event.
pub(crate) fn book_delta(raw: BinanceDepthUpdate) -> BookDelta {
    BookDelta {
        venue_symbol: raw.symbol,
        first_update_id: raw.first_update_id,
        last_update_id: raw.last_update_id,
        bids: levels(raw.bids),
        asks: levels(raw.asks),
        event_time_ms: raw.event_time,
    }
}

/// A public trade. `m` (buyer is maker) means the seller took liquidity.
pub(crate) fn trade(raw: BinanceTrade) -> Trade {
    Trade {
        venue_symbol: raw.symbol,
        trade_id: raw.trade_id.to_string(),
        price: raw.price,
        quantity: raw.quantity,
        taker_side: if raw.buyer_is_maker {
            Side::Sell
        } else {
            Side::Buy
        },
        time_ms: raw.trade_time,
    }
}

/// A trade of `historicalTrades`, as the stream would have carried it.
pub(crate) fn historical_trade(symbol: &str, raw: BinanceHistoricalTrade) -> Trade {
    trade(BinanceTrade {
        symbol: symbol.to_owned(),
        trade_id: raw.id,
        price: raw.price,
        quantity: raw.qty,
        trade_time: raw.time,
        buyer_is_maker: raw.is_buyer_maker,
    })
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;

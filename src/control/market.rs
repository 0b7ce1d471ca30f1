//! Stored market data for traders and dashboards: `GET /v1/trades`, `GET /v1/candles` and
//! `GET /v1/books/{venue}/{symbol}/snapshots`. Each takes a time range (`from` inclusive, `to`
//! exclusive, epoch milliseconds), answers newest first, at most `limit` rows, and pages with
//! an opaque cursor: `next_cursor` of one page is the `cursor` of the next (`null` at the end).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::store::market::{CANDLE_MS, widen_candles};
use crate::store::{BookSnapshotRecord, Candle, MAX_MARKET_LIMIT, MarketQuery, TradeRecord};
use exchange_core::{Level, Side};

/// Rows a page holds when `limit` is not given, and at most.
const DEFAULT_PAGE: i64 = 500;
const MAX_PAGE: i64 = 5000;

/// The candle widths served, each a whole number of minutes.
const INTERVALS: [(&str, i64); 12] = [
    ("1m", 1),
    ("3m", 3),
    ("5m", 5),
    ("15m", 15),
    ("30m", 30),
    ("1h", 60),
    ("2h", 120),
    ("4h", 240),
    ("6h", 360),
    ("8h", 480),
    ("12h", 720),
    ("1d", 1440),
];

/// Query parameters of the market-data reads.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    /// Configured venue name (trades and candles; required there).
    venue: Option<String>,
    /// Instrument, e.g. BTC-USDT (trades and candles; required there).
    symbol: Option<String>,
    /// From, inclusive, epoch milliseconds.
    from: Option<i64>,
    /// To, exclusive, epoch milliseconds.
    to: Option<i64>,
    /// Rows per page, 1 to 5000 (default 500).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Candle width (candles only): 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d.
    interval: Option<String>,
}

/// One page of rows, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next (older) page; `null` when this was the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TradeView {
    venue: String,
    symbol: String,
    venue_symbol: String,
    trade_id: String,
    price: Decimal,
    quantity: Decimal,
    taker_side: Side,
    /// Venue time, epoch milliseconds.
    time: i64,
    /// When omsd received it, epoch milliseconds.
    received: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CandleView {
    /// Start of the candle, epoch milliseconds.
    open_time: i64,
    /// Its last millisecond.
    close_time: i64,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
    trades: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SnapshotView {
    /// When the sample was taken, epoch milliseconds.
    time: i64,
    update_id: u64,
    bids: Vec<Level>,
    asks: Vec<Level>,
}

/// A read of one followed instrument, checked.
struct Read {
    symbol: String,
    query: MarketQuery,
}

fn params(params: Result<Query<RangeParams>, QueryRejection>) -> Result<RangeParams, ApiError> {
    params
        .map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
}

/// Checks the venue, symbol, range and limit, and parses the cursor with `cursor`.
fn read(
    state: &AppState,
    venue: Option<String>,
    symbol: Option<String>,
    p: &RangeParams,
    cursor: impl Fn(&str) -> Option<(i64, String)>,
) -> Result<Read, ApiError> {
    let missing =
        |name: &str| ApiError::bad_request("missing_parameter", format!("'{name}' is required"));
    let venue_name = venue.ok_or_else(|| missing("venue"))?;
    let symbol = symbol
        .ok_or_else(|| missing("symbol"))?
        .to_ascii_uppercase();
    let venue = state
        .venues
        .get(&venue_name)
        .ok_or_else(|| ApiError::not_found(format!("venue '{venue_name}' is not configured")))?;
    let instrument = venue.instrument(&symbol).ok_or_else(|| {
        ApiError::not_found(format!(
            "symbol '{symbol}' is not followed on '{venue_name}'"
        ))
    })?;
    if let (Some(from), Some(to)) = (p.from, p.to)
        && from >= to
    {
        return Err(ApiError::bad_request(
            "invalid_range",
            format!("'from' ({from}) must be before 'to' ({to})"),
        ));
    }
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("'limit' must be in 1..={MAX_PAGE}"),
        ));
    }
    let before = match &p.cursor {
        None => None,
        Some(raw) => Some(cursor(raw).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                format!("'{raw}' is not a cursor of this read"),
            )
        })?),
    };
    Ok(Read {
        symbol,
        query: MarketQuery {
            venue: venue_name,
            venue_symbol: instrument.venue_symbol.clone(),
            from_ms: p.from,
            to_ms: p.to,
            before,
            limit,
        },
    })
}

/// A time cursor: `<epoch ms>`.
fn time_cursor(raw: &str) -> Option<(i64, String)> {
    raw.parse().ok().map(|t| (t, String::new()))
}

/// A trade cursor: `<epoch ms>.<trade id>`.
fn trade_cursor(raw: &str) -> Option<(i64, String)> {
    let (time, id) = raw.split_once('.')?;
    let valid = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    valid
        .then(|| Some((time.parse().ok()?, id.to_owned())))
        .flatten()
}

/// The next page's cursor, if this page is full.
fn next<T>(rows: &[T], limit: i64, cursor: impl Fn(&T) -> String) -> Option<String> {
    (rows.len() as i64 >= limit)
        .then(|| rows.last().map(cursor))
        .flatten()
}

fn ensure_stored(state: &AppState) -> Result<(), ApiError> {
    if state.market_data_stored {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "market_data_not_stored",
            "market data is not stored by this daemon (market_data.store = false)",
        ))
    }
}

/// `GET /v1/trades?venue=&symbol=&from=&to=&limit=&cursor=`.
#[utoipa::path(get, path = "/v1/trades", tag = "market data", security(("bearer" = ["read"])),
    params(RangeParams),
    responses((status = 200, body = Page<TradeView>), super::openapi::ReadErrors))]
pub async fn trades(
    State(state): State<AppState>,
    p: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<Page<TradeView>>, ApiError> {
    let p = params(p)?;
    ensure_stored(&state)?;
    refuse_interval(&p)?;
    let read = read(&state, p.venue.clone(), p.symbol.clone(), &p, trade_cursor)?;
    let rows = state.store.trades(&read.query).await?;
    let next_cursor = next(&rows, read.query.limit, |t| {
        format!("{}.{}", t.time_ms, t.trade_id)
    });
    let data = rows
        .into_iter()
        .map(|t: TradeRecord| TradeView {
            venue: t.venue,
            symbol: read.symbol.clone(),
            venue_symbol: t.venue_symbol,
            trade_id: t.trade_id,
            price: t.price,
            quantity: t.quantity,
            taker_side: t.taker_side,
            time: t.time_ms,
            received: t.received_ms,
        })
        .collect();
    Ok(Json(Page { data, next_cursor }))
}

fn refuse_interval(p: &RangeParams) -> Result<(), ApiError> {
    match p.interval {
        Some(_) => Err(ApiError::bad_request(
            "invalid_query",
            "'interval' applies to /v1/candles only",
        )),
        None => Ok(()),
    }
}

/// `GET /v1/candles?venue=&symbol=&interval=1m&from=&to=&limit=&cursor=`: OHLCV from the stored
/// one-minute candles, wider intervals folded from them (aligned to the epoch, UTC).
#[utoipa::path(get, path = "/v1/candles", tag = "market data", security(("bearer" = ["read"])),
    params(RangeParams),
    responses((status = 200, body = Page<CandleView>), super::openapi::ReadErrors))]
pub async fn candles(
    State(state): State<AppState>,
    p: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<Page<CandleView>>, ApiError> {
    let p = params(p)?;
    ensure_stored(&state)?;
    let interval = p.interval.as_deref().unwrap_or("1m");
    let minutes = INTERVALS
        .iter()
        .find(|(name, _)| *name == interval)
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            let known: Vec<_> = INTERVALS.iter().map(|(n, _)| *n).collect();
            ApiError::bad_request(
                "invalid_interval",
                format!("'{interval}' is not one of {}", known.join(", ")),
            )
        })?;
    let width = minutes * CANDLE_MS;
    let mut read = read(&state, p.venue.clone(), p.symbol.clone(), &p, time_cursor)?;
    let limit = read.query.limit.min(MAX_MARKET_LIMIT / minutes).max(1);
    // Whole wide candles: the range starts on a boundary, the minute rows cover `limit` of them.
    let q = &mut read.query;
    q.from_ms = q.from_ms.map(|f| f.div_euclid(width) * width);
    q.limit = limit * minutes;
    let rows = state.store.candles(q).await?;
    let truncated = rows.len() as i64 >= q.limit;
    let mut wide = widen_candles(rows, width);
    if truncated && wide.len() > 1 {
        // The oldest may lack minutes the limit cut off: it starts the next page instead.
        wide.pop();
    }
    wide.truncate(limit as usize);
    let full = wide.len() as i64 >= limit || truncated;
    let next_cursor = if full {
        wide.last().map(|c| c.open_time_ms.to_string())
    } else {
        None
    };
    let data = wide
        .into_iter()
        .map(|c: Candle| CandleView {
            open_time: c.open_time_ms,
            close_time: c.open_time_ms + width - 1,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
            trades: c.trades,
        })
        .collect();
    Ok(Json(Page { data, next_cursor }))
}

/// `GET /v1/books/{venue}/{symbol}/snapshots?from=&to=&limit=&cursor=`: the sampled top-N
/// snapshots (only ever taken from in-sync books).
#[utoipa::path(get, path = "/v1/books/{venue}/{symbol}/snapshots", tag = "market data",
    security(("bearer" = ["read"])),
    params(
        ("venue" = String, Path, description = "Configured venue name"),
        ("symbol" = String, Path, description = "Instrument, e.g. BTC-USDT"),
        RangeParams,
    ),
    responses((status = 200, body = Page<SnapshotView>), super::openapi::ReadErrors))]
pub async fn snapshots(
    State(state): State<AppState>,
    Path((venue, symbol)): Path<(String, String)>,
    p: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<Page<SnapshotView>>, ApiError> {
    let p = params(p)?;
    ensure_stored(&state)?;
    refuse_interval(&p)?;
    if p.venue.is_some() || p.symbol.is_some() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "venue and symbol are given in the path",
        ));
    }
    let read = read(&state, Some(venue), Some(symbol), &p, time_cursor)?;
    let rows = state.store.book_snapshots(&read.query).await?;
    let next_cursor = next(&rows, read.query.limit, |s| s.time_ms.to_string());
    let data = rows
        .into_iter()
        .map(|s: BookSnapshotRecord| SnapshotView {
            time: s.time_ms,
            update_id: s.update_id,
            bids: s.bids,
            asks: s.asks,
        })
        .collect();
    Ok(Json(Page { data, next_cursor }))
}

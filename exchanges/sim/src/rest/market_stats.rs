//! Public market statistics: `trades`, `aggTrades`, `klines`, `ticker/24hr`,
//! `ticker/bookTicker`, `ticker/price` and `avgPrice`, computed inside the venue actor from its
//! tape and books (so they are consistent with the streams) and serialized here.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use super::{ApiRequest, symbol_def, to_json, weighed};
use crate::engine::{SymbolDef, SymbolId};
use crate::errors::ApiError;
use crate::server::AppState;
use crate::tape::{AggFilter, Interval};
use crate::venue::{View, average_price, top_of_book};
use crate::wire;

use crate::venue::AVG_PRICE_MINS;
const DAY_MS: i64 = 86_400_000;

/// `GET /api/v3/trades` (weight 25): `symbol`, `limit` (default 500, max 1000).
pub(crate) async fn trades(State(state): State<AppState>, req: ApiRequest) -> Response {
    weighed(&state, &req, 25, trades_result(&state, &req)).await
}

async fn trades_result(state: &AppState, req: &ApiRequest) -> Result<String, ApiError> {
    let symbol = req.params.symbol(&state.catalog)?;
    let limit = req.params.limit(500, 1000)?;
    req.params.check_all_read()?;
    symbol_list(
        state,
        symbol,
        move |v| v.tape.trades(symbol, limit),
        wire::stats::public_trade,
    )
    .await
}

/// `GET /api/v3/historicalTrades` (weight 25): `symbol`, `limit` (default 500, max 1000),
/// `fromId` (the first trade id to return; without it the latest `limit`). Trades older than
/// what the venue keeps are not returned.
pub(crate) async fn historical_trades(State(state): State<AppState>, req: ApiRequest) -> Response {
    weighed(&state, &req, 25, historical_trades_result(&state, &req)).await
}

async fn historical_trades_result(state: &AppState, req: &ApiRequest) -> Result<String, ApiError> {
    let symbol = req.params.symbol(&state.catalog)?;
    let limit = req.params.limit(500, 1000)?;
    let from_id = req.params.integer("fromId")?;
    req.params.check_all_read()?;
    symbol_list(
        state,
        symbol,
        move |v| match from_id {
            Some(from) => v.tape.trades_from(symbol, from, limit),
            None => v.tape.trades(symbol, limit),
        },
        wire::stats::public_trade,
    )
    .await
}

/// `GET /api/v3/aggTrades` (weight 4): `symbol`, `fromId`, `startTime`, `endTime`, `limit`.
pub(crate) async fn agg_trades(State(state): State<AppState>, req: ApiRequest) -> Response {
    weighed(&state, &req, 4, agg_trades_result(&state, &req)).await
}

async fn agg_trades_result(state: &AppState, req: &ApiRequest) -> Result<String, ApiError> {
    let p = &req.params;
    let symbol = p.symbol(&state.catalog)?;
    let filter = AggFilter {
        from_id: p.integer("fromId")?,
        start_time: p.time("startTime")?,
        end_time: p.time("endTime")?,
        limit: p.limit(500, 1000)?,
    };
    if filter.from_id.is_some() && (filter.start_time.is_some() || filter.end_time.is_some()) {
        return Err(ApiError::bad_combination());
    }
    if let (Some(start), Some(end)) = (filter.start_time, filter.end_time)
        && (end < start || end - start > 3_600_000)
    {
        return Err(ApiError::bad_combination());
    }
    p.check_all_read()?;
    symbol_list(
        state,
        symbol,
        move |v| v.tape.agg_trades(symbol, filter),
        wire::events::agg_trade_entry,
    )
    .await
}

/// `GET /api/v3/klines` (weight 2): `symbol`, `interval` (`-1120` if unknown), `startTime`,
/// `endTime`, `timeZone` (UTC only), `limit` (default 500, max 1000).
pub(crate) async fn klines(State(state): State<AppState>, req: ApiRequest) -> Response {
    weighed(&state, &req, 2, klines_result(&state, &req)).await
}

async fn klines_result(state: &AppState, req: &ApiRequest) -> Result<String, ApiError> {
    let p = &req.params;
    let symbol = p.symbol(&state.catalog)?;
    let interval =
        Interval::parse(p.required("interval")?).ok_or_else(ApiError::invalid_interval)?;
    let (start, end) = (p.time("startTime")?, p.time("endTime")?);
    let limit = p.limit(500, 1000)?;
    if !matches!(
        p.get("timeZone"),
        None | Some("" | "0" | "+00:00" | "00:00")
    ) {
        return Err(ApiError::illegal(
            "timeZone",
            "UTC offsets other than 0 are not simulated",
        ));
    }
    p.check_all_read()?;
    symbol_list(
        state,
        symbol,
        move |v| v.tape.klines(symbol, interval, start, end, limit),
        |def, c| wire::stats::kline(def, interval, c),
    )
    .await
}

/// `GET /api/v3/ticker/24hr`: `symbol` (weight 2), `symbols` (2 / 40 / 80 by count) or none
/// (80, every symbol); `type` FULL (default) or MINI.
pub(crate) async fn ticker_24hr(State(state): State<AppState>, req: ApiRequest) -> Response {
    let selection = req.params.symbols(&state.catalog);
    let weight = match &selection {
        Ok(Some((ids, false))) if ids.len() > 100 => 80,
        Ok(Some((ids, false))) if ids.len() > 20 => 40,
        Ok(Some(_)) | Err(_) => 2,
        Ok(None) => 80,
    };
    weighed(&state, &req, weight, ticker_result(&state, &req, selection)).await
}

type Selection = Result<Option<(Vec<SymbolId>, bool)>, ApiError>;

async fn ticker_result(
    state: &AppState,
    req: &ApiRequest,
    selection: Selection,
) -> Result<String, ApiError> {
    let selection = selection?;
    let full = match req.params.get("type").filter(|t| !t.is_empty()) {
        None | Some("FULL") => true,
        Some("MINI") => false,
        Some(_) => return Err(ApiError::illegal("type", "^(FULL|MINI)$")),
    };
    req.params.check_all_read()?;
    per_symbol(state, &selection, move |def, v, id| {
        let stats = v.tape.window_24h(id, v.now);
        wire::stats::ticker_24hr(&wire::stats::TickerInput {
            def,
            stats: &stats,
            top: top_of_book(v.engine, id),
            open_time: v.now - DAY_MS,
            close_time: v.now,
            full,
        })
    })
    .await
}

/// `GET /api/v3/ticker/bookTicker`: `symbol` (weight 2), `symbols` or none (4).
pub(crate) async fn book_ticker(State(state): State<AppState>, req: ApiRequest) -> Response {
    light_ticker(&state, &req, |def, v, id| {
        wire::stats::book_ticker(def, top_of_book(v.engine, id))
    })
    .await
}

/// `GET /api/v3/ticker/price`: `symbol` (weight 2), `symbols` or none (4); the last trade
/// price, `{"symbol":"LTCBTC","price":"4.00000200"}` (zero before the first trade).
pub(crate) async fn price_ticker(State(state): State<AppState>, req: ApiRequest) -> Response {
    light_ticker(&state, &req, |def, v, id| {
        let last = v.tape.trades(id, 1).pop().map(|t| t.price);
        serde_json::json!({
            "symbol": def.name,
            "price": wire::price(def, last.unwrap_or_default()),
        })
    })
    .await
}

/// A ticker weighing 2 for one `symbol` and 4 for `symbols` or all, one `entry` per symbol.
async fn light_ticker(
    state: &AppState,
    req: &ApiRequest,
    entry: impl Fn(&SymbolDef, &View<'_>, SymbolId) -> Value + Send + 'static,
) -> Response {
    let selection = req.params.symbols(&state.catalog);
    let weight = if matches!(selection, Ok(Some((_, true)))) {
        2
    } else {
        4
    };
    let result = async {
        let selection = selection?;
        req.params.check_all_read()?;
        per_symbol(state, &selection, entry).await
    };
    weighed(state, req, weight, result).await
}

/// `GET /api/v3/avgPrice` (weight 2): volume-weighted price of the last 5 minutes.
pub(crate) async fn avg_price(State(state): State<AppState>, req: ApiRequest) -> Response {
    weighed(&state, &req, 2, avg_price_result(&state, &req)).await
}

async fn avg_price_result(state: &AppState, req: &ApiRequest) -> Result<String, ApiError> {
    let symbol = req.params.symbol(&state.catalog)?;
    req.params.check_all_read()?;
    let (price, now) = state
        .venue
        .read(move |v| {
            let price = average_price(v.engine, v.tape, symbol, AVG_PRICE_MINS, v.now);
            (price.unwrap_or_default(), v.now)
        })
        .await?;
    let def = symbol_def(state, symbol)?;
    to_json(&wire::stats::avg_price(def, AVG_PRICE_MINS, price, now))
}

/// Reads one symbol's records in the venue and serializes each as an entry of a JSON array.
async fn symbol_list<T: Send + 'static, E: Serialize>(
    state: &AppState,
    symbol: SymbolId,
    read: impl FnOnce(View<'_>) -> Vec<T> + Send + 'static,
    entry: impl Fn(&SymbolDef, &T) -> E,
) -> Result<String, ApiError> {
    let records = state.venue.read(read).await?;
    let def = symbol_def(state, symbol)?;
    let list: Vec<E> = records.iter().map(|record| entry(def, record)).collect();
    to_json(&list)
}

/// One entry per symbol asked for (all of them without a selection), made in the venue: a
/// single object for `symbol=`, an array otherwise.
async fn per_symbol(
    state: &AppState,
    selection: &Option<(Vec<SymbolId>, bool)>,
    entry: impl Fn(&SymbolDef, &View<'_>, SymbolId) -> Value + Send + 'static,
) -> Result<String, ApiError> {
    let ids = chosen(state, selection);
    let catalog = std::sync::Arc::clone(&state.catalog);
    let list = state
        .venue
        .read(move |v| {
            ids.iter()
                .filter_map(|id| Some(entry(catalog.symbol(*id)?, &v, *id)))
                .collect::<Vec<Value>>()
        })
        .await?;
    one_or_list(selection, list)
}

/// The symbols asked for, or all of them.
fn chosen(state: &AppState, selection: &Option<(Vec<SymbolId>, bool)>) -> Vec<SymbolId> {
    match selection {
        Some((ids, _)) => ids.clone(),
        None => state.catalog.symbols().map(|(id, _)| id).collect(),
    }
}

/// A single object for `symbol=`, an array for `symbols=` or no selection.
fn one_or_list(
    selection: &Option<(Vec<SymbolId>, bool)>,
    mut list: Vec<Value>,
) -> Result<String, ApiError> {
    match selection {
        Some((_, true)) => to_json(&list.pop().unwrap_or(Value::Null)),
        _ => to_json(&list),
    }
}

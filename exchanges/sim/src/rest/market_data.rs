//! Public market-data endpoints: `ping`, `time`, `exchangeInfo` and `depth` (served from the
//! book as of the last published diff event, so `lastUpdateId` lines up with the streams).

use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::{ApiRequest, Params, reply, symbol_def, to_json, weighed};
use crate::errors::ApiError;
use crate::server::AppState;
use crate::venue::Command;
use crate::wire;

/// Deepest `limit` the venue serves.
const MAX_DEPTH: u64 = 5000;

/// `GET /api/v3/ping` → `{}`
pub(crate) async fn ping() -> Response {
    reply(1, Ok("{}".to_owned()))
}

/// `GET /api/v3/time` → `{"serverTime":1499827319559}`
pub(crate) async fn time(State(state): State<AppState>) -> Response {
    reply(
        1,
        Ok(json!({ "serverTime": state.clock.now_ms() }).to_string()),
    )
}

/// `GET /api/v3/exchangeInfo` with optional `symbol` or `symbols` (a JSON array).
pub(crate) async fn exchange_info(State(state): State<AppState>, req: ApiRequest) -> Response {
    weighed(&state, &req, 20, async {
        exchange_info_op(&state, &req.params)
    })
    .await
}

/// exchangeInfo for the selected symbols, all of them without a selection.
pub(crate) fn exchange_info_op(state: &AppState, p: &Params) -> Result<String, ApiError> {
    let only = p
        .symbols(&state.catalog)?
        .map(|(ids, _)| ids)
        .unwrap_or_default();
    to_json(&wire::info::exchange_info(
        &state.catalog,
        &only,
        state.limits.config(),
        state.clock.now_ms(),
    ))
}

/// `GET /fapi/v1/exchangeInfo` and `/dapi/v1/exchangeInfo`: no derivatives here, so clients
/// that load every market type (ccxt) still start.
pub(crate) async fn no_symbols(State(state): State<AppState>) -> Response {
    let now = state.clock.now_ms();
    let body = json!({
        "timezone": "UTC", "serverTime": now, "rateLimits": [], "exchangeFilters": [], "symbols": []
    });
    reply(1, Ok(body.to_string()))
}

/// `GET /api/v3/depth?symbol=..&limit=..` (default 100, clamped to 5000).
pub(crate) async fn depth(State(state): State<AppState>, req: ApiRequest) -> Response {
    let weight = depth_weight(&req.params);
    weighed(&state, &req, weight, depth_result(&state, &req.params)).await
}

/// The weight of a depth request by its `limit` (1-100: 5, -500: 25, -1000: 50, more: 250).
pub(crate) fn depth_weight(p: &Params) -> u32 {
    match p.limit(100, MAX_DEPTH) {
        Ok(..=100) | Err(_) => 5,
        Ok(101..=500) => 25,
        Ok(501..=1000) => 50,
        Ok(_) => 250,
    }
}

/// The published book for a depth request.
pub(crate) async fn depth_result(state: &AppState, p: &Params) -> Result<String, ApiError> {
    let symbol = p.symbol(&state.catalog)?;
    let limit = p.limit(100, MAX_DEPTH)?;
    let def = symbol_def(state, symbol)?;
    let snapshot = state
        .venue
        .call(|reply| Command::Depth {
            symbol,
            limit,
            reply,
        })
        .await?;
    let snapshot = snapshot.ok_or_else(ApiError::invalid_symbol)?;
    to_json(&wire::info::depth(def, &snapshot))
}

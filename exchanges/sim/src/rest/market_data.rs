//! Public market-data endpoints: `ping`, `time`, `exchangeInfo` and `depth` (served from the
//! book as of the last published diff event, so `lastUpdateId` lines up with the streams).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{ApiRequest, reply, to_json};
use crate::engine::SymbolId;
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
    let now = state.clock.now_ms();
    let result = selected_symbols(&state, &req)
        .and_then(|only| to_json(&wire::info::exchange_info(&state.catalog, &only, now)));
    reply(20, result)
}

fn selected_symbols(state: &AppState, req: &ApiRequest) -> Result<Vec<SymbolId>, ApiError> {
    let lookup = |name: &str| {
        state
            .catalog
            .symbol_id(name)
            .ok_or_else(ApiError::invalid_symbol)
    };
    match (req.params.get("symbol"), req.params.get("symbols")) {
        (Some(_), Some(_)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            -1128,
            "Combination of optional parameters invalid.",
        )),
        (Some(name), None) => Ok(vec![lookup(name)?]),
        (None, Some(list)) => {
            let names: Vec<String> =
                serde_json::from_str(list).map_err(|_| ApiError::mandatory("symbols"))?;
            names.iter().map(|n| lookup(n)).collect()
        }
        (None, None) => Ok(Vec::new()),
    }
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
    let limit = req.params.limit(100, MAX_DEPTH);
    let weight = match limit {
        Ok(..=100) | Err(_) => 5,
        Ok(101..=500) => 25,
        Ok(501..=1000) => 50,
        Ok(_) => 250,
    };
    reply(weight, depth_result(&state, &req, limit).await)
}

async fn depth_result(
    state: &AppState,
    req: &ApiRequest,
    limit: Result<usize, ApiError>,
) -> Result<String, ApiError> {
    let symbol = req.params.symbol(&state.catalog)?;
    let limit = limit?;
    let def = state
        .catalog
        .symbol(symbol)
        .ok_or_else(ApiError::invalid_symbol)?;
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

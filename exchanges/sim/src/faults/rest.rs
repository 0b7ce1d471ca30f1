//! The REST fault middleware, inside the weight middleware so faulted responses still carry
//! the usage headers. In order: forced 418/429, latency, 5xx, hangs, swallowed order acks.
//! `/_sim/...` and WebSocket handshakes are never faulted here.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{SimFaults, Target};
use crate::errors::ApiError;
use crate::limits::Refusal;
use crate::server::AppState;

/// REST paths that place orders (their acks can be swallowed).
const PLACEMENT_PATHS: [&str; 7] = [
    "/api/v3/order",
    "/api/v3/order/oco",
    "/api/v3/order/cancelReplace",
    "/api/v3/orderList/oco",
    "/api/v3/orderList/oto",
    "/api/v3/orderList/otoco",
    "/api/v3/sor/order",
];
/// WebSocket API methods that place orders (their responses can be swallowed).
const PLACEMENT_METHODS: [&str; 6] = [
    "order.place",
    "order.cancelReplace",
    "orderList.place.oco",
    "orderList.place.oto",
    "orderList.place.otoco",
    "sor.order.place",
];
/// Largest response body read back to find the order's symbol.
const MAX_ACK_BODY: usize = 1 << 20;

/// Applies the active REST faults to one request.
pub(crate) async fn rest_faults(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let faults = &state.faults;
    let path = request.uri().path();
    if !faults.any() || !is_rest(path) {
        return next.run(request).await;
    }
    let (method, path) = (request.method().to_string(), path.to_owned());
    if let Some(error) = forced_error(&state) {
        return error.into_response();
    }
    if let Some(delay) = faults.latency(Target::Rest) {
        tokio::time::sleep(delay).await;
    }
    if let Some((status, execute)) = faults.rest_error(&method, &path) {
        if execute {
            drop(next.run(request).await);
        }
        return server_error(status).into_response();
    }
    if let Some((id, hold, execute)) = faults.rest_hang(&method, &path) {
        if execute {
            let response = next.run(request).await;
            faults.until_cleared(id, hold).await;
            return response;
        }
        faults.until_cleared(id, hold).await;
        return server_error(503).into_response();
    }
    let placement = method == "POST" && PLACEMENT_PATHS.contains(&path.as_str());
    if placement && faults.swallow_armed(Target::Rest) {
        return swallow(faults, &state, next.run(request).await).await;
    }
    next.run(request).await
}

/// Whether a path is REST as faults see it (not the control API, not a WebSocket endpoint).
fn is_rest(path: &str) -> bool {
    !(path.starts_with("/_sim/")
        || path == "/ws"
        || path.starts_with("/ws/")
        || path == "/stream"
        || path == "/ws-api/v3")
}

/// Holds an accepted placement's response until the fault ends or its hold cap passes.
async fn swallow(faults: &SimFaults, state: &AppState, response: Response) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ACK_BODY).await else {
        return ApiError::unknown().into_response();
    };
    let symbol = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("symbol").and_then(Value::as_str).map(str::to_owned))
        .and_then(|name| state.catalog.symbol_id(&name));
    if let Some((id, hold)) = faults.swallow(Target::Rest, symbol) {
        faults.until_cleared(id, hold).await;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Whether a WebSocket API response to `method` is dropped by `swallow_order_acks`.
pub(crate) fn swallow_ws(
    faults: &SimFaults,
    state: &AppState,
    method: &str,
    result: &Value,
) -> bool {
    let method = method.strip_prefix("v3/").unwrap_or(method);
    if !faults.any() || !PLACEMENT_METHODS.contains(&method) {
        return false;
    }
    let symbol = result
        .get("symbol")
        .and_then(Value::as_str)
        .and_then(|name| state.catalog.symbol_id(name));
    faults.swallow(Target::WsApi, symbol).is_some()
}

/// The venue's 5xx bodies: `-1007` for 503/504 (backend timeout), `-1000` otherwise.
fn server_error(status: u16) -> ApiError {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    match status {
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => ApiError::new(
            status,
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        ),
        _ => ApiError {
            status,
            ..ApiError::unknown()
        },
    }
}

/// The error of an active `force_418` / `force_429` (REST and WebSocket API), worded as the
/// venue's own limits word them, with its retry time.
pub(crate) fn forced_error(state: &AppState) -> Option<ApiError> {
    let (status, retry_after_s) = state.faults.forced_status()?;
    let now = state.clock.now_ms();
    let wait = i64::try_from(retry_after_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let until = now.saturating_add(wait);
    let refusal = if status == 418 {
        Refusal::Banned { until }
    } else {
        Refusal::Weight { until }
    };
    Some(refusal.error(state.limits.config(), now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_bodies_table() {
        assert!(is_rest("/api/v3/order"));
        assert!(!is_rest("/_sim/faults"));
        assert!(!is_rest("/ws/btcusdt@trade"));
        assert!(!is_rest("/ws-api/v3"));
        let cases = [(500, -1000), (502, -1000), (503, -1007), (504, -1007)];
        for (status, code) in cases {
            let error = server_error(status);
            assert_eq!((error.status.as_u16(), error.code), (status, code));
        }
    }
}

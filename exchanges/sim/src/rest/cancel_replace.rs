//! `POST /api/v3/order/cancelReplace` and WebSocket API `order.cancelReplace` (weight 1, 0 when
//! both steps succeed): cancels an open order, then places a new one
//! on the same symbol, as ccxt's `edit_order` calls it. The cancel takes `cancelOrderId` /
//! `cancelOrigClientOrderId`, `cancelNewClientOrderId` and `cancelRestrictions`; every other
//! parameter but `cancelReplaceMode` describes the new order, exactly as `POST /api/v3/order`.
//!
//! `cancelReplaceMode=STOP_ON_FAILURE` places nothing if the cancel fails; `ALLOW_FAILURE`
//! places the new order anyway. Outcomes, with `cancelResult`/`newOrderResult` of `SUCCESS`,
//! `FAILURE` or `NOT_ATTEMPTED`:
//! - both succeed: 200 `{"cancelResult","newOrderResult","cancelResponse","newOrderResponse"}`;
//! - one fails: 409 `{"code":-2021,"msg":"Order cancel-replace partially failed.","data":{...}}`;
//! - nothing succeeds: 400 `{"code":-2022,"msg":"Order cancel-replace failed.","data":{...}}`,
//!   where a failed step's response is its `{"code","msg"}` and a skipped one is `null`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::orders::{cancel_op, place_op};
use super::{ApiRequest, Params, order_count_headers, reply};
use crate::engine::AccountId;
use crate::errors::ApiError;
use crate::server::AppState;

/// Parameters of the cancel step, and their name in the cancel request.
const CANCEL_PARAMS: [(&str, &str); 4] = [
    ("cancelOrderId", "orderId"),
    ("cancelOrigClientOrderId", "origClientOrderId"),
    ("cancelNewClientOrderId", "newClientOrderId"),
    ("cancelRestrictions", "cancelRestrictions"),
];
/// Parameters of the request itself, in neither step (`apiKey` is a WebSocket API param).
const OWN_PARAMS: [&str; 6] = [
    "cancelReplaceMode",
    "apiKey",
    "orderRateLimitExceededMode",
    "timestamp",
    "recvWindow",
    "signature",
];

pub(crate) async fn cancel_replace(State(state): State<AppState>, req: ApiRequest) -> Response {
    let account = match req.authenticate(&state) {
        Ok(account) => account,
        Err(error) => return reply(1, Err(error)),
    };
    let (weight, result) = cancel_replace_op(&state, &req.params, account).await;
    let mut response = reply(weight, result);
    let now = state.clock.now_ms();
    order_count_headers(&mut response, state.limits.order_counts(account, now));
    response
}

/// Cancels, then places, for an authenticated account: the request's weight (0 when both
/// steps succeed, as for orders and cancels) and the venue's answer, shared by REST and the
/// WebSocket API (`order.cancelReplace`). A partial or total failure is an error carrying
/// both steps' outcomes in its `data`.
pub(crate) async fn cancel_replace_op(
    state: &AppState,
    params: &Params,
    account: AccountId,
) -> (u32, Result<String, ApiError>) {
    let stop_on_failure = match params.get("cancelReplaceMode") {
        Some("STOP_ON_FAILURE") => true,
        Some("ALLOW_FAILURE") => false,
        Some(_) => {
            let error = ApiError::illegal("cancelReplaceMode", "^(STOP_ON_FAILURE|ALLOW_FAILURE)$");
            return (1, Err(error));
        }
        None => return (1, Err(ApiError::mandatory("cancelReplaceMode"))),
    };
    let (cancel, place) = split(params);
    let canceled = cancel_op(state, &cancel, account).await;
    let placed = if canceled.is_err() && stop_on_failure {
        None
    } else {
        Some(place_op(state, &place, account).await)
    };
    let now = state.clock.now_ms();
    let step = |result: &Result<String, ApiError>| match result {
        Ok(text) => ("SUCCESS", serde_json::from_str(text).unwrap_or(Value::Null)),
        Err(error) => ("FAILURE", error.json(now)),
    };
    let (cancel_result, cancel_response) = step(&canceled);
    let (new_result, new_response) = placed.as_ref().map_or(("NOT_ATTEMPTED", Value::Null), step);
    let data = json!({
        "cancelResult": cancel_result,
        "newOrderResult": new_result,
        "cancelResponse": cancel_response,
        "newOrderResponse": new_response,
    });
    let succeeded = [cancel_result, new_result]
        .iter()
        .filter(|r| **r == "SUCCESS")
        .count();
    match succeeded {
        2 => (0, Ok(data.to_string())),
        1 => {
            let error = ApiError::new(
                StatusCode::CONFLICT,
                -2021,
                "Order cancel-replace partially failed.",
            );
            (1, Err(error.with_data(data)))
        }
        _ => {
            let error = ApiError::new(
                StatusCode::BAD_REQUEST,
                -2022,
                "Order cancel-replace failed.",
            );
            (1, Err(error.with_data(data)))
        }
    }
}

/// The cancel step's and the new order's params.
fn split(p: &Params) -> (Params, Params) {
    let mut cancel = Map::new();
    let mut place = Map::new();
    for (key, value) in p.pairs() {
        if let Some((_, renamed)) = CANCEL_PARAMS.iter().find(|(k, _)| *k == key) {
            cancel.insert((*renamed).to_owned(), json!(value));
        } else if !OWN_PARAMS.contains(&key) {
            if key == "symbol" {
                cancel.insert(key.to_owned(), json!(value));
            }
            place.insert(key.to_owned(), json!(value));
        }
    }
    (Params::from_json(&cancel), Params::from_json(&place))
}

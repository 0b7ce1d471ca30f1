//! `PUT /api/v3/order/amend/keepPriority` (weight 4) and the WebSocket API's
//! `order.amend.keepPriority`: reduce an open order's quantity without losing its place in the
//! queue. Takes `symbol`, `orderId` or `origClientOrderId`, optional `newClientOrderId` (a
//! fresh one is generated otherwise) and `newQty`; adds nothing to the unfilled order count.
//!
//! The response is `{"transactTime","executionId","amendedOrder":{...}}`; `listStatus` only
//! appears for orders of an order list, which the simulator does not have.

use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::order_params::{client_id, order_key};
use super::{ApiRequest, Params, signed, symbol_def, weighed};
use crate::engine::AccountId;
use crate::errors::ApiError;
use crate::server::AppState;
use crate::venue::Command;
use crate::wire::{order_type, price, qty, quote, side, status, stp_mode, time_in_force};

/// Request weight of an amend, on REST and on the WebSocket API.
pub(crate) const AMEND_WEIGHT: u32 = 4;

/// `PUT /api/v3/order/amend/keepPriority`.
pub(crate) async fn amend(State(state): State<AppState>, req: ApiRequest) -> Response {
    let result = signed(&state, &req, |account| {
        amend_op(&state, &req.params, account)
    });
    weighed(&state, &req, AMEND_WEIGHT, result).await
}

/// Amends an open order of `account` and renders the venue's response.
pub(crate) async fn amend_op(
    state: &AppState,
    p: &Params,
    account: AccountId,
) -> Result<String, ApiError> {
    let symbol = p.symbol(&state.catalog)?;
    let key = order_key(p)?;
    let new_client_id = client_id(p, "newClientOrderId")?;
    let new_qty = p
        .decimal("newQty")?
        .ok_or_else(|| ApiError::mandatory("newQty"))?;
    p.check_all_read()?;
    let def = symbol_def(state, symbol)?;
    if new_qty <= rust_decimal::Decimal::ZERO {
        return Err(ApiError::from(crate::engine::Reject::AmendBelowExecuted));
    }
    super::orders::before_engine(state, p).await?;
    let (amended, execution_id) = state
        .venue
        .call(|reply| Command::Amend {
            account,
            symbol,
            key,
            new_client_id,
            new_qty,
            reply,
        })
        .await??;
    let o = &amended.order;
    let body = json!({
        "transactTime": o.update_time,
        "executionId": execution_id,
        "amendedOrder": {
            "symbol": def.name,
            "orderId": o.id,
            "orderListId": -1,
            "origClientOrderId": amended.orig_client_order_id,
            "clientOrderId": o.client_order_id,
            "price": price(def, o.price),
            "qty": qty(def, o.orig_qty),
            "executedQty": qty(def, o.executed_qty),
            "preventedQty": qty(def, o.prevented_qty),
            "quoteOrderQty": quote(def, o.orig_quote_qty),
            "cumulativeQuoteQty": quote(def, o.cumm_quote_qty),
            "status": status(o.status),
            "timeInForce": time_in_force(o.time_in_force),
            "type": order_type(o.order_type),
            "side": side(o.side),
            "workingTime": o.time,
            "selfTradePreventionMode": stp_mode(o.stp),
        },
    });
    Ok(body.to_string())
}

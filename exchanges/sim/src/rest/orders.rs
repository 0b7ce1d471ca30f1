//! Signed order endpoints: `POST/GET/DELETE /api/v3/order`, `POST /api/v3/order/test`,
//! `GET/DELETE /api/v3/openOrders` and `GET /api/v3/allOrders`.
//!
//! Each endpoint is an operation over [`Params`] and the authenticated account, shared with the
//! WebSocket API (`order.place`, `order.cancel`, ...), plus a thin REST handler that adds the
//! weight and headers. Successful placements and cancels weigh 0 (failed ones 1); accepted
//! orders count against the account's ORDERS limits.

use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::order_params::{client_id, order_key, parse_new_order};
use super::{ApiRequest, Params, order_count_headers, reply, signed, symbol_def, to_json, weighed};
use crate::engine::{AccountId, OrderFilter, OrderStatus};
use crate::errors::ApiError;
use crate::server::AppState;
use crate::stats::Counter;
use crate::venue::Command;
use crate::wire;

/// `POST /api/v3/order`: weight 0 when accepted, 1 otherwise; order-count headers.
pub(crate) async fn place(State(state): State<AppState>, req: ApiRequest) -> Response {
    let account = match req.authenticate(&state) {
        Ok(account) => account,
        Err(error) => return reply(1, Err(error)),
    };
    let result = place_op(&state, &req.params, account).await;
    let mut response = reply(if result.is_ok() { 0 } else { 1 }, result);
    let counts = state.limits.order_counts(account, state.clock.now_ms());
    order_count_headers(&mut response, counts);
    response
}

/// Places an order for `account`; counts it in the stats and the ORDERS limits.
pub(crate) async fn place_op(
    state: &AppState,
    p: &Params,
    account: AccountId,
) -> Result<String, ApiError> {
    state.stats.count(Counter::OrdersReceived, 1);
    let result = place_checked(state, p, account).await;
    match &result {
        Ok(_) => state.stats.count(Counter::OrdersAccepted, 1),
        Err(error) => {
            state.stats.count(Counter::OrdersRejected, 1);
            state.stats.count_refusal(error.status.as_u16());
        }
    }
    result
}

/// The step between a request's checks and the matching engine: the `latency` fault aimed at
/// the engine holds it here, then the venue checks `recvWindow` a second time (`-1021` if it
/// has run out meanwhile; nothing reaches the engine).
pub(crate) async fn before_engine(state: &AppState, p: &Params) -> Result<(), ApiError> {
    if let Some(delay) = state.faults.latency(crate::faults::Target::Engine) {
        tokio::time::sleep(delay).await;
    }
    crate::auth::recheck_window(
        p.get("timestamp"),
        p.get("recvWindow"),
        state.clock.now_ms(),
    )
}

async fn place_checked(
    state: &AppState,
    p: &Params,
    account: AccountId,
) -> Result<String, ApiError> {
    let (order, resp_type) = parse_new_order(p, &state.catalog, account)?;
    p.check_all_read()?;
    let def = symbol_def(state, order.symbol)?;
    before_engine(state, p).await?;
    let counted_at = state.clock.now_ms();
    state.limits.check_and_record_order(account, counted_at)?;
    let placed = match state
        .venue
        .call(|reply| Command::Place { order, reply })
        .await
        .and_then(|placed| placed.map_err(ApiError::from))
    {
        Ok(placed) => placed,
        Err(error) => {
            let now = state.clock.now_ms();
            state.limits.unrecord_order(account, counted_at, now);
            return Err(error);
        }
    };
    to_json(&wire::orders::new_order(
        &state.catalog,
        def,
        &placed,
        resp_type,
    ))
}

/// `POST /api/v3/order/test`: weight 1, or 20 with `computeCommissionRates=true`.
pub(crate) async fn test(State(state): State<AppState>, req: ApiRequest) -> Response {
    let weight = if req.params.get("computeCommissionRates") == Some("true") {
        20
    } else {
        1
    };
    let result = signed(&state, &req, |account| {
        test_op(&state, &req.params, account)
    });
    weighed(&state, &req, weight, result).await
}

/// Validates an order like a placement (parameters, filters) without placing it.
pub(crate) async fn test_op(
    state: &AppState,
    p: &Params,
    account: AccountId,
) -> Result<String, ApiError> {
    let compute = p.boolean("computeCommissionRates")?.unwrap_or(false);
    let (order, _) = parse_new_order(p, &state.catalog, account)?;
    p.check_all_read()?;
    state
        .venue
        .call(|reply| Command::Check { order, reply })
        .await??;
    if !compute {
        return Ok("{}".to_owned());
    }
    let zero = wire::amount(rust_decimal::Decimal::ZERO);
    let (maker, taker) = (
        wire::amount(state.fees.maker),
        wire::amount(state.fees.taker),
    );
    let body = json!({
        "standardCommissionForOrder": { "maker": maker, "taker": taker },
        "specialCommissionForOrder": { "maker": zero, "taker": zero },
        "taxCommissionForOrder": { "maker": zero, "taker": zero },
        "discount": { "enabledForAccount": false, "enabledForSymbol": false,
                      "discountAsset": "BNB", "discount": zero },
    });
    Ok(body.to_string())
}

/// `GET /api/v3/order` (weight 4): unknown → `-2013`.
pub(crate) async fn query(State(state): State<AppState>, req: ApiRequest) -> Response {
    let result = signed(&state, &req, |account| {
        query_op(&state, &req.params, account)
    });
    weighed(&state, &req, 4, result).await
}

pub(crate) async fn query_op(
    state: &AppState,
    p: &Params,
    account: AccountId,
) -> Result<String, ApiError> {
    let symbol = p.symbol(&state.catalog)?;
    let key = order_key(p)?;
    p.check_all_read()?;
    let def = symbol_def(state, symbol)?;
    let order = state
        .venue
        .call(|reply| Command::Query {
            account,
            symbol,
            key,
            reply,
        })
        .await??;
    to_json(&wire::orders::order(def, &order))
}

/// `DELETE /api/v3/order`: unknown or closed → `-2011`.
pub(crate) async fn cancel(State(state): State<AppState>, req: ApiRequest) -> Response {
    let result = signed(&state, &req, |account| {
        cancel_op(&state, &req.params, account)
    })
    .await;
    reply(if result.is_ok() { 0 } else { 1 }, result)
}

pub(crate) async fn cancel_op(
    state: &AppState,
    p: &Params,
    account: AccountId,
) -> Result<String, ApiError> {
    state.stats.count(Counter::CancelsReceived, 1);
    let symbol = p.symbol(&state.catalog)?;
    let key = order_key(p)?;
    let cancel_id = client_id(p, "newClientOrderId")?;
    let only = match p.get("cancelRestrictions").filter(|v| !v.is_empty()) {
        None => None,
        Some("ONLY_NEW") => Some(OrderStatus::New),
        Some("ONLY_PARTIALLY_FILLED") => Some(OrderStatus::PartiallyFilled),
        Some(_) => {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                -1145,
                "Invalid cancelRestrictions",
            ));
        }
    };
    p.check_all_read()?;
    let def = symbol_def(state, symbol)?;
    before_engine(state, p).await?;
    let canceled = state
        .venue
        .call(|reply| Command::Cancel {
            account,
            symbol,
            key,
            cancel_id,
            only,
            reply,
        })
        .await??;
    to_json(&wire::orders::cancel(def, &canceled))
}

/// `GET /api/v3/openOrders`: weight 6 with `symbol`, 80 without (all symbols).
pub(crate) async fn open_orders(State(state): State<AppState>, req: ApiRequest) -> Response {
    let weight = if req.params.get("symbol").is_some() {
        6
    } else {
        80
    };
    let result = signed(&state, &req, |account| {
        open_orders_op(&state, &req.params, account)
    });
    weighed(&state, &req, weight, result).await
}

pub(crate) async fn open_orders_op(
    state: &AppState,
    p: &Params,
    account: AccountId,
) -> Result<String, ApiError> {
    let symbol = match p.get("symbol") {
        Some(_) => Some(p.symbol(&state.catalog)?),
        None => None,
    };
    p.check_all_read()?;
    let orders = state
        .venue
        .call(|reply| Command::OpenOrders {
            account,
            symbol,
            reply,
        })
        .await?;
    let list: Vec<_> = orders
        .iter()
        .filter_map(|o| (state.catalog.symbol(o.symbol)).map(|def| wire::orders::order(def, o)))
        .collect();
    to_json(&list)
}

/// `DELETE /api/v3/openOrders`: cancels every open order on the symbol; none → `-2011`.
pub(crate) async fn cancel_all(State(state): State<AppState>, req: ApiRequest) -> Response {
    let result = signed(&state, &req, |account| {
        cancel_all_op(&state, &req.params, account)
    })
    .await;
    reply(if result.is_ok() { 0 } else { 1 }, result)
}

pub(crate) async fn cancel_all_op(
    state: &AppState,
    p: &Params,
    account: AccountId,
) -> Result<String, ApiError> {
    state.stats.count(Counter::CancelsReceived, 1);
    let symbol = p.symbol(&state.catalog)?;
    p.check_all_read()?;
    let def = symbol_def(state, symbol)?;
    before_engine(state, p).await?;
    let canceled = state
        .venue
        .call(|reply| Command::CancelAll {
            account,
            symbol,
            reply,
        })
        .await??;
    let list: Vec<_> = canceled
        .iter()
        .map(|c| wire::orders::cancel(def, c))
        .collect();
    to_json(&list)
}

/// `GET /api/v3/allOrders` (weight 20): `symbol`, `orderId` (from), `startTime`, `endTime`,
/// `limit` (default 500, max 1000).
pub(crate) async fn all_orders(State(state): State<AppState>, req: ApiRequest) -> Response {
    let result = signed(&state, &req, |account| {
        all_orders_op(&state, &req.params, account)
    });
    weighed(&state, &req, 20, result).await
}

pub(crate) async fn all_orders_op(
    state: &AppState,
    p: &Params,
    account: AccountId,
) -> Result<String, ApiError> {
    let symbol = p.symbol(&state.catalog)?;
    let filter = OrderFilter {
        from_id: p.integer("orderId")?,
        start_time: p.time("startTime")?,
        end_time: p.time("endTime")?,
        limit: p.limit(500, 1000)?,
    };
    if let (Some(start), Some(end)) = (filter.start_time, filter.end_time)
        && (end < start || end - start > 86_400_000)
    {
        return Err(ApiError::bad_combination());
    }
    p.check_all_read()?;
    let def = symbol_def(state, symbol)?;
    let orders = state
        .venue
        .call(|reply| Command::AllOrders {
            account,
            symbol,
            filter,
            reply,
        })
        .await?;
    let list: Vec<_> = orders.iter().map(|o| wire::orders::order(def, o)).collect();
    to_json(&list)
}

//! Signed order endpoints: `POST/GET/DELETE /api/v3/order`, `GET/DELETE /api/v3/openOrders`.
//!
//! Parameters are checked in the venue's terms (`-1102` missing, `-1100` malformed, `-1106`
//! not required, `-1111` precision, ...) before anything reaches the engine; the engine then
//! applies the symbol filters and balances. Successful placements and cancels weigh 0.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;

use super::{ApiRequest, Params, reply, to_json};
use crate::engine::{AccountId, Amount, Catalog, NewOrder, OrderKey, OrderKind, OrderType};
use crate::errors::ApiError;
use crate::server::AppState;
use crate::stats::Counter;
use crate::venue::Command;
use crate::wire::orders::RespType;
use crate::wire::{self, WireOrderType, parse_order_type, parse_side, parse_time_in_force};

const CLIENT_ID_RANGE: &str = "^[a-zA-Z0-9-_]{1,36}$";
/// Venue parameters for order kinds the simulator does not offer yet.
const UNSUPPORTED_PARAMS: [&str; 6] = [
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
];

/// `POST /api/v3/order`.
pub(crate) async fn place(State(state): State<AppState>, req: ApiRequest) -> Response {
    let account = match req.authenticate(&state) {
        Ok(account) => account,
        Err(error) => return reply(1, Err(error)),
    };
    state.stats.count(Counter::OrdersReceived, 1);
    let result = place_order(&state, &req, account).await;
    if result.is_err() {
        state.stats.count(Counter::OrdersRejected, 1);
        return reply(1, result);
    }
    state.stats.count(Counter::OrdersAccepted, 1);
    let (per_10s, per_day) = state.limits.record_order(account, state.clock.now_ms());
    let mut response = reply(0, result);
    for (name, count) in [
        ("x-mbx-order-count-10s", per_10s),
        ("x-mbx-order-count-1d", per_day),
    ] {
        if let Ok(value) = HeaderValue::from_str(&count.to_string()) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

async fn place_order(
    state: &AppState,
    req: &ApiRequest,
    account: AccountId,
) -> Result<String, ApiError> {
    let (order, resp_type) = parse_new_order(&req.params, &state.catalog, account)?;
    let def = state
        .catalog
        .symbol(order.symbol)
        .ok_or_else(ApiError::invalid_symbol)?;
    let placed = state
        .venue
        .call(|reply| Command::Place { order, reply })
        .await??;
    to_json(&wire::orders::new_order(
        &state.catalog,
        def,
        &placed,
        resp_type,
    ))
}

/// Reads a new order in the venue's parameter terms.
fn parse_new_order(
    p: &Params,
    catalog: &Catalog,
    account: AccountId,
) -> Result<(NewOrder, RespType), ApiError> {
    let symbol = p.symbol(catalog)?;
    let side = parse_side(p.required("side")?).ok_or_else(ApiError::invalid_side)?;
    let order_type = match parse_order_type(p.required("type")?) {
        Some(WireOrderType::Supported(order_type)) => order_type,
        Some(WireOrderType::Unsupported) => return Err(ApiError::unsupported_combination()),
        None => return Err(ApiError::invalid_type()),
    };
    let kind = parse_kind(p, order_type)?;
    let amount = parse_amount(p, order_type)?;
    for name in UNSUPPORTED_PARAMS {
        reject_present(p.get(name).filter(|v| !v.is_empty()), name)?;
    }
    let stp = p.get("selfTradePreventionMode");
    if !matches!(stp, None | Some("" | wire::STP_MODE)) {
        return Err(ApiError::stp_mode());
    }
    let resp_type = match p.get("newOrderRespType").filter(|v| !v.is_empty()) {
        None if order_type == OrderType::LimitMaker => RespType::Ack,
        None => RespType::Full,
        Some("ACK") => RespType::Ack,
        Some("RESULT") => RespType::Result,
        Some("FULL") => RespType::Full,
        Some(_) => return Err(ApiError::illegal("newOrderRespType", "^(ACK|RESULT|FULL)$")),
    };
    let client_order_id = client_id(p, "newClientOrderId")?;
    let order = NewOrder {
        symbol,
        account,
        side,
        kind,
        amount,
        client_order_id,
    };
    Ok((order, resp_type))
}

/// Price and time in force, mandatory or forbidden by order type.
fn parse_kind(p: &Params, order_type: OrderType) -> Result<OrderKind, ApiError> {
    let price = p.decimal("price")?;
    let tif = p.get("timeInForce").filter(|t| !t.is_empty());
    let need_price = || price.ok_or_else(|| ApiError::mandatory("price"));
    match order_type {
        OrderType::Limit => {
            let tif = tif.ok_or_else(|| ApiError::mandatory("timeInForce"))?;
            let tif = parse_time_in_force(tif).ok_or_else(ApiError::invalid_tif)?;
            Ok(OrderKind::Limit {
                price: need_price()?,
                tif,
            })
        }
        OrderType::LimitMaker => {
            reject_present(tif, "timeInForce")?;
            Ok(OrderKind::LimitMaker {
                price: need_price()?,
            })
        }
        OrderType::Market => {
            reject_present(tif, "timeInForce")?;
            reject_present(price, "price")?;
            Ok(OrderKind::Market)
        }
    }
}

/// `quantity`, or for MARKET `quoteOrderQty` instead; never both.
fn parse_amount(p: &Params, order_type: OrderType) -> Result<Amount, ApiError> {
    match (
        order_type,
        p.decimal("quantity")?,
        p.decimal("quoteOrderQty")?,
    ) {
        (_, Some(_), Some(_)) => Err(ApiError::not_required("quoteOrderQty")),
        (_, Some(qty), None) => Ok(Amount::Base(qty)),
        (OrderType::Market, None, Some(quote)) => Ok(Amount::Quote(quote)),
        (OrderType::Market, None, None) => Err(ApiError::either("quantity", "quoteOrderQty")),
        (_, None, Some(_)) => Err(ApiError::not_required("quoteOrderQty")),
        (_, None, None) => Err(ApiError::mandatory("quantity")),
    }
}

fn reject_present<T>(value: Option<T>, name: &str) -> Result<(), ApiError> {
    value.map_or(Ok(()), |_| Err(ApiError::not_required(name)))
}

/// A client order id parameter: absent → `None`, empty → `-1118`, malformed → `-1100`.
fn client_id(p: &Params, name: &str) -> Result<Option<String>, ApiError> {
    match p.get(name) {
        None => Ok(None),
        Some("") => Err(ApiError::empty_client_id()),
        Some(id) if is_client_id(id) => Ok(Some(id.to_owned())),
        Some(_) => Err(ApiError::illegal(name, CLIENT_ID_RANGE)),
    }
}

fn is_client_id(id: &str) -> bool {
    (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `orderId` and/or `origClientOrderId`; one of them is mandatory.
fn order_key(p: &Params) -> Result<OrderKey, ApiError> {
    let order_id = p.integer("orderId")?;
    let client_order_id = p
        .get("origClientOrderId")
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    if order_id.is_none() && client_order_id.is_none() {
        return Err(ApiError::either("origClientOrderId", "orderId"));
    }
    Ok(OrderKey {
        order_id,
        client_order_id,
    })
}

/// `GET /api/v3/order` (weight 4): unknown → `-2013`.
pub(crate) async fn query(State(state): State<AppState>, req: ApiRequest) -> Response {
    reply(4, query_result(&state, &req).await)
}

async fn query_result(state: &AppState, req: &ApiRequest) -> Result<String, ApiError> {
    let account = req.authenticate(state)?;
    let symbol = req.params.symbol(&state.catalog)?;
    let key = order_key(&req.params)?;
    let def = state
        .catalog
        .symbol(symbol)
        .ok_or_else(ApiError::invalid_symbol)?;
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
    let result = cancel_result(&state, &req).await;
    reply(if result.is_ok() { 0 } else { 1 }, result)
}

async fn cancel_result(state: &AppState, req: &ApiRequest) -> Result<String, ApiError> {
    let account = req.authenticate(state)?;
    state.stats.count(Counter::CancelsReceived, 1);
    let symbol = req.params.symbol(&state.catalog)?;
    let key = order_key(&req.params)?;
    let cancel_id = client_id(&req.params, "newClientOrderId")?;
    reject_present(req.params.get("cancelRestrictions"), "cancelRestrictions")?;
    let def = state
        .catalog
        .symbol(symbol)
        .ok_or_else(ApiError::invalid_symbol)?;
    let canceled = state
        .venue
        .call(|reply| Command::Cancel {
            account,
            symbol,
            key,
            cancel_id,
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
    reply(weight, open_orders_result(&state, &req).await)
}

async fn open_orders_result(state: &AppState, req: &ApiRequest) -> Result<String, ApiError> {
    let account = req.authenticate(state)?;
    let symbol = match req.params.get("symbol") {
        Some(_) => Some(req.params.symbol(&state.catalog)?),
        None => None,
    };
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
    let result = cancel_all_result(&state, &req).await;
    reply(if result.is_ok() { 0 } else { 1 }, result)
}

async fn cancel_all_result(state: &AppState, req: &ApiRequest) -> Result<String, ApiError> {
    let account = req.authenticate(state)?;
    state.stats.count(Counter::CancelsReceived, 1);
    let symbol = req.params.symbol(&state.catalog)?;
    let def = state
        .catalog
        .symbol(symbol)
        .ok_or_else(ApiError::invalid_symbol)?;
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

//! The Binance Spot REST dialect (`/api/v3/*`): routes, JSON responses, and the request-weight
//! middleware that puts `X-MBX-USED-WEIGHT-1M` on every response.
//!
//! Handlers return a [`Response`] carrying a [`Weight`] extension; the middleware charges it to
//! the caller's IP. This is also where rate-limit enforcement and REST faults hook in.

pub(crate) mod account;
pub(crate) mod amend;
pub(crate) mod cancel_replace;
pub(crate) mod market_data;
mod market_stats;
pub(crate) mod order_params;
pub(crate) mod orders;
mod request;
mod user_stream;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Serialize;

use crate::engine::{AccountId, SymbolDef, SymbolId};
use crate::errors::ApiError;
use crate::server::AppState;
use crate::stats::Counter;

pub(crate) use request::{ApiRequest, Params};

/// Request weight of a response, charged by [`track_weight`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Weight(pub u32);

/// Weight a handler reserved before its work ([`weighed`]); [`track_weight`] charges only the
/// difference to the response's [`Weight`].
#[derive(Clone, Copy, Debug)]
struct Reserved(u32);

/// The sending IP of an admitted request, for handlers that reserve weight.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sender(pub IpAddr);

/// Runs a request of `weight` only if that weight fits in the IP's minute: a heavy request
/// never takes the used weight past the limit, it is refused (429, counted towards a ban)
/// before anything runs. `op` is not started when refused.
pub(crate) async fn weighed(
    state: &AppState,
    req: &ApiRequest,
    weight: u32,
    op: impl std::future::Future<Output = Result<String, ApiError>>,
) -> Response {
    let Some(ip) = req.sender else {
        return reply(weight, op.await);
    };
    let now = state.clock.now_ms();
    if let Err(refusal) = state.limits.reserve_weight(ip, weight, now) {
        let error = refusal.error(state.limits.config(), now);
        state.stats.count_refusal(error.status.as_u16());
        return reply(0, Err(error));
    }
    let mut response = reply(weight, op.await);
    response.extensions_mut().insert(Reserved(weight));
    response
}

/// The REST routes (state is supplied by the caller).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v3/ping", get(market_data::ping))
        .route("/api/v3/time", get(market_data::time))
        .route("/api/v3/exchangeInfo", get(market_data::exchange_info))
        .route("/api/v3/depth", get(market_data::depth))
        .route("/fapi/v1/exchangeInfo", get(market_data::no_symbols))
        .route("/dapi/v1/exchangeInfo", get(market_data::no_symbols))
        .route("/api/v3/trades", get(market_stats::trades))
        .route("/api/v3/aggTrades", get(market_stats::agg_trades))
        .route(
            "/api/v3/historicalTrades",
            get(market_stats::historical_trades),
        )
        .route("/api/v3/klines", get(market_stats::klines))
        .route("/api/v3/ticker/24hr", get(market_stats::ticker_24hr))
        .route("/api/v3/ticker/bookTicker", get(market_stats::book_ticker))
        .route("/api/v3/ticker/price", get(market_stats::price_ticker))
        .route("/api/v3/avgPrice", get(market_stats::avg_price))
        .route("/api/v3/account", get(account::account))
        .route("/api/v3/myTrades", get(account::my_trades))
        .route("/api/v3/rateLimit/order", get(account::order_rate_limit))
        .route(
            "/api/v3/order",
            get(orders::query)
                .post(orders::place)
                .delete(orders::cancel),
        )
        .route("/api/v3/order/test", post(orders::test))
        .route("/api/v3/order/amend/keepPriority", put(amend::amend))
        .route(
            "/api/v3/order/cancelReplace",
            post(cancel_replace::cancel_replace),
        )
        .route(
            "/api/v3/openOrders",
            get(orders::open_orders).delete(orders::cancel_all),
        )
        .route("/api/v3/allOrders", get(orders::all_orders))
        .route(
            "/api/v3/userDataStream",
            post(user_stream::create)
                .put(user_stream::keepalive)
                .delete(user_stream::close),
        )
        .route("/_sim/stats", get(sim_stats))
}

/// A JSON response with the venue's Content-Type.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let content_type = HeaderValue::from_static("application/json;charset=UTF-8");
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

/// Serializes a payload, keeping its documented field order.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|_| ApiError::unknown())
}

/// A handler result (JSON body or venue error) with its request weight attached.
pub(crate) fn reply(weight: u32, result: Result<String, ApiError>) -> Response {
    let mut response = match result {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(error) => error.into_response(),
    };
    response.extensions_mut().insert(Weight(weight));
    response
}

/// Unknown path: a JSON 404, like every other error.
pub(crate) async fn not_found() -> Response {
    ApiError::not_found().into_response()
}

/// Known path, wrong method: a JSON 405.
pub(crate) async fn method_not_allowed() -> Response {
    ApiError::method_not_allowed().into_response()
}

/// Counts the request, refuses it when the IP is over a limit or banned (429 / 418 with
/// `Retry-After`), else charges its weight to the IP; every response reports the minute's
/// usage in `X-MBX-USED-WEIGHT-1M` (and the legacy `X-MBX-USED-WEIGHT`). The simulator's own
/// `/_sim` API is exempt.
pub(crate) async fn track_weight(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    state.stats.count(Counter::Requests, 1);
    let ip = peer_ip(&request);
    let now = state.clock.now_ms();
    let exempt = request.uri().path().starts_with("/_sim");
    let mut request = request;
    let mut response = match state.limits.admit(ip, now) {
        Err(refusal) if !exempt => {
            let error = refusal.error(state.limits.config(), now);
            state.stats.count_refusal(error.status.as_u16());
            let mut response = error.into_response();
            response.extensions_mut().insert(Weight(0));
            response
        }
        _ => {
            request.extensions_mut().insert(Sender(ip));
            next.run(request).await
        }
    };
    let weight = if exempt {
        0
    } else {
        response.extensions().get::<Weight>().map_or(1, |w| w.0)
    };
    let reserved = response.extensions().get::<Reserved>().map_or(0, |r| r.0);
    let used = if weight >= reserved {
        state.limits.add_weight(ip, weight - reserved, now)
    } else {
        state.limits.refund_weight(ip, reserved - weight, now)
    };
    if let Ok(value) = HeaderValue::from_str(&used.to_string()) {
        response
            .headers_mut()
            .insert("x-mbx-used-weight-1m", value.clone());
        response.headers_mut().insert("x-mbx-used-weight", value);
    }
    response
}

/// Authenticates a signed request, then runs `op` for its account.
pub(crate) async fn signed<F, Fut>(
    state: &AppState,
    req: &ApiRequest,
    op: F,
) -> Result<String, ApiError>
where
    F: FnOnce(AccountId) -> Fut,
    Fut: std::future::Future<Output = Result<String, ApiError>>,
{
    let account = req.authenticate(state)?;
    op(account).await
}

/// A listed symbol's definition (`-1121` if unknown).
pub(crate) fn symbol_def(state: &AppState, symbol: SymbolId) -> Result<&SymbolDef, ApiError> {
    state
        .catalog
        .symbol(symbol)
        .ok_or_else(ApiError::invalid_symbol)
}

/// Puts `X-MBX-ORDER-COUNT-10S` and `-1D` on a response.
pub(crate) fn order_count_headers(response: &mut Response, (per_10s, per_day): (u64, u64)) {
    for (name, count) in [
        ("x-mbx-order-count-10s", per_10s),
        ("x-mbx-order-count-1d", per_day),
    ] {
        if let Ok(value) = HeaderValue::from_str(&count.to_string()) {
            response.headers_mut().insert(name, value);
        }
    }
}

/// The caller's IP (loopback when the server runs without connect info, as in `oneshot` tests).
pub(crate) fn peer_ip(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |info| info.0.ip())
}

/// `GET /_sim/stats`: the simulator's counters.
async fn sim_stats(State(state): State<AppState>) -> Response {
    reply(0, to_json(&state.stats.snapshot()))
}

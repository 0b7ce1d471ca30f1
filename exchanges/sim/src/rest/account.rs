//! Signed account endpoints: `GET /api/v3/account` and `GET /api/v3/myTrades` (the daemon
//! backfills fills with `myTrades?orderId=`).

use axum::extract::State;
use axum::response::Response;

use super::{ApiRequest, Params, signed, symbol_def, to_json, weighed};
use crate::engine::{AccountId, TradeFilter};
use crate::errors::ApiError;
use crate::server::AppState;
use crate::venue::Command;
use crate::wire;

/// `GET /api/v3/account` (weight 20), optional `omitZeroBalances`.
pub(crate) async fn account(State(state): State<AppState>, req: ApiRequest) -> Response {
    let result = signed(&state, &req, |account| {
        account_op(&state, &req.params, account)
    });
    weighed(&state, &req, 20, result).await
}

/// The account's balances and commissions (also the WebSocket API's `account.status`).
pub(crate) async fn account_op(
    state: &AppState,
    p: &Params,
    account: AccountId,
) -> Result<String, ApiError> {
    let omit_zero = match p.get("omitZeroBalances") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::mandatory("omitZeroBalances")),
    };
    let (balances, update_time) = state
        .venue
        .call(|reply| Command::Balances { account, reply })
        .await?;
    let uid = 100_000_000 + u64::from(account.0);
    let body = wire::orders::account(
        &state.catalog,
        state.fees,
        &balances,
        update_time,
        omit_zero,
        uid,
    );
    to_json(&body)
}

/// `GET /api/v3/myTrades`: `symbol`, optional `orderId`, `fromId`, `startTime`, `endTime`,
/// `limit` (default 500, max 1000). Weight 5 with `orderId`, else 20.
pub(crate) async fn my_trades(State(state): State<AppState>, req: ApiRequest) -> Response {
    let weight = if req.params.get("orderId").is_some() {
        5
    } else {
        20
    };
    weighed(&state, &req, weight, my_trades_result(&state, &req)).await
}

async fn my_trades_result(state: &AppState, req: &ApiRequest) -> Result<String, ApiError> {
    let account = req.authenticate(state)?;
    my_trades_op(state, &req.params, account).await
}

/// The account's trades on one symbol (also the WebSocket API's `myTrades`).
pub(crate) async fn my_trades_op(
    state: &AppState,
    p: &Params,
    account: AccountId,
) -> Result<String, ApiError> {
    let symbol = p.symbol(&state.catalog)?;
    let as_time = |v: Option<u64>| v.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
    let filter = TradeFilter {
        order_id: p.integer("orderId")?,
        from_id: p.integer("fromId")?,
        start_time: as_time(p.integer("startTime")?),
        end_time: as_time(p.integer("endTime")?),
        limit: p.limit(500, 1000)?,
    };
    let def = symbol_def(state, symbol)?;
    let trades = state
        .venue
        .call(|reply| Command::MyTrades {
            account,
            symbol,
            filter,
            reply,
        })
        .await?;
    let list: Vec<_> = trades
        .iter()
        .map(|t| wire::orders::account_trade(&state.catalog, def, t))
        .collect();
    to_json(&list)
}

/// `GET /api/v3/rateLimit/order` (weight 40): the account's ORDERS limiters with their counts.
pub(crate) async fn order_rate_limit(State(state): State<AppState>, req: ApiRequest) -> Response {
    let result = async {
        let account = req.authenticate(&state)?;
        req.params.check_all_read()?;
        let (short, day) = state.limits.order_counts(account, state.clock.now_ms());
        let list: Vec<_> = wire::info::rate_limits(state.limits.config())
            .into_iter()
            .filter(|l| l.rate_limit_type == "ORDERS")
            .zip([short, day])
            .map(|(mut limit, count)| {
                limit.count = Some(count);
                limit
            })
            .collect();
        to_json(&list)
    };
    weighed(&state, &req, 40, result).await
}

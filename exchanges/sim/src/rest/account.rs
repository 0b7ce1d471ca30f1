//! Signed account endpoints: `GET /api/v3/account` and `GET /api/v3/myTrades` (the daemon
//! backfills fills with `myTrades?orderId=`).

use axum::extract::State;
use axum::response::Response;

use super::{ApiRequest, reply, to_json};
use crate::engine::TradeFilter;
use crate::errors::ApiError;
use crate::server::AppState;
use crate::venue::Command;
use crate::wire;

/// `GET /api/v3/account` (weight 20), optional `omitZeroBalances`.
pub(crate) async fn account(State(state): State<AppState>, req: ApiRequest) -> Response {
    reply(20, account_result(&state, &req).await)
}

async fn account_result(state: &AppState, req: &ApiRequest) -> Result<String, ApiError> {
    let account = req.authenticate(state)?;
    let omit_zero = match req.params.get("omitZeroBalances") {
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
    reply(weight, my_trades_result(&state, &req).await)
}

async fn my_trades_result(state: &AppState, req: &ApiRequest) -> Result<String, ApiError> {
    let account = req.authenticate(state)?;
    let symbol = req.params.symbol(&state.catalog)?;
    let as_time = |v: Option<u64>| v.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
    let filter = TradeFilter {
        order_id: req.params.integer("orderId")?,
        from_id: req.params.integer("fromId")?,
        start_time: as_time(req.params.integer("startTime")?),
        end_time: as_time(req.params.integer("endTime")?),
        limit: req.params.limit(500, 1000)?,
    };
    let def = state
        .catalog
        .symbol(symbol)
        .ok_or_else(ApiError::invalid_symbol)?;
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

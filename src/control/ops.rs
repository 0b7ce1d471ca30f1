//! Operator endpoints: the daemon's status, balances as the venues last reported them, and the
//! kill switch.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::{AppState, VenueStatus};
use crate::oms::{KillSwitch, KillSwitchOutcome, KillSwitchRequest};
use crate::queues::QueueStatus;
use crate::store::BalanceRecord;

/// Everything an operator checks first, in one answer.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DaemonStatus {
    /// Whether the daemon accepts orders (as `/readyz` says).
    ready: bool,
    /// Why not, when it is not.
    not_ready_reason: Option<String>,
    /// Whether the order store answers.
    store_up: bool,
    kill_switch: KillSwitch,
    /// The daemon's bounded queues: the order processor's commands, the market writer (with
    /// the rows it dropped), stream channels.
    queues: Vec<QueueStatus>,
    /// Connections, breakers, limits, clock offset and book sync per venue (`/v1/venues`).
    venues: Vec<VenueStatus>,
}

/// `GET /v1/status`: readiness, kill switch, queues and every venue's status.
#[utoipa::path(get, path = "/v1/status", tag = "operations", security(("bearer" = ["read"])),
    responses((status = 200, body = DaemonStatus), super::openapi::ReadErrors))]
pub async fn status(State(state): State<AppState>) -> Result<Json<DaemonStatus>, ApiError> {
    let not_ready_reason = super::not_ready(&state);
    let mut queues = state.queues.snapshot();
    queues.sort_by(|a, b| (a.queue, &a.venue).cmp(&(b.queue, &b.venue)));
    Ok(Json(DaemonStatus {
        ready: not_ready_reason.is_none(),
        not_ready_reason,
        store_up: state.oms.store_up(),
        kill_switch: state.oms.kill_switch().await?,
        queues,
        venues: super::venue_statuses(&state).await,
    }))
}

/// `GET /v1/balances`: per venue and asset, free and locked.
#[utoipa::path(get, path = "/v1/balances", tag = "account", security(("bearer" = ["read"])),
    responses((status = 200, body = Vec<BalanceRecord>), super::openapi::ReadErrors))]
pub async fn balances(State(state): State<AppState>) -> Result<Json<Vec<BalanceRecord>>, ApiError> {
    Ok(Json(state.oms.balances().await?))
}

/// `GET /v1/kill-switch`.
#[utoipa::path(get, path = "/v1/kill-switch", tag = "operations",
    security(("bearer" = ["read"])),
    responses((status = 200, body = KillSwitch), super::openapi::ReadErrors))]
pub async fn kill_switch(State(state): State<AppState>) -> Result<Json<KillSwitch>, ApiError> {
    Ok(Json(state.oms.kill_switch().await?))
}

/// `POST /v1/kill-switch` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct KillSwitchBody {
    engaged: bool,
    #[serde(default)]
    reason: Option<String>,
    /// When engaging, also cancel every open order.
    #[serde(default)]
    cancel_open_orders: bool,
}

/// `POST /v1/kill-switch`: engages or releases it; the state survives restarts.
#[utoipa::path(post, path = "/v1/kill-switch", tag = "operations",
    security(("bearer" = ["admin"])),
    request_body = KillSwitchBody,
    responses((status = 200, body = KillSwitchOutcome), super::openapi::WriteErrors))]
pub async fn set_kill_switch(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<KillSwitchOutcome>, ApiError> {
    let body: KillSwitchBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!("invalid kill switch request: {e}"),
        )
    })?;
    if body.reason.as_ref().is_some_and(|r| r.len() > 500) {
        return Err(ApiError::bad_request(
            "invalid_reason",
            "reason must be at most 500 characters",
        ));
    }
    let req = KillSwitchRequest {
        engaged: body.engaged,
        reason: body.reason,
        cancel_open_orders: body.cancel_open_orders,
    };
    Ok(Json(state.oms.set_kill_switch(req).await?))
}

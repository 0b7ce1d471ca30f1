//! Maintenance controls for tests (`/_sim/...`), separate from the fault registry:
//! - `POST /_sim/maintenance[?target=streams|ws_api|all][&grace_ms=N]`: every WebSocket
//!   connection of the target (all by default) gets `serverShutdown` (raw
//!   `{"e":"serverShutdown","E":..}`, `{"stream":"!serverShutdown","data":..}` on combined
//!   streams, `{"event":{..}}` on the WS API) and is closed `grace_ms` later (0, the default:
//!   at once), as before venue maintenance: the venue warns minutes ahead, so a client can open
//!   its replacement before the old connection goes. Connections opened after the call are
//!   not affected. → `{"notified": N}` connections.
//! - `POST /_sim/userDataStream/terminate`: every WS API user data subscription ends with
//!   `{"subscriptionId":N,"event":{"e":"eventStreamTerminated","E":..}}`; the connections stay
//!   open. → `{"notified": N}` connections.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::broadcast;

use crate::errors::ApiError;
use crate::faults::Target;
use crate::server::AppState;

/// Longest grace period between `serverShutdown` and the close (ms).
const MAX_GRACE_MS: u64 = 600_000;

/// One maintenance action, broadcast to every connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send `serverShutdown` and close after the grace period (connections of this target;
    /// `Target::All` for every one).
    Shutdown(Target, std::time::Duration),
    /// End the WS API user data subscriptions.
    TerminateUserStreams,
}

/// The maintenance channel every connection listens on.
#[derive(Clone, Debug)]
pub(crate) struct Maintenance {
    tx: broadcast::Sender<Action>,
}

impl Default for Maintenance {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(16).0,
        }
    }
}

impl Maintenance {
    pub fn subscribe(&self) -> broadcast::Receiver<Action> {
        self.tx.subscribe()
    }

    /// Sends `action`; returns how many connections listen.
    fn trigger(&self, action: Action) -> usize {
        self.tx.send(action).unwrap_or(0)
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_sim/maintenance", post(shutdown))
        .route("/_sim/userDataStream/terminate", post(terminate))
}

async fn shutdown(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let target = match pairs
        .iter()
        .find(|(k, _)| k == "target")
        .map(|(_, v)| v.as_str())
    {
        None | Some("all") => Target::All,
        Some("streams") => Target::Streams,
        Some("ws_api") => Target::WsApi,
        Some(other) => {
            let msg = format!("Invalid maintenance target '{other}'; use streams, ws_api or all.");
            return ApiError::new(StatusCode::BAD_REQUEST, -1100, msg).into_response();
        }
    };
    let grace = match pairs.iter().find(|(k, _)| k == "grace_ms").map(|(_, v)| v) {
        None => 0,
        Some(v) => match v.parse::<u64>() {
            Ok(ms) if ms <= MAX_GRACE_MS => ms,
            _ => {
                let msg = format!("Invalid grace_ms '{v}'; use 0 to {MAX_GRACE_MS}.");
                return ApiError::new(StatusCode::BAD_REQUEST, -1100, msg).into_response();
            }
        },
    };
    let action = Action::Shutdown(target, std::time::Duration::from_millis(grace));
    let notified = state.maintenance.trigger(action);
    Json(json!({ "notified": notified })).into_response()
}

async fn terminate(State(state): State<AppState>) -> Response {
    let notified = state.maintenance.trigger(Action::TerminateUserStreams);
    Json(json!({ "notified": notified })).into_response()
}

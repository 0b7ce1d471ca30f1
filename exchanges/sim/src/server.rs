//! The HTTP server: shared handler state, the router (REST, market streams, WebSocket API,
//! `/_sim`), and the accept loop with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::serve::ListenerExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use crate::auth::Keys;
use crate::bus::Bus;
use crate::clock::Clock;
use crate::engine::{Catalog, Fees};
use crate::faults::{self, FaultListener, SimFaults};
use crate::limits::Limits;
use crate::listen_keys::ListenKeys;
use crate::stats::Stats;
use crate::venue::VenueClient;
use crate::{rest, streams, ws_api};

/// WebSocket keepalive settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WsSettings {
    pub ping_interval: Duration,
    pub pong_timeout: Duration,
    /// The server closes connections this old.
    pub max_age: Duration,
    /// Incoming frames per second a market-stream connection may send.
    pub max_incoming_per_sec: u32,
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    pub venue: VenueClient,
    pub catalog: Arc<Catalog>,
    pub keys: Arc<Keys>,
    pub clock: Clock,
    pub stats: Arc<Stats>,
    pub limits: Arc<Limits>,
    pub listen_keys: Arc<ListenKeys>,
    pub bus: Bus,
    pub fees: Fees,
    pub ws: WsSettings,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    pub faults: SimFaults,
    pub maintenance: crate::maintenance::Maintenance,
}

/// The whole router; every response passes the request-weight middleware.
pub(crate) fn app(state: AppState) -> Router {
    Router::new()
        .merge(rest::routes())
        .merge(faults::routes())
        .merge(crate::maintenance::routes())
        .route("/ws", get(streams::raw_root))
        .route("/ws/", get(streams::raw_root))
        .route("/ws/{*streams}", get(streams::raw_path))
        .route("/stream", get(streams::combined))
        .route("/ws-api/v3", get(ws_api::upgrade))
        .fallback(rest::not_found)
        .method_not_allowed_fallback(rest::method_not_allowed)
        .layer(from_fn_with_state(state.clone(), faults::rest_faults))
        .layer(from_fn_with_state(state.clone(), rest::track_weight))
        .with_state(state)
}

/// Serves until `shutdown`, then stops accepting and lets open requests finish.
pub(crate) async fn serve(listener: FaultListener, app: Router, shutdown: CancellationToken) {
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener.tap_io(|_| {}), service)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(error) = result {
        warn!(%error, "http server stopped with an error");
    }
}

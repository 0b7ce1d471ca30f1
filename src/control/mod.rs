//! The control port: HTTP+JSON for traders and operators, on loopback by default.
//!
//! [`router`] builds the whole API so tests can drive it with `oneshot`; [`serve`] runs it on a
//! bound listener until shutdown. Every error is `{"error": {"code", "message"}}`.

mod error;
mod events;
mod market;
mod openapi;
mod ops;
mod orders;
mod reports;
pub mod views;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use openapi::ApiDoc;

use error::ErrorBody;
pub use events::{EventFeed, Frame};

use crate::market::{BookStatus, MarketHandle, TopOfBook};
use crate::oms::OmsHandle;
use crate::queues::Queues;
use crate::store::Store;
use crate::supervisor::Readiness;
use crate::telemetry;
use crate::venues::Venues;

/// Shared state of the control port's handlers.
#[derive(Clone)]
pub struct AppState {
    pub oms: OmsHandle,
    pub venues: Arc<Venues>,
    pub market: MarketHandle,
    pub readiness: Arc<Readiness>,
    /// Market data reads (trades, candles, snapshots).
    pub store: Arc<dyn Store>,
    /// Whether market data is stored at all (`market_data.store`).
    pub market_data_stored: bool,
    /// How long submit and cancel wait for the venue's answer before returning.
    pub submit_wait: Duration,
    /// The daemon's bounded queues, for `GET /v1/status`.
    pub queues: Queues,
    /// The live event feed (`GET /v1/events`).
    pub events: EventFeed,
}

/// The whole control API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/orders", get(orders::list).post(orders::submit))
        .route(
            "/v1/orders/{id}",
            get(orders::get).delete(orders::cancel).patch(orders::amend),
        )
        .route("/v1/venues", get(venues))
        .route("/v1/status", get(ops::status))
        .route("/v1/balances", get(ops::balances))
        .route(
            "/v1/kill-switch",
            get(ops::kill_switch).merge(post(ops::set_kill_switch)),
        )
        .route("/v1/books/{venue}/{symbol}", get(book))
        .route(
            "/v1/books/{venue}/{symbol}/snapshots",
            get(market::snapshots),
        )
        .route("/v1/trades", get(market::trades))
        .route("/v1/candles", get(market::candles))
        .route("/v1/reports/daily", get(reports::daily))
        .route("/openapi.json", get(openapi::document))
        .route("/v1/events", get(events::stream))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this endpoint",
            )
        })
        .layer(middleware::from_fn(record_request))
        .with_state(state)
}

/// Serves the router on `listener` until `shutdown` fires, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

fn endpoint_label(path: &str) -> &'static str {
    match path {
        "/v1/orders" => "/v1/orders",
        "/v1/orders/{id}" => "/v1/orders/{id}",
        "/v1/venues" => "/v1/venues",
        "/v1/status" => "/v1/status",
        "/v1/balances" => "/v1/balances",
        "/v1/kill-switch" => "/v1/kill-switch",
        "/v1/books/{venue}/{symbol}" => "/v1/books/{venue}/{symbol}",
        "/v1/books/{venue}/{symbol}/snapshots" => "/v1/books/{venue}/{symbol}/snapshots",
        "/v1/trades" => "/v1/trades",
        "/v1/candles" => "/v1/candles",
        "/v1/reports/daily" => "/v1/reports/daily",
        "/openapi.json" => "/openapi.json",
        "/v1/events" => "/v1/events",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        _ => "other",
    }
}

async fn record_request(request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| endpoint_label(p.as_str()))
        .unwrap_or("other");
    let started = Instant::now();
    let response = next.run(request).await;
    telemetry::http_request(endpoint, response.status().as_u16(), started.elapsed());
    response
}

/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    status: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// Readiness: start-up reconciliation finished and the store is up.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, body = Health),
        (status = 503, description = "Not ready, and why", body = ErrorBody),
    ))]
async fn readyz(State(state): State<AppState>) -> Response {
    match not_ready(&state) {
        None => Json(Health {
            status: "ready".to_owned(),
        })
        .into_response(),
        Some(message) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message).into_response()
        }
    }
}

/// Why the daemon is not ready, or `None` when it is.
fn not_ready(state: &AppState) -> Option<String> {
    if let Some(failure) = state.readiness.failure() {
        Some(format!("{failure}; omsd is stopping"))
    } else if !state.readiness.reconciled() {
        Some("start-up reconciliation has not finished".to_string())
    } else if !state.oms.store_up() {
        Some("the order store is unavailable; new orders are refused".to_string())
    } else {
        None
    }
}

/// One venue's live status.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct VenueStatus {
    name: String,
    kind: String,
    account: String,
    user_stream_connected: bool,
    reconciling: bool,
    reconciliations: u64,
    /// The instruments in use are the store's cached copy (the venue has not answered since
    /// start): new orders for the venue are refused with 503 `venue_instruments_stale`.
    instruments_stale: bool,
    /// When the instruments in use were fetched from the venue (epoch milliseconds).
    instruments_fetched_at_ms: i64,
    symbols: Vec<String>,
    books: Vec<BookStatus>,
    /// Connections, breakers, rate limits and clock, as the adapter reports them.
    health: exchange_core::VenueHealth,
}

/// Every venue's live status.
#[utoipa::path(get, path = "/v1/venues", tag = "venues", security(("bearer" = ["read"])),
    responses((status = 200, body = Vec<VenueStatus>), openapi::ReadErrors))]
async fn venues(State(state): State<AppState>) -> Json<Vec<VenueStatus>> {
    Json(venue_statuses(&state).await)
}

/// Every venue's live status, sorted by name.
async fn venue_statuses(state: &AppState) -> Vec<VenueStatus> {
    let mut out = Vec::new();
    for venue in state.venues.iter() {
        let mut symbols: Vec<String> = venue.instruments().keys().cloned().collect();
        symbols.sort();
        out.push(VenueStatus {
            name: venue.name().to_string(),
            kind: venue.config.kind.clone(),
            account: venue.config.account.clone(),
            user_stream_connected: venue.user_stream_up(),
            reconciling: venue.reconciling(),
            reconciliations: venue.reconciliations(),
            instruments_stale: venue.instruments_stale(),
            instruments_fetched_at_ms: venue.instruments_fetched_at_ms(),
            symbols,
            books: state.market.status(venue.name()).await,
            health: venue.exchange.health(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct BookParams {
    /// Levels per side, 1 to 100 (default 10).
    depth: Option<usize>,
}

/// The top of a live book (never a stored one); `in_sync` says whether it is usable.
#[utoipa::path(get, path = "/v1/books/{venue}/{symbol}", tag = "books",
    security(("bearer" = ["read"])),
    params(
        ("venue" = String, Path, description = "Configured venue name"),
        ("symbol" = String, Path, description = "Instrument, e.g. BTC-USDT"),
        BookParams,
    ),
    responses((status = 200, body = TopOfBook), openapi::ReadErrors))]
async fn book(
    State(state): State<AppState>,
    Path((venue_name, symbol)): Path<(String, String)>,
    params: Result<Query<BookParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TopOfBook>, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let depth = params.depth.unwrap_or(10).clamp(1, 100);
    let venue = state
        .venues
        .get(&venue_name)
        .ok_or_else(|| ApiError::not_found(format!("venue '{venue_name}' is not configured")))?;
    let symbol = symbol.to_ascii_uppercase();
    let instrument = venue.instrument(&symbol).ok_or_else(|| {
        ApiError::not_found(format!(
            "symbol '{symbol}' is not followed on '{venue_name}'"
        ))
    })?;
    state
        .market
        .top(&venue_name, &instrument.venue_symbol, depth)
        .await
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "book_unavailable",
                "no book data received yet",
            )
        })
}

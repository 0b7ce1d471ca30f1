//! The control port: HTTP+JSON for traders and operators, on loopback by default.
//!
//! [`router`] builds the whole API so tests can drive it with `oneshot`; [`serve`] runs it on a
//! bound listener until shutdown. Every error is `{"error": {"code", "message"}}`.

mod error;
mod events;
mod market;
mod ops;
mod orders;
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
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use events::{EventFeed, Frame};

use crate::market::{BookStatus, MarketHandle, TopOfBook};
use crate::oms::OmsHandle;
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
        "/v1/balances" => "/v1/balances",
        "/v1/kill-switch" => "/v1/kill-switch",
        "/v1/books/{venue}/{symbol}" => "/v1/books/{venue}/{symbol}",
        "/v1/books/{venue}/{symbol}/snapshots" => "/v1/books/{venue}/{symbol}/snapshots",
        "/v1/trades" => "/v1/trades",
        "/v1/candles" => "/v1/candles",
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

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    let not_ready = if let Some(failure) = state.readiness.failure() {
        Some(format!("{failure}; omsd is stopping"))
    } else if !state.readiness.reconciled() {
        Some("start-up reconciliation has not finished".to_string())
    } else if !state.oms.store_up() {
        Some("the order store is unavailable; new orders are refused".to_string())
    } else {
        None
    };
    match not_ready {
        None => Json(json!({ "status": "ready" })).into_response(),
        Some(message) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message).into_response()
        }
    }
}

/// One venue's live status.
#[derive(Serialize)]
struct VenueStatus {
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

async fn venues(State(state): State<AppState>) -> Json<Vec<VenueStatus>> {
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
    Json(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BookParams {
    depth: Option<usize>,
}

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

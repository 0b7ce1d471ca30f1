//! The WebSocket API is metered like REST: its connects and requests are charged to the
//! limiter with their weights, the `rateLimits` arrays of its answers correct the limiter like
//! the REST usage headers do, and its 429 / 418 answers pause or halt the whole venue.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{DEADLINE, HttpReply, adapter_with, config, http_mock, now_ms, recv, ws_server};
use exchange_core::{Exchange, ExchangeError, UserEvent};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

const WEIGHT: &str = "request_weight_1m";

/// A REST venue serving the clock and counting depth requests.
async fn rest(depth_requests: Arc<Mutex<u32>>) -> String {
    http_mock(move |request| match request.path.as_str() {
        "/api/v3/time" => HttpReply::ok(json!({ "serverTime": now_ms() })),
        "/api/v3/depth" => {
            *depth_requests.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            HttpReply::ok(json!({ "lastUpdateId": 1, "bids": [], "asks": [] }))
        }
        _ => HttpReply::ok(json!({ "code": -1000, "msg": "not mocked" })),
    })
    .await
}

fn rate_limits(count: u64) -> Value {
    json!([{ "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": 6000, "count": count }])
}

fn used_weight(health: &exchange_core::VenueHealth) -> (u64, Option<u64>) {
    let scope = health.limiter.scopes.iter().find(|s| s.scope == WEIGHT);
    scope.map_or((0, None), |s| (s.used, s.venue_reported_used))
}

/// The first subscription is refused with `status` (429 or 418) until 2 s from now, with
/// `rateLimits`; later ones succeed. Returns when each connection was accepted.
async fn refusing_ws_api(status: u16) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let log = accepted.clone();
    let url = ws_server(move |n, mut ws| {
        log.lock().unwrap_or_else(|e| e.into_inner()).push(Instant::now());
        async move {
            let Some(Ok(Message::Text(request))) = ws.next().await else {
                return;
            };
            let request: Value = serde_json::from_str(&request).unwrap_or_default();
            let answer = if n == 0 {
                json!({ "id": request["id"], "status": status,
                        "error": { "code": -1003, "msg": "Too much request weight used.",
                                   "data": { "serverTime": now_ms(), "retryAfter": now_ms() + 2_000 } },
                        "rateLimits": rate_limits(321) })
            } else {
                json!({ "id": request["id"], "status": 200, "result": { "subscriptionId": 0 },
                        "rateLimits": rate_limits(12) })
            };
            let _ = ws.send(Message::text(answer.to_string())).await;
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
    (url, accepted)
}

#[tokio::test]
async fn ws_api_429_and_418_pause_or_halt_the_venue_like_rest() {
    for status in [429u16, 418] {
        let depth_requests = Arc::new(Mutex::new(0));
        let rest_url = rest(depth_requests.clone()).await;
        let (ws_url, accepted) = refusing_ws_api(status).await;
        let mut config = config(&rest_url, &ws_url);
        config.limiter.data_max_wait = Duration::from_millis(100);
        let exchange = adapter_with(config);
        let (tx, mut rx) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        let task = exchange.spawn_user_stream(tx, shutdown.clone());
        let refused_at = Instant::now();
        assert!(
            matches!(recv(&mut rx).await, UserEvent::Disconnected { .. }),
            "{status}: the refused subscription ends the connection"
        );
        let health = exchange.health();
        let limiter = &health.limiter;
        let (pauses, until) = match status {
            429 => (limiter.throttled_429_total, limiter.paused_until_ms),
            _ => (limiter.banned_418_total, limiter.banned_until_ms),
        };
        assert_eq!(pauses, 1, "{status}: {limiter:?}");
        let until = until.unwrap_or(0);
        assert!(
            (now_ms()..=now_ms() + 2_500).contains(&until),
            "{status}: paused until retryAfter: {until}"
        );
        assert_eq!(
            used_weight(&health).1,
            Some(321),
            "{status}: rateLimits observed"
        );
        // Meanwhile REST is held back locally too: nothing reaches the venue.
        let depth = exchange.depth_snapshot("BTCUSDT", 5).await;
        assert!(
            matches!(depth, Err(ExchangeError::Unavailable { .. })),
            "{status}: {depth:?}"
        );
        assert_eq!(*depth_requests.lock().unwrap_or_else(|e| e.into_inner()), 0);
        // The stream reconnects only after the pause, and subscribes.
        let connected = tokio::time::timeout(DEADLINE, rx.recv()).await;
        assert!(
            matches!(connected, Ok(Some(UserEvent::Connected))),
            "{status}: {connected:?}"
        );
        let times = accepted.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(times.len(), 2, "{status}");
        assert!(
            times[1].duration_since(refused_at) >= Duration::from_millis(1_500),
            "{status}: reconnected {:?} after the refusal, inside the pause",
            times[1].duration_since(refused_at)
        );
        shutdown.cancel();
        assert!(tokio::time::timeout(DEADLINE, task).await.is_ok());
    }
}

#[tokio::test]
async fn ws_api_connects_and_subscriptions_are_charged_with_their_weights() {
    let rest_url = rest(Arc::new(Mutex::new(0))).await;
    let ws_url = ws_server(|_, mut ws| async move {
        let Some(Ok(Message::Text(request))) = ws.next().await else {
            return;
        };
        let request: Value = serde_json::from_str(&request).unwrap_or_default();
        // No rateLimits (as with returnRateLimits=false): only our own count.
        let answer =
            json!({ "id": request["id"], "status": 200, "result": { "subscriptionId": 0 } });
        let _ = ws.send(Message::text(answer.to_string())).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let exchange = adapter_with(config(&rest_url, &ws_url));
    assert!(exchange.sync_clock().await.is_ok());
    let before = used_weight(&exchange.health()).0;
    let (tx, mut rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let _task = exchange.spawn_user_stream(tx, shutdown.clone());
    assert_eq!(recv(&mut rx).await, UserEvent::Connected);
    let after = used_weight(&exchange.health()).0;
    // Connecting to the WebSocket API weighs 2, userDataStream.subscribe.signature 2.
    assert_eq!(after - before, 4, "weight {before} -> {after}");
    assert_eq!(exchange.health().limiter.connect.attempts_total, 1);
    shutdown.cancel();
}

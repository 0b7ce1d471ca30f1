//! Dead and silent streams against the scripted mock venue (see `common`): a market stream
//! that answers pings but sends no data, a user stream whose pings go unanswered, a market
//! stream whose events lag the venue clock, and the planned rotation before the maximum
//! connection age. Each must end in a reconnect with the right reason, counted in `health()`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{DEADLINE, adapter_with, config, http_server, now_ms, recv, ws_server};
use exchange_binance::BinanceExchange;
use exchange_core::{Exchange, StreamHealth, UserEvent};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

fn reconnects(stream: &StreamHealth, reason: &str) -> u64 {
    stream.reconnects_total.get(reason).copied().unwrap_or(0)
}

/// Polls the market stream's health until `done` holds, failing after the deadline.
async fn market_until(
    exchange: &BinanceExchange,
    done: impl Fn(&StreamHealth) -> bool,
) -> StreamHealth {
    let give_up = tokio::time::Instant::now() + DEADLINE;
    loop {
        let market = exchange.health().streams[1].clone();
        if done(&market) {
            return market;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "market stream: {market:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn rest() -> String {
    http_server(Arc::new(Mutex::new(vec![
        json!({ "lastUpdateId": 1, "bids": [], "asks": [] }),
    ])))
    .await
}

fn depth_event(event_time_ms: i64, id: u64) -> String {
    json!({ "stream": "btcusdt@depth@100ms", "data": {
        "e": "depthUpdate", "E": event_time_ms, "s": "BTCUSDT", "U": id, "u": id, "b": [], "a": [] } })
    .to_string()
}

#[tokio::test]
async fn market_stream_answering_pings_but_silent_is_stale() {
    let rest = rest().await;
    // Reading answers our pings (tungstenite pongs), but no data ever comes.
    let ws = ws_server(|_, mut ws| async move { while let Some(Ok(_)) = ws.next().await {} }).await;
    let mut config = config(&rest, &ws);
    config.ping_interval = Duration::from_millis(50);
    config.pong_timeout = Duration::from_secs(5);
    config.market_data_timeout = Duration::from_millis(300);
    let exchange = adapter_with(config);
    let (tx, _rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let _task = exchange.spawn_market_stream(vec!["BTCUSDT".into()], tx, shutdown.clone());
    let market = market_until(&exchange, |m| reconnects(m, "stale") >= 1).await;
    assert_eq!(
        reconnects(&market, "ping_timeout"),
        0,
        "pongs did come: {market:?}"
    );
    assert!(market.stale_detections_total >= 1);
    shutdown.cancel();
}

#[tokio::test]
async fn user_stream_with_unanswered_pings_reconnects() {
    let rest = rest().await;
    let ws = ws_server(|_, mut ws| async move {
        let Some(Ok(Message::Text(request))) = ws.next().await else {
            return;
        };
        let request: Value = serde_json::from_str(&request).unwrap_or_default();
        let answer =
            json!({ "id": request["id"], "status": 200, "result": { "subscriptionId": 0 } });
        let _ = ws.send(Message::text(answer.to_string())).await;
        // Never read again: our pings are never answered.
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let mut config = config(&rest, &ws);
    config.ping_interval = Duration::from_millis(100);
    config.pong_timeout = Duration::from_millis(200);
    let exchange = adapter_with(config);
    let (tx, mut rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let _task = exchange.spawn_user_stream(tx, shutdown.clone());
    assert_eq!(recv(&mut rx).await, UserEvent::Connected);
    let UserEvent::Disconnected { reason } = recv(&mut rx).await else {
        panic!("expected a disconnect")
    };
    assert!(reason.contains("ping unanswered"), "{reason}");
    let user = exchange.health().streams[0].clone();
    assert_eq!(reconnects(&user, "ping_timeout"), 1, "{user:?}");
    assert_eq!(user.stale_detections_total, 1);
    // Reconnected and subscribed again: the stream never gives up.
    assert_eq!(recv(&mut rx).await, UserEvent::Connected);
    shutdown.cancel();
}

#[tokio::test]
async fn market_events_far_behind_the_venue_clock_are_stale() {
    let rest = rest().await;
    let ws = ws_server(|_, mut ws| async move {
        // Frames keep coming, but they are a minute old.
        for id in 1.. {
            if ws
                .send(Message::text(depth_event(now_ms() - 60_000, id)))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let exchange = adapter_with(config(&rest, &ws));
    assert!(exchange.sync_clock().await.is_ok());
    let (tx, _rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let _task = exchange.spawn_market_stream(vec!["BTCUSDT".into()], tx, shutdown.clone());
    let market = market_until(&exchange, |m| reconnects(m, "stale") >= 1).await;
    assert_eq!(reconnects(&market, "error"), 0, "{market:?}");
    shutdown.cancel();
}

#[tokio::test]
async fn connections_are_rotated_before_their_maximum_age_without_backoff() {
    let rest = rest().await;
    let connections = Arc::new(Mutex::new(Vec::new()));
    let seen = connections.clone();
    let ws = ws_server(move |_, mut ws| {
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tokio::time::Instant::now());
        async move {
            for id in 1.. {
                if ws
                    .send(Message::text(depth_event(now_ms(), id)))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    })
    .await;
    let mut config = config(&rest, &ws);
    config.max_connection_age = Duration::from_millis(300);
    let exchange = adapter_with(config);
    let (tx, _rx) = mpsc::channel(1024);
    let shutdown = CancellationToken::new();
    let _task = exchange.spawn_market_stream(vec!["BTCUSDT".into()], tx, shutdown.clone());
    let market = market_until(&exchange, |m| reconnects(m, "rotation") >= 2).await;
    assert_eq!(
        reconnects(&market, "stale") + reconnects(&market, "error"),
        0,
        "{market:?}"
    );
    let opened = connections
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let gaps: Vec<Duration> = opened
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .collect();
    // Each connection lived its 300 ms and was replaced at once (the reconnect backoff starts
    // at 500 ms).
    assert!(
        gaps.iter().all(|g| *g < Duration::from_millis(450)),
        "{gaps:?}"
    );
    shutdown.cancel();
}

//! The market stream's make-before-break replacement on `serverShutdown`, against a scripted
//! mock venue (see `common`): the book follows the old connection until it reaches the first
//! event of the new one, then the new one; it is never reported out of sync, no snapshot is
//! fetched again, and the old connection is closed.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{DEADLINE, adapter, http_server, recv, ws_server};
use exchange_core::{BookUpdate, Exchange, MarketEvent};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

fn depth(first: u64, last: u64) -> String {
    json!({ "stream": "btcusdt@depth@100ms", "data": {
        "e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": first, "u": last,
        "b": [[format!("{last}.0"), "1"]], "a": [] } })
    .to_string()
}

#[tokio::test]
async fn server_shutdown_hands_the_book_over_without_losing_sync() {
    let snapshots = Arc::new(Mutex::new(vec![
        json!({ "lastUpdateId": 100, "bids": [["1.0", "1"]], "asks": [["200.0", "1"]] }),
    ]));
    let rest = http_server(snapshots).await;
    let (closed_tx, mut closed) = mpsc::unbounded_channel::<usize>();
    let ws = ws_server(move |n, mut ws| {
        let closed_tx = closed_tx.clone();
        async move {
            let frames = if n == 0 {
                vec![depth(100, 101)]
            } else {
                // The new connection starts one event later than the old one ends up.
                vec![depth(104, 104), depth(105, 105)]
            };
            for frame in frames {
                let _ = ws.send(Message::text(frame)).await;
            }
            if n == 0 {
                tokio::time::sleep(Duration::from_millis(500)).await; // snapshot applied
                let shutdown =
                    r#"{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}"#;
                for frame in [depth(102, 102), shutdown.to_owned(), depth(103, 103)] {
                    let _ = ws.send(Message::text(frame)).await;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = ws.send(Message::text(depth(104, 104))).await;
            }
            while let Some(Ok(message)) = ws.next().await {
                if message.is_close() {
                    break;
                }
            }
            let _ = closed_tx.send(n);
        }
    })
    .await;
    let exchange = adapter(&rest, &ws);
    let (tx, mut rx) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let _task = exchange.spawn_market_stream(vec!["btcusdt".into()], tx, shutdown.clone());
    let mut seen = Vec::new();
    while seen.len() < 6 {
        if let MarketEvent::Book(update) = recv(&mut rx).await {
            seen.push(match &update {
                BookUpdate::Snapshot(s) => format!("S{}", s.last_update_id),
                BookUpdate::Delta(d) => format!("D{}-{}", d.first_update_id, d.last_update_id),
                BookUpdate::OutOfSync { reason, .. } => format!("X {reason}"),
            });
        }
    }
    assert_eq!(
        seen,
        [
            "S100", "D100-101", "D102-102", "D103-103", "D104-104", "D105-105"
        ]
    );
    let old = tokio::time::timeout(DEADLINE, closed.recv()).await;
    assert_eq!(old.ok().flatten(), Some(0), "the old connection is closed");
    let health = exchange.health();
    let market = &health.streams[1];
    assert_eq!(
        market.reconnects_total.get("rotation"),
        Some(&1),
        "{market:?}"
    );
    assert!(market.connected, "{market:?}");
    assert_eq!(health.books.resyncs_total, 0, "{health:?}");
    // Its bounded queues are visible: the channel to the consumer and the depth buffer.
    let queues: Vec<(&str, u64)> = market
        .queues
        .iter()
        .map(|q| (q.queue.as_str(), q.capacity))
        .collect();
    assert_eq!(queues, [("events", 64), ("depth_buffer", 10_000)]);
    shutdown.cancel();
}

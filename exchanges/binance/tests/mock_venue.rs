//! Stream behaviour against a scripted mock venue on loopback (see `common`): the WebSocket API
//! user stream and the market stream. The real simulator is exercised in `sim.rs`; here each
//! test controls every frame, so gaps, malformed messages and dropped connections are exact.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    DEADLINE, SECRET, adapter, fixture, http_server, recv, subscription_is_valid, ws_server,
};
use exchange_core::{BookUpdate, Exchange, ExecutionKind, MarketEvent, OrderBook, UserEvent};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
#[tokio::test]
async fn user_stream_subscribes_forwards_and_reconnects() {
    let rest = http_server(Arc::new(Mutex::new(vec![json!({})]))).await;
    let ws = ws_server(|n, mut ws| async move {
        let Some(Ok(Message::Text(request))) = ws.next().await else {
            return;
        };
        let request: Value = serde_json::from_str(&request).unwrap_or_default();
        let status = if subscription_is_valid(&request) {
            200
        } else {
            400
        };
        let answer =
            json!({ "id": request["id"], "status": status, "result": { "subscriptionId": 0 } });
        let _ = ws.send(Message::text(answer.to_string())).await;
        if n == 0 {
            let frames = [
                "not json".to_owned(),
                fixture(include_str!("../test_data/ws_executionReport.json")),
                r#"{"subscriptionId":0,"event":{"e":"executionReport","E":1}}"#.to_owned(),
                fixture(include_str!(
                    "../test_data/ws_executionReport_canceled.json"
                )),
                fixture(include_str!("../test_data/ws_outboundAccountPosition.json")),
            ];
            for frame in frames {
                let _ = ws.send(Message::text(frame)).await;
            }
            let _ = ws.close(None).await;
        } else {
            // Stay connected until the client leaves.
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
    let exchange = adapter(&rest, &ws);
    let (tx, mut rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let task = exchange.spawn_user_stream(tx, shutdown.clone());

    assert_eq!(recv(&mut rx).await, UserEvent::Connected);
    let UserEvent::Execution(new) = recv(&mut rx).await else {
        panic!("expected execution")
    };
    assert_eq!(
        (new.kind, new.client_order_id.as_str()),
        (ExecutionKind::New, "mUvoqJxFIILMdfAW5iGSOW")
    );
    // The unreadable execution report in between is reported as a gap.
    let UserEvent::Gap { reason } = recv(&mut rx).await else {
        panic!("expected a gap")
    };
    assert!(reason.contains("execution report"), "{reason}");
    let UserEvent::Execution(canceled) = recv(&mut rx).await else {
        panic!("expected execution")
    };
    assert_eq!(canceled.kind, ExecutionKind::Canceled);
    assert_eq!(
        canceled.client_order_id, "mUvoqJxFIILMdfAW5iGSOW",
        "the order's own id, not the cancel's"
    );
    let UserEvent::Balances(balances) = recv(&mut rx).await else {
        panic!("expected balances")
    };
    assert_eq!(balances[0].asset, "ETH");
    assert!(matches!(
        recv(&mut rx).await,
        UserEvent::Disconnected { .. }
    ));
    assert_eq!(recv(&mut rx).await, UserEvent::Connected);

    let health = exchange.health();
    assert_eq!(health.malformed_messages_total, 2, "{health:?}");
    let user = &health.streams[0];
    assert_eq!(user.kind, "user");
    assert_eq!(
        user.reconnects_total.get("server_close"),
        Some(&1),
        "{user:?}"
    );
    assert!(user.connected, "{user:?}");
    shutdown.cancel();
    assert!(
        tokio::time::timeout(DEADLINE, task).await.is_ok(),
        "task did not stop on shutdown"
    );
}

/// The frame of the documented `executionReport` with some fields replaced.
fn execution_report_with(changes: Value) -> String {
    let mut frame: Value =
        serde_json::from_str(include_str!("../test_data/ws_executionReport.json"))
            .unwrap_or_default();
    if let (Some(event), Some(changes)) = (frame["event"].as_object_mut(), changes.as_object()) {
        for (key, value) in changes {
            event.insert(key.clone(), value.clone());
        }
    }
    frame.to_string()
}

#[tokio::test]
async fn unreadable_order_updates_are_gaps_and_the_stream_stays_up() {
    let rest = http_server(Arc::new(Mutex::new(vec![json!({})]))).await;
    let ws = ws_server(|_, mut ws| async move {
        let Some(Ok(Message::Text(request))) = ws.next().await else {
            return;
        };
        let request: Value = serde_json::from_str(&request).unwrap_or_default();
        let answer =
            json!({ "id": request["id"], "status": 200, "result": { "subscriptionId": 0 } });
        let _ = ws.send(Message::text(answer.to_string())).await;
        let frames = [
            // Parses as JSON but not as an order update we can apply: unknown status.
            execution_report_with(json!({ "X": "SOMETHING_NEW" })),
            // Does not deserialize: the quantity is not a decimal.
            execution_report_with(json!({ "q": { "not": "a number" } })),
            // An event without a type may have been anything, an order update included.
            r#"{"subscriptionId":0,"event":{"E":1,"s":"ETHBTC"}}"#.to_owned(),
            // Unreadable, but not an order update: counted and skipped, no gap.
            r#"{"subscriptionId":0,"event":{"e":"outboundAccountPosition","B":7}}"#.to_owned(),
            "not json".to_owned(),
            r#"{"subscriptionId":0,"event":{"e":"somethingElse","E":1}}"#.to_owned(),
            fixture(include_str!("../test_data/ws_executionReport.json")),
        ];
        for frame in frames {
            let _ = ws.send(Message::text(frame)).await;
        }
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let exchange = adapter(&rest, &ws);
    let (tx, mut rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let _task = exchange.spawn_user_stream(tx, shutdown.clone());
    assert_eq!(recv(&mut rx).await, UserEvent::Connected);
    let mut reasons = Vec::new();
    for _ in 0..3 {
        match recv(&mut rx).await {
            UserEvent::Gap { reason } => reasons.push(reason),
            other => panic!("expected a gap, got {other:?}"),
        }
    }
    assert!(reasons[0].contains("SOMETHING_NEW"), "{reasons:?}");
    assert!(reasons[1].contains("execution report"), "{reasons:?}");
    assert_eq!(reasons[2], "event without a type");
    let UserEvent::Execution(report) = recv(&mut rx).await else {
        panic!("expected the readable execution report")
    };
    assert_eq!(report.client_order_id, "mUvoqJxFIILMdfAW5iGSOW");

    let health = exchange.health();
    assert_eq!(health.malformed_messages_total, 5, "{health:?}");
    let user = &health.streams[0];
    assert!(
        user.connected && user.reconnects_total.values().all(|n| *n == 0),
        "{user:?}"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn user_stream_reports_a_refused_subscription_and_retries() {
    let rest = http_server(Arc::new(Mutex::new(vec![json!({})]))).await;
    let ws = ws_server(|_, mut ws| async move {
        let Some(Ok(Message::Text(request))) = ws.next().await else {
            return;
        };
        let request: Value = serde_json::from_str(&request).unwrap_or_default();
        let answer = json!({ "id": request["id"], "status": 401,
            "error": { "code": -2015, "msg": "Invalid API-key, IP, or permissions for action." } });
        let _ = ws.send(Message::text(answer.to_string())).await;
    })
    .await;
    let exchange = adapter(&rest, &ws);
    let (tx, mut rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let _task = exchange.spawn_user_stream(tx, shutdown.clone());
    for _ in 0..2 {
        let UserEvent::Disconnected { reason } = recv(&mut rx).await else {
            panic!("expected disconnect")
        };
        assert!(reason.contains("-2015"), "{reason}");
        assert!(!reason.contains(SECRET));
    }
    shutdown.cancel();
}

fn depth(first: u64, last: u64, bids: Value, asks: Value) -> String {
    json!({ "stream": "btcusdt@depth@100ms", "data": {
        "e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": first, "u": last, "b": bids, "a": asks } })
    .to_string()
}

#[tokio::test]
async fn market_stream_syncs_resyncs_on_gap_and_on_disconnect() {
    let snapshots = Arc::new(Mutex::new(vec![
        json!({ "lastUpdateId": 99, "bids": [], "asks": [] }), // older than the buffer: refetched
        json!({ "lastUpdateId": 102, "bids": [["100.0", "1"], ["99.0", "2"]], "asks": [["101.0", "1"]] }),
        json!({ "lastUpdateId": 110, "bids": [["100.0", "5"]], "asks": [["101.0", "5"]] }),
    ]));
    let rest = http_server(snapshots).await;
    let ws = ws_server(|n, mut ws| async move {
        if n > 0 {
            while let Some(Ok(_)) = ws.next().await {}
            return;
        }
        let trade = json!({ "stream": "btcusdt@trade", "data": {
            "e": "trade", "E": 1, "s": "BTCUSDT", "t": 7, "p": "100.5", "q": "0.1", "T": 2, "m": true, "M": true } });
        let first = [
            depth(100, 101, json!([["98.0", "1"]]), json!([])),
            depth(102, 103, json!([["100.0", "0"]]), json!([])), // straddles snapshot 102
            "{broken".to_owned(),
            trade.to_string(),
        ];
        for frame in first {
            let _ = ws.send(Message::text(frame)).await;
        }
        tokio::time::sleep(Duration::from_millis(800)).await; // snapshot fetched and applied
        let _ = ws.send(Message::text(depth(104, 104, json!([]), json!([["101.0", "2"]])))).await;
        let _ = ws.send(Message::text(depth(106, 111, json!([]), json!([])))).await; // gap
        tokio::time::sleep(Duration::from_millis(800)).await;
        let _ = ws.send(Message::text(depth(112, 112, json!([["100.0", "4"]]), json!([])))).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = ws.close(None).await;
    })
    .await;
    let exchange = adapter(&rest, &ws);
    let (tx, mut rx) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let _task = exchange.spawn_market_stream(vec!["btcusdt".into()], tx, shutdown.clone());

    let mut book = OrderBook::new();
    let mut seen = Vec::new();
    while seen.len() < 9 {
        match recv(&mut rx).await {
            MarketEvent::Trade(t) => seen.push(format!("T{}", t.trade_id)),
            MarketEvent::Book(update) => {
                book.apply(&update);
                seen.push(match &update {
                    BookUpdate::Snapshot(s) => format!("S{}", s.last_update_id),
                    BookUpdate::Delta(d) => format!("D{}-{}", d.first_update_id, d.last_update_id),
                    BookUpdate::OutOfSync { .. } => "X".to_owned(),
                });
                if seen.last().map(String::as_str) == Some("D104-104") {
                    let (bids, asks) = book.top(5);
                    assert_eq!(
                        bids.len(),
                        1,
                        "level 100 removed by the straddling event: {bids:?}"
                    );
                    assert_eq!(asks[0].quantity, rust_decimal::Decimal::TWO);
                }
            }
        }
    }
    assert_eq!(
        seen,
        [
            "T7", "S102", "D102-103", "D104-104", "X", "S110", "D106-111", "D112-112", "X"
        ]
    );
    assert!(!book.in_sync());
    let health = exchange.health();
    assert_eq!(
        (health.malformed_messages_total, health.books.resyncs_total),
        (1, 2),
        "{health:?}"
    );
    // The gap resynced (snapshot 110); the disconnect's resync is still pending.
    assert_eq!(health.books.resyncs_completed_total, 1, "{health:?}");
    let market = &health.streams[1];
    assert_eq!(
        market.reconnects_total.get("server_close"),
        Some(&1),
        "{market:?}"
    );
    shutdown.cancel();
}

/// Regression: books used to wait for their first diff event before fetching a snapshot, so a
/// symbol whose book does not change stayed out of sync after every reconnect. Now every book
/// fetches at connect, and a drop reports every book out of sync and fetches again.
#[tokio::test]
async fn market_stream_syncs_quiet_books_at_connect_and_after_a_drop() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let depth_requests = Arc::new(AtomicUsize::new(0));
    let served = depth_requests.clone();
    let rest = common::http_mock(move |request| match request.path.as_str() {
        "/api/v3/depth" => {
            served.fetch_add(1, Ordering::SeqCst);
            common::HttpReply::ok(json!({ "lastUpdateId": 50,
                "bids": [["100.0", "1"]], "asks": [["101.0", "1"]] }))
        }
        "/api/v3/time" => common::HttpReply::ok(json!({ "serverTime": common::now_ms() })),
        _ => common::HttpReply::ok(json!({})),
    })
    .await;
    let requests = depth_requests.clone();
    // Not one depth event: the first connection closes once both snapshots were served.
    let ws = ws_server(move |n, mut ws| {
        let requests = requests.clone();
        async move {
            if n == 0 {
                let start = tokio::time::Instant::now();
                while requests.load(Ordering::SeqCst) < 2 && start.elapsed() < DEADLINE {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                tokio::time::sleep(Duration::from_millis(50)).await; // let the answers land
                let _ = ws.close(None).await;
            }
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
    let exchange = adapter(&rest, &ws);
    let (tx, mut rx) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let _task = exchange.spawn_market_stream(
        vec!["btcusdt".into(), "ethusdt".into()],
        tx,
        shutdown.clone(),
    );
    let mut phases = Vec::new();
    for _ in 0..3 {
        let mut phase = Vec::new();
        for _ in 0..2 {
            let MarketEvent::Book(update) = recv(&mut rx).await else {
                panic!("expected a book update")
            };
            phase.push(match update {
                BookUpdate::Snapshot(s) => format!("S{} {}", s.last_update_id, s.venue_symbol),
                BookUpdate::OutOfSync { venue_symbol, .. } => format!("X {venue_symbol}"),
                BookUpdate::Delta(d) => format!("D {}", d.venue_symbol),
            });
        }
        phase.sort();
        phases.push(phase.join(", "));
    }
    assert_eq!(
        phases,
        [
            "S50 BTCUSDT, S50 ETHUSDT",
            "X BTCUSDT, X ETHUSDT",
            "S50 BTCUSDT, S50 ETHUSDT"
        ]
    );
    let books = exchange.health().books;
    assert_eq!(
        (books.resyncs_total, books.resyncs_completed_total),
        (2, 2),
        "{books:?}"
    );
    assert_eq!(depth_requests.load(Ordering::SeqCst), 4);
    shutdown.cancel();
}

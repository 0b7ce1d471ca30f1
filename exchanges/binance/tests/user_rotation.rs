//! The user stream's planned replacement and the venue ending a subscription, against a
//! scripted mock venue (see `common`): `serverShutdown` on the WebSocket API makes the adapter
//! subscribe on a new connection before it leaves the old one, without reporting a
//! disconnection or delivering an event twice; `eventStreamTerminated` is a gap, followed by
//! a new subscription on the same connection.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{DEADLINE, adapter, http_server, recv, subscription_is_valid, ws_server};
use exchange_core::{Exchange, UserEvent};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

type Ws = WebSocketStream<tokio::net::TcpStream>;

/// An `executionReport` frame of the documented fixture for client order id `id`.
fn report(id: &str) -> String {
    let mut frame: Value =
        serde_json::from_str(include_str!("../test_data/ws_executionReport.json"))
            .unwrap_or_default();
    frame["event"]["c"] = json!(id);
    frame.to_string()
}

/// Reads the next request and answers it with success; returns it.
async fn answer(ws: &mut Ws) -> Value {
    let Some(Ok(Message::Text(text))) = ws.next().await else {
        return Value::Null;
    };
    let request: Value = serde_json::from_str(&text).unwrap_or_default();
    let status = if request["method"] == "userDataStream.subscribe.signature"
        && !subscription_is_valid(&request)
    {
        400
    } else {
        200
    };
    let reply = json!({ "id": request["id"], "status": status, "result": { "subscriptionId": 0 } });
    let _ = ws.send(Message::text(reply.to_string())).await;
    request
}

async fn send(ws: &mut Ws, frame: String) {
    let _ = ws.send(Message::text(frame)).await;
}

/// The next event, skipping none; panics on a disconnection or a second `Connected`.
async fn execution_id(rx: &mut mpsc::Receiver<UserEvent>) -> String {
    match recv(rx).await {
        UserEvent::Execution(report) => report.client_order_id,
        other => panic!("expected an execution report, got {other:?}"),
    }
}

#[tokio::test]
async fn server_shutdown_replaces_the_connection_before_leaving_it() {
    let rest = http_server(Arc::new(Mutex::new(vec![json!({})]))).await;
    let (methods_tx, mut methods) = mpsc::unbounded_channel::<(usize, Value)>();
    let ws = ws_server(move |n, mut ws| {
        let methods_tx = methods_tx.clone();
        async move {
            let request = answer(&mut ws).await;
            let _ = methods_tx.send((n, request["method"].clone()));
            if n == 0 {
                send(&mut ws, report("before")).await;
                send(&mut ws, r#"{"event":{"e":"serverShutdown","E":1}}"#.into()).await;
                // The old connection keeps delivering until the client unsubscribes it.
                send(&mut ws, report("overlap")).await;
                let request = answer(&mut ws).await;
                let _ = methods_tx.send((n, request["method"].clone()));
                send(&mut ws, report("late")).await;
                send(
                    &mut ws,
                    r#"{"event":{"e":"eventStreamTerminated","E":2}}"#.into(),
                )
                .await;
                while let Some(Ok(_)) = ws.next().await {}
            } else {
                // The new subscription delivers the overlap again, then new events.
                send(&mut ws, report("overlap")).await;
                send(&mut ws, report("late")).await;
                send(&mut ws, report("after")).await;
                while let Some(Ok(_)) = ws.next().await {}
            }
        }
    })
    .await;
    let exchange = adapter(&rest, &ws);
    let (tx, mut rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let task = exchange.spawn_user_stream(tx, shutdown.clone());
    assert_eq!(recv(&mut rx).await, UserEvent::Connected);
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(execution_id(&mut rx).await);
    }
    ids.sort();
    assert_eq!(
        ids,
        ["after", "before", "late", "overlap"],
        "each event once"
    );
    // Nothing else: no disconnection, no second subscription announcement, no copy.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "unexpected event after the rotation"
    );
    let mut seen = Vec::new();
    for _ in 0..3 {
        let got = tokio::time::timeout(DEADLINE, methods.recv()).await;
        seen.push(got.ok().flatten().unwrap_or_default());
    }
    seen.sort_by_key(|(n, m)| (*n, m.to_string()));
    assert_eq!(
        seen,
        [
            (0, json!("userDataStream.subscribe.signature")),
            (0, json!("userDataStream.unsubscribe")),
            (1, json!("userDataStream.subscribe.signature")),
        ]
    );
    let user = &exchange.health().streams[0];
    assert_eq!(user.reconnects_total.get("rotation"), Some(&1), "{user:?}");
    assert!(user.connected, "{user:?}");
    shutdown.cancel();
    assert!(tokio::time::timeout(DEADLINE, task).await.is_ok());
}

#[tokio::test]
async fn terminated_subscription_is_a_gap_and_is_subscribed_again() {
    let rest = http_server(Arc::new(Mutex::new(vec![json!({})]))).await;
    let ws = ws_server(|_, mut ws| async move {
        answer(&mut ws).await;
        send(
            &mut ws,
            r#"{"event":{"e":"eventStreamTerminated","E":1}}"#.into(),
        )
        .await;
        let again = answer(&mut ws).await;
        if again["method"] == "userDataStream.subscribe.signature" {
            send(&mut ws, report("resubscribed")).await;
        }
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let exchange = adapter(&rest, &ws);
    let (tx, mut rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let task = exchange.spawn_user_stream(tx, shutdown.clone());
    assert_eq!(recv(&mut rx).await, UserEvent::Connected);
    let UserEvent::Gap { reason } = recv(&mut rx).await else {
        panic!("expected a gap")
    };
    assert!(reason.contains("terminated"), "{reason}");
    assert_eq!(execution_id(&mut rx).await, "resubscribed");
    shutdown.cancel();
    assert!(tokio::time::timeout(DEADLINE, task).await.is_ok());
}

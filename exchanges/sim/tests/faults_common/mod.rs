//! Helpers for the fault tests: the control API over HTTP, resting orders, signed requests
//! with a short client deadline, a WebSocket API user-stream subscription, and frame reading
//! that keeps pings and closes visible.

#![allow(dead_code)]

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

/// `POST /_sim/faults`; returns the new fault's id.
pub async fn inject(client: &Client, spec: Value) -> u64 {
    let reply = client
        .raw(Method::POST, "/_sim/faults", "", &spec.to_string(), None)
        .await;
    reply.ok()["id"].as_u64().expect("an id")
}

/// `DELETE /_sim/faults/{id}`.
pub async fn clear(client: &Client, id: u64) {
    let path = format!("/_sim/faults/{id}");
    client.raw(Method::DELETE, &path, "", "", None).await.ok();
}

/// `faults.<name>` of `GET /_sim/stats`.
pub async fn fault_stats(client: &Client, name: &str) -> (u64, u64) {
    let stats = client.public("/_sim/stats", &[]).await;
    let entry = &stats.ok()["faults"][name];
    (
        entry["injected"].as_u64().unwrap(),
        entry["triggered"].as_u64().unwrap(),
    )
}

/// A limit buy far below the market, so it rests.
pub fn resting_order<'a>(symbol: &'a str, client_id: &'a str) -> Vec<(&'a str, &'a str)> {
    let (price, qty) = if symbol == "BTCUSDT" {
        ("29000", "0.001")
    } else {
        ("1900", "0.01")
    };
    let mut order = limit_buy(symbol, "GTC", qty, price);
    order.push(("newClientOrderId", client_id));
    order
}

/// `GET /api/v3/order` by client order id.
pub async fn order_by_client_id(client: &Client, symbol: &str, client_id: &str) -> Reply {
    let params = [("symbol", symbol), ("origClientOrderId", client_id)];
    client.signed(Method::GET, "/api/v3/order", &params).await
}

/// A signed request whose client gives up after `deadline`: `Err(())` on timeout.
pub async fn signed_with_deadline(
    client: &Client,
    method: Method,
    path: &str,
    params: &[(&str, &str)],
    deadline: Duration,
) -> Result<reqwest::StatusCode, ()> {
    let request = client.signed_request(method, path, params);
    match request.timeout(deadline).send().await {
        Ok(response) => Ok(response.status()),
        Err(error) if error.is_timeout() => Err(()),
        Err(error) => panic!("request failed: {error}"),
    }
}

/// A WebSocket API connection with the demo account's user stream subscribed (id 0).
pub async fn user_stream(ws_api_url: &str, client: &Client) -> Ws {
    let mut ws = connect(ws_api_url).await;
    let params = sign_ws(json!({}), &client.key, &client.secret);
    let method = "userDataStream.subscribe.signature";
    let reply = ws_request(&mut ws, json!("sub"), method, params).await;
    assert_eq!(reply["status"], 200, "{reply}");
    ws
}

/// The next user event (`event` of `{"subscriptionId","event"}`).
pub async fn next_event(ws: &mut Ws) -> Value {
    next_matching(ws, |v| v.get("event").is_some()).await["event"].clone()
}

/// What one read within a window produced.
#[derive(Debug)]
pub enum Frame {
    Json(Value),
    Ping,
    Pong,
    /// A close frame from the server.
    Close,
    /// The connection ended without a close frame (reset or EOF).
    Gone,
}

/// The next frame within `within`; `None` if nothing arrived.
pub async fn frame_within(ws: &mut Ws, within: Duration) -> Option<Frame> {
    let next = tokio::time::timeout(within, ws.next()).await.ok()?;
    Some(match next {
        Some(Ok(Message::Text(text))) => Frame::Json(serde_json::from_str(&text).unwrap()),
        Some(Ok(Message::Ping(_))) => Frame::Ping,
        Some(Ok(Message::Pong(_))) => Frame::Pong,
        Some(Ok(Message::Close(_))) => Frame::Close,
        Some(Ok(other)) => panic!("unexpected frame {other:?}"),
        Some(Err(_)) | None => Frame::Gone,
    })
}

/// Every frame that arrives during `window`, stopping early if the connection ends.
pub async fn frames_during(ws: &mut Ws, window: Duration) -> Vec<Frame> {
    let end = Instant::now() + window;
    let mut frames = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match frame_within(ws, left).await {
            Some(frame @ (Frame::Close | Frame::Gone)) => {
                frames.push(frame);
                break;
            }
            Some(frame) => frames.push(frame),
            None => break,
        }
    }
    frames
}

/// Reads until the connection ends; panics if it is still open at the deadline.
pub async fn until_closed(ws: &mut Ws) -> Frame {
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let Some(frame @ (Frame::Close | Frame::Gone)) = frame_within(ws, DEADLINE).await {
                return frame;
            }
        }
    })
    .await
    .expect("the connection closes before the deadline")
}

/// Sends a stream control request and waits for its answer: everything read before the
/// answer was sent by the server before it handled the request.
pub async fn stream_marker(ws: &mut Ws, id: u64) {
    send_json(ws, &json!({ "method": "LIST_SUBSCRIPTIONS", "id": id })).await;
    next_matching(ws, |v| v["id"] == id && v.get("result").is_some()).await;
}

/// Polls `check` every 20 ms until it returns `Some`, or panics at the deadline.
pub async fn poll<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

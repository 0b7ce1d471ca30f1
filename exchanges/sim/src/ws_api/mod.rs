//! The WebSocket API at `/ws-api/v3`: requests `{"id","method","params"}`, responses
//! `{"id","status","result"|"error","rateLimits"}`, and user data streams opened with
//! `userDataStream.subscribe.signature` (HMAC over the sorted params), whose events arrive as
//! `{"subscriptionId":N,"event":{...}}` on the same connection.
//!
//! Methods: `ping`, `time`, `userDataStream.subscribe.signature`, `userDataStream.unsubscribe`,
//! `session.subscriptions` (optionally prefixed `v3/`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Extension;
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tracing::{debug, warn};

use crate::auth::{SignedParams, check_signed, ws_payload, ws_value};
use crate::bus::UserMsg;
use crate::engine::AccountId;
use crate::errors::ApiError;
use crate::server::AppState;
use crate::stats::Counter;
use crate::wire;
use crate::ws::{Keepalive, KeepaliveAction};

/// `GET /ws-api/v3` (connecting weighs 2, as on the venue).
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ip = peer.map_or(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        |Extension(ConnectInfo(addr))| addr.ip(),
    );
    let session = WsApiSession {
        state: state.clone(),
        ip,
        subs: Vec::new(),
        next_sub: 0,
        user_rx: None,
    };
    crate::ws::upgrade(&state, ws, 2, move |socket| session.run(socket))
}

struct WsApiSession {
    state: AppState,
    ip: IpAddr,
    /// Active user data subscriptions: id and account.
    subs: Vec<(u32, AccountId)>,
    next_sub: u32,
    user_rx: Option<broadcast::Receiver<Arc<UserMsg>>>,
}

impl WsApiSession {
    async fn run(mut self, mut socket: WebSocket) {
        let state = self.state.clone();
        let mut keepalive = Keepalive::new(state.ws.ping_interval, state.ws.pong_timeout);
        loop {
            let outgoing: Vec<Message> = tokio::select! {
                () = state.shutdown.cancelled() => vec![Message::Close(None)],
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => self.handle(&text),
                    Some(Ok(Message::Pong(_))) => { keepalive.pong(); continue; }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => continue,
                },
                event = recv_user(&mut self.user_rx) => match event {
                    Ok(msg) => self.frames(&msg),
                    Err(RecvError::Lagged(missed)) => {
                        warn!(missed, "user stream subscriber lagged; disconnecting");
                        vec![Message::Close(None)]
                    }
                    Err(RecvError::Closed) => vec![Message::Close(None)],
                },
                action = keepalive.tick() => match action {
                    KeepaliveAction::SendPing => vec![Message::Ping(axum::body::Bytes::new())],
                    KeepaliveAction::Close => { debug!("pong overdue; closing ws-api session"); vec![Message::Close(None)] }
                },
            };
            let closing = outgoing.iter().any(|m| matches!(m, Message::Close(_)));
            for message in outgoing {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
            if closing {
                break;
            }
        }
    }

    /// User events for this connection's subscriptions, framed with their subscription id.
    fn frames(&self, msg: &UserMsg) -> Vec<Message> {
        self.subs
            .iter()
            .filter(|(_, account)| *account == msg.account)
            .map(|(id, _)| {
                Message::text(format!(r#"{{"subscriptionId":{id},"event":{}}}"#, msg.json))
            })
            .collect()
    }

    /// Answers one request; may add event frames after the response.
    fn handle(&mut self, text: &str) -> Vec<Message> {
        self.state.stats.count(Counter::Requests, 1);
        let request: Value = match serde_json::from_str(text) {
            Ok(Value::Object(request)) => Value::Object(request),
            _ => {
                let error = ApiError::new(StatusCode::BAD_REQUEST, -1135, "Invalid JSON Request");
                return vec![self.respond(Value::Null, 1, Err(error))];
            }
        };
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        if !matches!(id, Value::Null | Value::Number(_) | Value::String(_)) {
            return vec![self.respond(Value::Null, 1, Err(ApiError::mandatory("id")))];
        }
        let Some(method) = request.get("method").and_then(Value::as_str) else {
            return vec![self.respond(id, 1, Err(ApiError::mandatory("method")))];
        };
        let empty = Map::new();
        let params = match request.get("params") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(params)) => params,
            Some(_) => return vec![self.respond(id, 1, Err(ApiError::mandatory("params")))],
        };
        let mut events = Vec::new();
        let (weight, result) = match method.strip_prefix("v3/").unwrap_or(method) {
            "ping" => (1, Ok(json!({}))),
            "time" => (1, Ok(json!({ "serverTime": self.state.clock.now_ms() }))),
            "userDataStream.subscribe.signature" => (2, self.subscribe(params)),
            "userDataStream.unsubscribe" => (2, self.unsubscribe(params, &mut events)),
            "session.subscriptions" => (
                2,
                Ok(json!(
                    self.subs
                        .iter()
                        .map(|(id, _)| json!({ "subscriptionId": id }))
                        .collect::<Vec<_>>()
                )),
            ),
            _ => (
                1,
                Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    -1020,
                    "This operation is not supported.",
                )),
            ),
        };
        let mut out = vec![self.respond(id, weight, result)];
        out.extend(events);
        out
    }

    fn respond(&self, id: Value, weight: u32, result: Result<Value, ApiError>) -> Message {
        let count = self
            .state
            .limits
            .add_weight(self.ip, weight, self.state.clock.now_ms());
        let mut limit = wire::info::rate_limits().swap_remove(0);
        limit.count = Some(count);
        let body = match result {
            Ok(result) => {
                json!({ "id": id, "status": 200, "result": result, "rateLimits": [limit] })
            }
            Err(error) => {
                json!({ "id": id, "status": error.status.as_u16(), "error": error.json(), "rateLimits": [limit] })
            }
        };
        Message::text(body.to_string())
    }

    /// `userDataStream.subscribe.signature`: `apiKey`, `timestamp`, `signature`[, `recvWindow`].
    fn subscribe(&mut self, params: &Map<String, Value>) -> Result<Value, ApiError> {
        let api_key = params
            .get("apiKey")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::mandatory("apiKey"))?;
        let credential = self.state.keys.lookup(Some(api_key))?;
        let text = |name: &str| params.get(name).map(ws_value);
        let (timestamp, signature, recv_window) =
            (text("timestamp"), text("signature"), text("recvWindow"));
        let signed = SignedParams {
            timestamp: timestamp.as_deref(),
            signature: signature.as_deref(),
            recv_window: recv_window.as_deref(),
        };
        check_signed(
            credential,
            &signed,
            ws_payload(params).as_bytes(),
            self.state.clock.now_ms(),
        )?;
        let account = credential.account;
        if self.subs.iter().any(|(_, a)| *a == account) {
            return Err(ApiError::subscription_active());
        }
        if self.user_rx.is_none() {
            self.user_rx = Some(self.state.bus.user_tx.subscribe());
        }
        let id = self.next_sub;
        self.next_sub = self.next_sub.saturating_add(1);
        self.subs.push((id, account));
        Ok(json!({ "subscriptionId": id }))
    }

    /// `userDataStream.unsubscribe` with an optional `subscriptionId` (else all).
    fn unsubscribe(
        &mut self,
        params: &Map<String, Value>,
        events: &mut Vec<Message>,
    ) -> Result<Value, ApiError> {
        let removed: Vec<u32> = match params.get("subscriptionId") {
            None => self.subs.drain(..).map(|(id, _)| id).collect(),
            Some(value) => {
                let wanted = value
                    .as_u64()
                    .ok_or_else(|| ApiError::mandatory("subscriptionId"))?;
                let position = self
                    .subs
                    .iter()
                    .position(|(id, _)| u64::from(*id) == wanted);
                let position = position.ok_or_else(ApiError::subscription_not_active)?;
                vec![self.subs.remove(position).0]
            }
        };
        if self.subs.is_empty() {
            self.user_rx = None;
        }
        let terminated =
            serde_json::to_string(&wire::events::stream_terminated(self.state.clock.now_ms()))
                .unwrap_or_default();
        events.extend(
            removed.iter().map(|id| {
                Message::text(format!(r#"{{"subscriptionId":{id},"event":{terminated}}}"#))
            }),
        );
        Ok(json!({}))
    }
}

async fn recv_user(
    rx: &mut Option<broadcast::Receiver<Arc<UserMsg>>>,
) -> Result<Arc<UserMsg>, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

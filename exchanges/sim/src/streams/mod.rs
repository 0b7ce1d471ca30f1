//! Market streams on the REST port: raw streams at `/ws` and `/ws/<name>[/<name>...]`,
//! combined streams at `/stream[?streams=a/b]` (payloads wrapped as `{"stream","data"}`), live
//! `SUBSCRIBE` / `UNSUBSCRIBE` / `LIST_SUBSCRIPTIONS` / `SET_PROPERTY` / `GET_PROPERTY` with the
//! request `id` echoed in its JSON type, and server pings.
//!
//! Served streams: `<symbol>@depth@100ms`, `<symbol>@depth` (1000 ms) and `<symbol>@trade`.
//! Other well-formed names are accepted and listed but carry no data yet.

use std::sync::Arc;

use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{RawQuery, State};
use axum::http::Uri;
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, warn};

use crate::bus::{StreamKind, StreamMsg};
use crate::engine::{Catalog, SymbolId};
use crate::server::AppState;
use crate::ws::{Keepalive, KeepaliveAction, upgrade};

/// Most streams one connection may hold.
const MAX_STREAMS: usize = 1024;

/// `/ws`: raw payloads, subscriptions by message.
pub(crate) async fn raw_root(
    State(state): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    start(state, ws, Vec::new(), false)
}

/// `/ws/<name>[/<name>...]`: raw payloads. Path parts that are not stream names (ccxt opens
/// `/ws/0`, `/ws/1`, ...) are ignored.
pub(crate) async fn raw_path(
    State(state): State<AppState>,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let path = uri.path().strip_prefix("/ws/").unwrap_or_default();
    let names = path
        .split('/')
        .filter(|n| parse_stream(n, &state.catalog).is_ok())
        .map(str::to_owned)
        .collect();
    start(state, ws, names, false)
}

/// `/stream[?streams=a/b]`: combined payloads.
pub(crate) async fn combined(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let streams = pairs
        .into_iter()
        .find(|(k, _)| k == "streams")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let names = streams
        .split('/')
        .filter(|n| parse_stream(n, &state.catalog).is_ok())
        .map(str::to_owned)
        .collect();
    start(state, ws, names, true)
}

fn start(
    state: AppState,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    names: Vec<String>,
    combined: bool,
) -> Response {
    let mut session = StreamSession {
        catalog: Arc::clone(&state.catalog),
        subs: Vec::new(),
        combined,
    };
    for name in names {
        session.add(name);
    }
    let session_state = state.clone();
    upgrade(&state, ws, 0, move |socket| {
        session.run(socket, session_state)
    })
}

/// A subscription: the stream name and, for served streams, what it carries.
type Subscription = (String, Option<(SymbolId, StreamKind)>);

struct StreamSession {
    catalog: Arc<Catalog>,
    subs: Vec<Subscription>,
    combined: bool,
}

impl StreamSession {
    async fn run(mut self, mut socket: WebSocket, state: AppState) {
        let mut market_rx = state.bus.market_tx.subscribe();
        let mut keepalive = Keepalive::new(state.ws.ping_interval, state.ws.pong_timeout);
        loop {
            let outgoing: Vec<Message> = tokio::select! {
                () = state.shutdown.cancelled() => vec![Message::Close(None)],
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => vec![Message::text(self.control(&text))],
                    Some(Ok(Message::Pong(_))) => { keepalive.pong(); continue; }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => continue,
                },
                msg = market_rx.recv() => match msg {
                    Ok(msg) => self.frames(&msg),
                    Err(RecvError::Lagged(missed)) => {
                        warn!(missed, "market stream subscriber lagged; disconnecting");
                        vec![Message::Close(None)]
                    }
                    Err(RecvError::Closed) => vec![Message::Close(None)],
                },
                action = keepalive.tick() => match action {
                    KeepaliveAction::SendPing => vec![Message::Ping(axum::body::Bytes::new())],
                    KeepaliveAction::Close => { debug!("pong overdue; closing market stream"); vec![Message::Close(None)] }
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

    /// The frames one published message produces on this connection.
    fn frames(&self, msg: &StreamMsg) -> Vec<Message> {
        self.subs
            .iter()
            .filter(|(_, key)| *key == Some((msg.symbol, msg.kind)))
            .map(|(name, _)| {
                if self.combined {
                    let name = serde_json::to_string(name).unwrap_or_default();
                    Message::text(format!(r#"{{"stream":{name},"data":{}}}"#, msg.json))
                } else {
                    Message::text(msg.json.clone())
                }
            })
            .collect()
    }

    fn add(&mut self, name: String) {
        if self.subs.iter().any(|(n, _)| *n == name) {
            return;
        }
        if let Ok(key) = parse_stream(&name, &self.catalog) {
            self.subs.push((name, key));
        }
    }

    /// Answers one control message.
    fn control(&mut self, text: &str) -> String {
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => return failure(3, format!("Invalid JSON: {error}"), Value::Null),
        };
        let Some(request) = value.as_object() else {
            return failure(2, "Invalid request: expected an object".into(), Value::Null);
        };
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        if !valid_id(&id) {
            return failure(
                2,
                "Invalid request: request ID must be an unsigned integer".into(),
                Value::Null,
            );
        }
        let Some(method) = request.get("method").and_then(Value::as_str) else {
            return failure(2, "Invalid request: missing field `method`".into(), id);
        };
        let params = request
            .get("params")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        match method {
            "SUBSCRIBE" | "UNSUBSCRIBE" => self.change(method == "SUBSCRIBE", params, id),
            "LIST_SUBSCRIPTIONS" => success(
                json!(self.subs.iter().map(|(n, _)| n).collect::<Vec<_>>()),
                id,
            ),
            "SET_PROPERTY" | "GET_PROPERTY" => self.property(method == "SET_PROPERTY", params, id),
            other => failure(
                2,
                format!(
                    "Invalid request: unknown variant `{other}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
                ),
                id,
            ),
        }
    }

    /// `SET_PROPERTY ["combined", bool]` and `GET_PROPERTY ["combined"]`.
    fn property(&mut self, set: bool, params: &[Value], id: Value) -> String {
        match (set, params) {
            (true, [Value::String(name), Value::Bool(on)]) if name == "combined" => {
                self.combined = *on;
                success(Value::Null, id)
            }
            (true, [Value::String(name), _]) if name == "combined" => {
                failure(1, "Invalid value type: expected Boolean".into(), id)
            }
            (false, [Value::String(name)]) if name == "combined" => {
                success(json!(self.combined), id)
            }
            (true, [Value::String(_), _]) | (false, [Value::String(_)]) => {
                failure(0, "Unknown property".into(), id)
            }
            _ => failure(
                2,
                "Invalid request: property name must be a string".into(),
                id,
            ),
        }
    }

    fn change(&mut self, subscribe: bool, params: &[Value], id: Value) -> String {
        let mut names = Vec::with_capacity(params.len());
        for param in params {
            match param.as_str() {
                Some(name) if parse_stream(name, &self.catalog).is_ok() => {
                    names.push(name.to_owned())
                }
                _ => {
                    return failure(
                        2,
                        format!("Invalid request: invalid stream name {param}"),
                        id,
                    );
                }
            }
        }
        if subscribe {
            if self.subs.len() + names.len() > MAX_STREAMS {
                return failure(2, "Invalid request: too many streams".into(), id);
            }
            names.into_iter().for_each(|name| self.add(name));
        } else {
            self.subs.retain(|(n, _)| !names.contains(n));
        }
        success(Value::Null, id)
    }
}

/// `Ok(Some(..))` for a served stream, `Ok(None)` for a well-formed name we carry no data for,
/// `Err` for a malformed name (`<symbol>@<type>` with a lower-case symbol).
fn parse_stream(name: &str, catalog: &Catalog) -> Result<Option<(SymbolId, StreamKind)>, ()> {
    let Some((symbol, kind)) = name.split_once('@') else {
        return Err(());
    };
    let symbol_ok = !symbol.is_empty()
        && symbol
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'!');
    let kind_ok = !kind.is_empty()
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@_-.".contains(&b));
    if name.len() > 200 || !symbol_ok || !kind_ok {
        return Err(());
    }
    let kind = match kind {
        "depth@100ms" => StreamKind::DepthFast,
        "depth" | "depth@1000ms" => StreamKind::DepthSlow,
        "trade" => StreamKind::Trade,
        _ => return Ok(None),
    };
    Ok(catalog
        .symbol_id(&symbol.to_ascii_uppercase())
        .map(|id| (id, kind)))
}

fn valid_id(id: &Value) -> bool {
    match id {
        Value::Null => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::String(s) => {
            s.len() <= 36
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        _ => false,
    }
}

fn success(result: Value, id: Value) -> String {
    json!({ "result": result, "id": id }).to_string()
}

fn failure(code: i64, msg: String, id: Value) -> String {
    json!({ "error": { "code": code, "msg": msg }, "id": id }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    fn session() -> StreamSession {
        let catalog = Arc::new(Catalog::new(
            &SimConfig::default().symbols,
            std::iter::empty(),
        ));
        StreamSession {
            catalog,
            subs: Vec::new(),
            combined: false,
        }
    }

    #[test]
    fn stream_names_table() {
        let catalog = Catalog::new(&SimConfig::default().symbols, std::iter::empty());
        let btc = SymbolId(0);
        assert_eq!(
            parse_stream("btcusdt@depth@100ms", &catalog),
            Ok(Some((btc, StreamKind::DepthFast)))
        );
        assert_eq!(
            parse_stream("btcusdt@depth", &catalog),
            Ok(Some((btc, StreamKind::DepthSlow)))
        );
        assert_eq!(
            parse_stream("ethusdt@trade", &catalog),
            Ok(Some((SymbolId(1), StreamKind::Trade)))
        );
        assert_eq!(parse_stream("btcusdt@aggTrade", &catalog), Ok(None));
        assert_eq!(parse_stream("btcusdt@kline_1m", &catalog), Ok(None));
        assert_eq!(parse_stream("BTCUSDT@trade", &catalog), Err(()));
        assert_eq!(parse_stream("0", &catalog), Err(()));
    }

    #[test]
    fn control_messages_echo_id_type() {
        let mut s = session();
        let reply = s.control(r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":7}"#);
        assert_eq!(reply, r#"{"id":7,"result":null}"#);
        let reply = s.control(r#"{"method":"LIST_SUBSCRIPTIONS","id":"a-b"}"#);
        assert_eq!(reply, r#"{"id":"a-b","result":["btcusdt@trade"]}"#);
        let reply = s.control(r#"{"method":"GET_PROPERTY","params":["combined"],"id":1}"#);
        assert_eq!(reply, r#"{"id":1,"result":false}"#);
        assert!(s.control("{nope").contains(r#""code":3"#));
        assert!(
            s.control(r#"{"method":"FOO","id":1}"#)
                .contains(r#""code":2"#)
        );
        assert!(
            s.control(r#"{"method":"SUBSCRIBE","params":["x"],"id":{}}"#)
                .contains("request ID")
        );
        s.control(r#"{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":2}"#);
        assert!(s.subs.is_empty());
    }
}

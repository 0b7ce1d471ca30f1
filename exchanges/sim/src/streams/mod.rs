//! Market streams on the REST port: raw streams at `/ws` and `/ws/<name>[/<name>...]`,
//! combined streams at `/stream[?streams=a/b]` (payloads wrapped as `{"stream","data"}`), live
//! control messages (see `control`), and legacy listenKey user-data streams (a listenKey as a
//! stream name, until it expires: then `listenKeyExpired` and nothing more).
//!
//! Served: `<symbol>@depth[@100ms]`, `@depth5|10|20[@100ms]`, `@trade`, `@aggTrade`,
//! `@bookTicker`, `@kline_<interval>` (every venue interval), `@ticker`, `@miniTicker`,
//! `@avgPrice`. Other well-formed names are accepted and listed but carry no data. At most
//! 1024 streams and 5 incoming messages per second per connection; the loop itself is
//! [`crate::ws::drive`].

mod control;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{RawQuery, State};
use axum::http::Uri;
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::bus::{StreamKind, StreamMsg, UserMsg};
use crate::engine::{AccountId, SymbolId};
use crate::faults::Target;
use crate::server::AppState;
use crate::wire;
use crate::ws::{Pushed, Session, drive, recv_or_pending, upgrade};
use control::{Control, MAX_STREAMS, Name, failure, parse_control, parse_stream, success};

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
    let names = path.split('/').map(str::to_owned).collect();
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
    let names = streams.split('/').map(str::to_owned).collect();
    start(state, ws, names, true)
}

fn start(
    state: AppState,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    names: Vec<String>,
    combined: bool,
) -> Response {
    let mut session = StreamSession {
        market_rx: state.bus.market_tx.subscribe(),
        user_rx: None,
        subs: Vec::new(),
        combined,
        state: state.clone(),
    };
    let valid: Vec<String> = names
        .into_iter()
        .filter(|n| parse_stream(n, &state.catalog).is_some())
        .take(MAX_STREAMS)
        .collect();
    session.add(valid);
    let session_state = state.clone();
    upgrade(&state, ws, 0, move |socket| {
        drive(socket, session, session_state)
    })
}

/// What a subscription carries.
#[derive(Clone, Debug, PartialEq)]
enum Feed {
    Market(SymbolId, StreamKind),
    /// Legacy user data of `account` while the listenKey lives (until `expires`, ms).
    User {
        account: AccountId,
        expires: i64,
    },
    Silent,
}

struct StreamSession {
    market_rx: broadcast::Receiver<Arc<StreamMsg>>,
    user_rx: Option<broadcast::Receiver<Arc<UserMsg>>>,
    subs: Vec<(String, Feed)>,
    combined: bool,
    state: AppState,
}

impl Session for StreamSession {
    const TARGET: Target = Target::Streams;
    const LIMIT_INCOMING: bool = true;

    async fn on_text(&mut self, text: &str) -> Vec<Message> {
        vec![Message::text(self.control(text))]
    }

    async fn pushed(&mut self) -> Pushed {
        let next_expiry = self.next_expiry();
        let wait = next_expiry.map_or(Duration::from_secs(86_400), |at| {
            Duration::from_millis(u64::try_from(at - self.state.clock.now_ms()).unwrap_or(0))
        });
        tokio::select! {
            msg = self.market_rx.recv() => match msg {
                Ok(msg) => Pushed::Data { frames: self.market_frames(&msg), symbol: Some(msg.symbol) },
                Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => Pushed::Close,
            },
            msg = recv_or_pending(&mut self.user_rx) => match msg {
                Ok(msg) => Pushed::Data { frames: self.user_frames(&msg), symbol: None },
                Err(close) => close,
            },
            () = tokio::time::sleep(wait), if next_expiry.is_some() => {
                Pushed::Data { frames: self.expire_keys(), symbol: None }
            }
        }
    }

    fn shutdown_frames(&self, now_ms: i64) -> Vec<Message> {
        let event =
            serde_json::to_string(&wire::events::server_shutdown(now_ms)).unwrap_or_default();
        let frame = if self.combined {
            format!(r#"{{"stream":"!serverShutdown","data":{event}}}"#)
        } else {
            event
        };
        vec![Message::text(frame)]
    }
}

impl StreamSession {
    /// The frames one published market message produces on this connection.
    fn market_frames(&self, msg: &StreamMsg) -> Vec<Message> {
        self.subs
            .iter()
            .filter(|(_, feed)| *feed == Feed::Market(msg.symbol, msg.kind))
            .map(|(name, _)| self.frame(name, &msg.json))
            .collect()
    }

    fn user_frames(&self, msg: &UserMsg) -> Vec<Message> {
        self.subs
            .iter()
            .filter(
                |(_, feed)| matches!(feed, Feed::User { account, .. } if *account == msg.account),
            )
            .map(|(name, _)| self.frame(name, &msg.json))
            .collect()
    }

    fn frame(&self, name: &str, json: &str) -> Message {
        if self.combined {
            let name = serde_json::to_string(name).unwrap_or_default();
            Message::text(format!(r#"{{"stream":{name},"data":{json}}}"#))
        } else {
            Message::text(json.to_owned())
        }
    }

    fn next_expiry(&self) -> Option<i64> {
        self.subs
            .iter()
            .filter_map(|(_, feed)| match feed {
                Feed::User { expires, .. } => Some(*expires),
                _ => None,
            })
            .min()
    }

    /// Re-reads the listenKeys due now: extended ones live on, the others get
    /// `listenKeyExpired` and carry nothing more.
    fn expire_keys(&mut self) -> Vec<Message> {
        let now = self.state.clock.now_ms();
        let mut frames = Vec::new();
        for index in 0..self.subs.len() {
            let (name, feed) = &self.subs[index];
            let Feed::User { expires, .. } = feed else {
                continue;
            };
            if *expires > now {
                continue;
            }
            match self.state.listen_keys.resolve(name, now) {
                Some((account, expires)) => self.subs[index].1 = Feed::User { account, expires },
                None => {
                    let event = wire::events::listen_key_expired(name, now);
                    let json = serde_json::to_string(&event).unwrap_or_default();
                    frames.push(self.frame(name, &json));
                    self.subs[index].1 = Feed::Silent;
                }
            }
        }
        frames
    }

    /// Adds valid names not yet subscribed (listenKeys only while they live).
    fn add(&mut self, names: Vec<String>) {
        let now = self.state.clock.now_ms();
        for name in names {
            if self.subs.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let feed = match parse_stream(&name, &self.state.catalog) {
                Some(Name::Market(symbol, kind)) => Feed::Market(symbol, kind),
                Some(Name::Silent) => Feed::Silent,
                Some(Name::ListenKey) => match self.state.listen_keys.resolve(&name, now) {
                    Some((account, expires)) => Feed::User { account, expires },
                    None => continue,
                },
                None => continue,
            };
            if matches!(feed, Feed::User { .. }) && self.user_rx.is_none() {
                self.user_rx = Some(self.state.bus.user_tx.subscribe());
            }
            self.subs.push((name, feed));
        }
    }

    /// Answers one control message.
    fn control(&mut self, text: &str) -> String {
        let control = match parse_control(text, &self.state.catalog) {
            Ok(control) => control,
            Err(reply) => return reply,
        };
        match control {
            Control::Subscribe(names, id) => {
                if self.subs.len() + names.len() > MAX_STREAMS {
                    return failure(2, "Invalid request: too many streams".into(), id);
                }
                self.add(names);
                success(Value::Null, id)
            }
            Control::Unsubscribe(names, id) => {
                self.subs.retain(|(n, _)| !names.contains(n));
                if !self
                    .subs
                    .iter()
                    .any(|(_, f)| matches!(f, Feed::User { .. }))
                {
                    self.user_rx = None;
                }
                success(Value::Null, id)
            }
            Control::List(id) => success(
                json!(self.subs.iter().map(|(n, _)| n).collect::<Vec<_>>()),
                id,
            ),
            Control::SetCombined(on, id) => {
                self.combined = on;
                success(Value::Null, id)
            }
            Control::GetCombined(id) => success(json!(self.combined), id),
        }
    }
}

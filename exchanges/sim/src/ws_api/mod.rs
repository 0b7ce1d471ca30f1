//! The WebSocket API at `/ws-api/v3`: requests `{"id","method","params"}`, responses
//! `{"id","status","result"|"error","rateLimits"}`, and user data streams opened with
//! `userDataStream.subscribe.signature` (or `session.logon` with an Ed25519 key, then
//! `userDataStream.subscribe`), whose events arrive as `{"subscriptionId":N,"event":{...}}` on
//! the same connection.
//!
//! Requests share the REST request-weight limit of the IP (429 / 418 with
//! `error.data.retryAfter`); `rateLimits` reports the usage unless `returnRateLimits=false`
//! (on the connection URL or per request). Methods live in `methods`; the connection loop is
//! [`crate::ws::drive`].

mod methods;
mod session;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Extension;
use axum::extract::ws::{Message, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::bus::UserMsg;
use crate::engine::AccountId;
use crate::errors::ApiError;
use crate::faults::Target;
use crate::server::AppState;
use crate::stats::Counter;
use crate::wire;
use crate::ws::{Pushed, Session, drive, recv_or_pending};

/// `GET /ws-api/v3[?returnRateLimits=false]` (connecting weighs 2, as on the venue).
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ip = peer.map_or(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        |Extension(ConnectInfo(addr))| addr.ip(),
    );
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let return_rate_limits = !pairs
        .iter()
        .any(|(k, v)| k == "returnRateLimits" && v == "false");
    let session = WsApiSession {
        state: state.clone(),
        ip,
        return_rate_limits,
        subs: Vec::new(),
        next_sub: 0,
        user_rx: None,
        logon: None,
        logon_subs: Vec::new(),
        reservation: std::sync::Mutex::default(),
        connected_since: state.clock.now_ms(),
    };
    let session_state = state.clone();
    crate::ws::upgrade(&state, ws, 2, move |socket| {
        drive(socket, session, session_state)
    })
}

struct WsApiSession {
    state: AppState,
    ip: IpAddr,
    return_rate_limits: bool,
    /// Active user data subscriptions: id and account.
    subs: Vec<(u32, AccountId)>,
    next_sub: u32,
    user_rx: Option<broadcast::Receiver<Arc<UserMsg>>>,
    /// The key this connection is logged on with (`session.logon`).
    logon: Option<session::Logon>,
    /// Subscriptions opened by `userDataStream.subscribe` (they end with the logon).
    logon_subs: Vec<u32>,
    connected_since: i64,
    /// Weight reserved for the request being dispatched ([`WsApiSession::reserve`]).
    reservation: std::sync::Mutex<Reservation>,
}

/// What [`WsApiSession::reserve`] did for the request being dispatched.
#[derive(Clone, Copy, Debug, Default)]
enum Reservation {
    #[default]
    None,
    /// This much weight is charged already.
    Charged(u32),
    /// The request was refused for its weight: nothing is charged.
    Refused,
}

/// What a method produced: its result (or error), its weight, whether it counts as an order
/// (ORDERS usage in `rateLimits`), and event frames to send after the response.
struct Outcome {
    result: Result<Value, ApiError>,
    weight: u32,
    order: Option<AccountId>,
    events: Vec<Message>,
}

impl Outcome {
    fn new(weight: u32, result: Result<Value, ApiError>) -> Self {
        Self {
            result,
            weight,
            order: None,
            events: Vec::new(),
        }
    }
}

impl Session for WsApiSession {
    const TARGET: Target = Target::WsApi;
    const LIMIT_INCOMING: bool = false;

    async fn on_text(&mut self, text: &str) -> Vec<Message> {
        self.handle(text).await
    }

    async fn pushed(&mut self) -> Pushed {
        match recv_or_pending(&mut self.user_rx).await {
            Ok(msg) => Pushed::Data {
                frames: self.frames(&msg),
                symbol: None,
            },
            Err(close) => close,
        }
    }

    fn shutdown_frames(&self, now_ms: i64) -> Vec<Message> {
        let event =
            serde_json::to_string(&wire::events::server_shutdown(now_ms)).unwrap_or_default();
        vec![Message::text(format!(r#"{{"event":{event}}}"#))]
    }

    fn terminate_streams(&mut self) -> Vec<Message> {
        let removed: Vec<u32> = self.subs.drain(..).map(|(id, _)| id).collect();
        self.logon_subs.clear();
        let mut events = Vec::new();
        self.terminate(&removed, &mut events);
        events
    }
}

impl WsApiSession {
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
    async fn handle(&mut self, text: &str) -> Vec<Message> {
        self.state.stats.count(Counter::Requests, 1);
        let request = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(request)) => request,
            _ => {
                let error = ApiError::new(StatusCode::BAD_REQUEST, -1135, "Invalid JSON Request");
                return vec![self.respond(Value::Null, Outcome::new(1, Err(error)), true)];
            }
        };
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        if !matches!(id, Value::Null | Value::Number(_) | Value::String(_)) {
            let outcome = Outcome::new(1, Err(ApiError::mandatory("id")));
            return vec![self.respond(Value::Null, outcome, true)];
        }
        let Some(method) = request.get("method").and_then(Value::as_str) else {
            return vec![self.respond(
                id,
                Outcome::new(1, Err(ApiError::mandatory("method"))),
                true,
            )];
        };
        let params = match request.get("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(params)) => params.clone(),
            Some(_) => {
                return vec![self.respond(
                    id,
                    Outcome::new(1, Err(ApiError::mandatory("params"))),
                    true,
                )];
            }
        };
        // An ordinary param: it stays in `params`, so it is covered by the signature.
        let show_limits = match params.get("returnRateLimits") {
            Some(Value::Bool(show)) => *show,
            Some(Value::String(text)) if text == "true" || text == "false" => text == "true",
            _ => self.return_rate_limits,
        };
        let now = self.state.clock.now_ms();
        if let Some(error) = crate::faults::forced_error(&self.state) {
            self.state.stats.count_refusal(error.status.as_u16());
            return vec![self.respond(id, Outcome::new(0, Err(error)), show_limits)];
        }
        if let Err(refusal) = self.state.limits.admit(self.ip, now) {
            let error = refusal.error(self.state.limits.config(), now);
            self.state.stats.count_refusal(error.status.as_u16());
            return vec![self.respond(id, Outcome::new(0, Err(error)), show_limits)];
        }
        let method = method.strip_prefix("v3/").unwrap_or(method).to_owned();
        let outcome = self.dispatch(&method, &params).await;
        let swallowed = outcome
            .result
            .as_ref()
            .is_ok_and(|r| crate::faults::swallow_ws(&self.state.faults, &self.state, &method, r));
        let events = outcome.events.clone();
        let mut out = Vec::new();
        if !swallowed {
            out.push(self.respond(id, outcome, show_limits));
        }
        out.extend(events);
        out
    }

    /// Charges `weight` before a method runs, unless it would take the minute's weight past the
    /// limit: then the method is refused (429) and not run, and nothing is charged.
    fn reserve(&self, weight: u32) -> Result<(), ApiError> {
        let now = self.state.clock.now_ms();
        let (reservation, result) = match self.state.limits.reserve_weight(self.ip, weight, now) {
            Ok(()) => (Reservation::Charged(weight), Ok(())),
            Err(refusal) => {
                let error = refusal.error(self.state.limits.config(), now);
                self.state.stats.count_refusal(error.status.as_u16());
                (Reservation::Refused, Err(error))
            }
        };
        if let Ok(mut slot) = self.reservation.lock() {
            *slot = reservation;
        }
        result
    }

    /// Charges the weight (less what was reserved) and frames the response with its
    /// `rateLimits`.
    fn respond(&self, id: Value, outcome: Outcome, show_limits: bool) -> Message {
        let now = self.state.clock.now_ms();
        let reservation = self
            .reservation
            .lock()
            .map(|mut slot| std::mem::take(&mut *slot))
            .unwrap_or_default();
        let limits = &self.state.limits;
        let count = match reservation {
            Reservation::None => limits.add_weight(self.ip, outcome.weight, now),
            Reservation::Charged(r) if outcome.weight >= r => {
                limits.add_weight(self.ip, outcome.weight - r, now)
            }
            Reservation::Charged(r) => limits.refund_weight(self.ip, r - outcome.weight, now),
            Reservation::Refused => limits.add_weight(self.ip, 0, now),
        };
        let config = self.state.limits.config();
        let mut limits = wire::info::rate_limits(config);
        limits.truncate(3);
        limits[0].count = Some(count);
        match outcome.order {
            Some(account) => {
                let (short, day) = self.state.limits.order_counts(account, now);
                limits[1].count = Some(short);
                limits[2].count = Some(day);
            }
            None => limits.truncate(1),
        }
        let mut body = match outcome.result {
            Ok(result) => json!({ "id": id, "status": 200, "result": result }),
            Err(error) => {
                json!({ "id": id, "status": error.status.as_u16(), "error": error.json(now) })
            }
        };
        if show_limits && let Some(body) = body.as_object_mut() {
            body.insert("rateLimits".into(), json!(limits));
        }
        Message::text(body.to_string())
    }
}

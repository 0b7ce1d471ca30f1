//! The user-data stream over the WebSocket API (reference §9, §10): connect, subscribe with
//! `userDataStream.subscribe.signature`, then forward order updates and balances until shutdown.
//!
//! Every (re)subscription after a loss is announced with [`UserEvent::Connected`] (events may
//! have been missed: the consumer reconciles); every loss with [`UserEvent::Disconnected`],
//! followed by a reconnect after a capped, jittered backoff, forever. An order update that
//! arrives but cannot be read, and a subscription the venue ends (`eventStreamTerminated`,
//! subscribed again at once), are announced with [`UserEvent::Gap`] (the consumer reconciles;
//! the stream stays up).
//!
//! Planned replacements (before the maximum connection age, and at once on `serverShutdown`)
//! are make-before-break and invisible to the consumer: the new connection subscribes while
//! the old one keeps delivering; then the old one is unsubscribed and drained until the venue
//! confirms its end. Events delivered by both are forwarded once.

use std::collections::{HashSet, VecDeque};
use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use exchange_core::{ReconnectReason, UserEvent};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use super::{
    Backoff, Heartbeat, Session, WsError, connect_within_budget, deliver, sleep_or_shutdown,
    stream_backoff,
};
use crate::Shared;
use crate::auth;
use crate::limits;
use crate::model::{
    BinanceAccountPosition, BinanceExecutionReport, BinanceUserEventFrame, BinanceWsApiResponse,
};
use crate::parse;

const SUBSCRIBE_METHOD: &str = "userDataStream.subscribe.signature";
const UNSUBSCRIBE_METHOD: &str = "userDataStream.unsubscribe";
/// Events remembered to drop the copies a replacement subscription delivers during its overlap.
const RECENT_EVENTS: usize = 4096;

/// Runs the user stream until `shutdown` fires or the receiver is dropped.
pub(crate) async fn run(
    shared: Arc<Shared>,
    events_tx: mpsc::Sender<UserEvent>,
    shutdown: CancellationToken,
) {
    shared.counters.user.events.watch(&events_tx);
    let mut backoff = stream_backoff(&shared.config);
    let mut link = Link {
        shared,
        request_id: 0,
        recent: Recent::default(),
    };
    loop {
        let err = match link.session(&events_tx, &shutdown, &mut backoff).await {
            Err(WsError::Shutdown | WsError::ReceiverGone) => {
                link.shared.counters.user.set_connected(false);
                return;
            }
            Err(err) => err,
            Ok(never) => match never {},
        };
        let counters = &link.shared.counters;
        counters.reconnect(&counters.user, err.reason(), &err);
        let delay = backoff.next_delay();
        let lost = UserEvent::Disconnected {
            reason: err.to_string(),
        };
        if deliver(&events_tx, lost, &shutdown).await.is_err()
            || !sleep_or_shutdown(delay, &shutdown).await
        {
            return;
        }
    }
}

/// What one frame means to the stream.
enum Frame {
    Event(Box<UserEvent>),
    Nothing,
    /// The venue is about to close the connection (`serverShutdown`).
    ServerShutdown,
    /// The subscription ended (`eventStreamTerminated`).
    Terminated,
}

/// Which connection a select step came from.
enum Step {
    Current(Result<Option<Utf8Bytes>, WsError>),
    Old(Result<Option<Utf8Bytes>, WsError>),
    Replaced(Result<Box<Session>, WsError>),
}

type Opening = Pin<Box<dyn Future<Output = Result<Session, WsError>> + Send>>;

/// The user stream across connections: request ids and the events recently delivered.
struct Link {
    shared: Arc<Shared>,
    request_id: u64,
    recent: Recent,
}

impl Link {
    fn next_id(&mut self) -> u64 {
        self.request_id += 1;
        self.request_id
    }

    /// Connects, subscribes and forwards, replacing the connection make-before-break before
    /// its maximum age and on `serverShutdown`. Only returns with the reason it ended.
    async fn session(
        &mut self,
        events_tx: &mpsc::Sender<UserEvent>,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<std::convert::Infallible, WsError> {
        let id = self.next_id();
        let current = open(self.shared.clone(), shutdown.clone(), id).await?;
        // The consumer reconciles after `Connected`: updates owed before are not judged.
        self.shared.owed.forgive();
        backoff.healthy();
        self.shared.counters.user.set_connected(true);
        tracing::info!("binance user stream subscribed");
        deliver(events_tx, UserEvent::Connected, shutdown).await?;
        self.forward(current, events_tx, shutdown).await
    }

    /// Forwards events of `current`. A replacement subscription is opened while `current`
    /// keeps delivering; once it is live, `current` is unsubscribed and drained until the
    /// venue confirms its end (or a request deadline passes). Events delivered by both are
    /// forwarded once.
    async fn forward(
        &mut self,
        mut current: Session,
        events_tx: &mpsc::Sender<UserEvent>,
        shutdown: &CancellationToken,
    ) -> Result<std::convert::Infallible, WsError> {
        let mut old: Option<(Session, Instant)> = None;
        let mut replacement: Option<Opening> = None;
        let timeout = self.shared.config.user_event_timeout;
        let mut watchdog = tokio::time::interval((timeout / 4).max(Duration::from_millis(50)));
        let result = loop {
            let step = tokio::select! {
                _ = watchdog.tick() => match self.shared.owed.overdue(timeout) {
                    Some((id, owed_for)) => break Err(WsError::Stale(format!(
                        "no update for order {id} {owed_for:?} after the venue accepted it"
                    ))),
                    None => continue,
                },
                text = current.next_text(shutdown) => Step::Current(text),
                text = next_old(&mut old, shutdown) => Step::Old(text),
                new = async {
                    match replacement.as_mut() {
                        Some(opening) => opening.await,
                        None => pending().await,
                    }
                } => Step::Replaced(new.map(Box::new)),
            };
            let (text, from_current) = match step {
                Step::Current(Err(WsError::MaxAge)) => {
                    current.keep_past_max_age();
                    replacement = Some(self.replace(shutdown, "maximum connection age"));
                    continue;
                }
                Step::Current(Err(err)) => break Err(err),
                Step::Old(Err(err)) => {
                    tracing::debug!(error = %err, "binance replaced user connection ended");
                    if let Some((session, _)) = old.take() {
                        session.close().await;
                    }
                    continue;
                }
                Step::Current(Ok(None)) | Step::Old(Ok(None)) => break Err(WsError::Shutdown),
                Step::Current(Ok(Some(text))) => (text, true),
                Step::Old(Ok(Some(text))) => (text, false),
                Step::Replaced(Err(err)) => break Err(err),
                Step::Replaced(Ok(new)) => {
                    replacement = None;
                    let counters = &self.shared.counters;
                    let detail = "replacement subscription live";
                    counters.reconnect(&counters.user, ReconnectReason::Rotation, &detail);
                    counters.user.set_connected(true);
                    let mut previous = std::mem::replace(&mut current, *new);
                    let request = json!({ "id": self.next_id(), "method": UNSUBSCRIBE_METHOD });
                    let deadline = Instant::now() + self.shared.config.request_timeout;
                    if previous.send_text(request.to_string()).await.is_ok() {
                        if let Some((earlier, _)) = old.replace((previous, deadline)) {
                            earlier.close().await;
                        }
                    } else {
                        previous.close().await;
                    }
                    continue;
                }
            };
            self.shared.counters.user.message();
            match handle_frame(&self.shared, &text, &mut self.recent)? {
                Frame::Event(event) => deliver(events_tx, *event, shutdown).await?,
                Frame::Nothing => {}
                Frame::ServerShutdown if from_current && replacement.is_none() => {
                    current.keep_past_max_age();
                    replacement = Some(self.replace(shutdown, "venue sent serverShutdown"));
                }
                Frame::ServerShutdown => {}
                Frame::Terminated if from_current => {
                    // The venue ended our subscription: events may have been lost since.
                    let reason = "venue terminated the user-data subscription".to_owned();
                    tracing::warn!("{reason}, subscribing again");
                    deliver(events_tx, gap(&self.shared, reason), shutdown).await?;
                    let id = self.next_id();
                    if let Err(err) = subscribe(&self.shared, &mut current, shutdown, id).await {
                        break Err(err);
                    }
                }
                Frame::Terminated => {
                    // The replaced connection's subscription ended as asked.
                    if let Some((session, _)) = old.take() {
                        session.close().await;
                    }
                }
            }
        };
        current.close().await;
        if let Some((session, _)) = old {
            session.close().await;
        }
        result
    }

    /// Starts opening the connection that replaces the current one.
    fn replace(&mut self, shutdown: &CancellationToken, why: &str) -> Opening {
        tracing::info!(
            why,
            "binance user stream opening its replacement connection"
        );
        Box::pin(open(self.shared.clone(), shutdown.clone(), self.next_id()))
    }
}

/// The next frame of the connection being replaced, until its drain deadline.
async fn next_old(
    old: &mut Option<(Session, Instant)>,
    shutdown: &CancellationToken,
) -> Result<Option<Utf8Bytes>, WsError> {
    let Some((session, deadline)) = old.as_mut() else {
        return pending().await;
    };
    match tokio::time::timeout_at(*deadline, session.next_text(shutdown)).await {
        Ok(text) => text,
        Err(_) => Err(WsError::Stale("no end of the replaced subscription".into())),
    }
}

/// Connects (within the connection budget) and subscribes.
async fn open(
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    id: u64,
) -> Result<Session, WsError> {
    // The user stream may be quiet for hours: only unanswered pings make it stale.
    let heartbeat = Heartbeat::from_config(&shared.config, None);
    let connect = &limits::WS_API_CONNECT;
    let mut session = connect_within_budget(
        &shared,
        &shared.config.ws_api_url,
        heartbeat,
        (connect.lane, &connect.costs()),
        &shutdown,
    )
    .await?;
    match subscribe(&shared, &mut session, &shutdown, id).await {
        Ok(()) => Ok(session),
        Err(err) => {
            session.close().await;
            Err(err)
        }
    }
}

/// Keys of the events recently delivered, oldest first, bounded.
#[derive(Default)]
struct Recent {
    order: VecDeque<String>,
    keys: HashSet<String>,
}

impl Recent {
    /// True the first time `key` is seen (among the last [`RECENT_EVENTS`]).
    fn first_time(&mut self, key: String) -> bool {
        if self.keys.contains(&key) {
            return false;
        }
        if self.order.len() >= RECENT_EVENTS
            && let Some(oldest) = self.order.pop_front()
        {
            self.keys.remove(&oldest);
        }
        self.order.push_back(key.clone());
        self.keys.insert(key);
        true
    }
}

/// Sends the signed subscription and waits (within the request timeout) for its answer.
async fn subscribe(
    shared: &Shared,
    session: &mut Session,
    shutdown: &CancellationToken,
    id: u64,
) -> Result<(), WsError> {
    let timestamp = shared
        .rest
        .venue_now_ms()
        .await
        .map_err(|e| WsError::Venue(format!("cannot read the venue clock: {e}")))?;
    let endpoint = &limits::WS_API_SUBSCRIBE;
    shared
        .rest
        .limiter
        .acquire(endpoint.lane, &endpoint.costs())
        .await
        .map_err(|e| WsError::Venue(format!("user-data subscription held back: {e}")))?;
    let signed_after = tokio::time::Instant::now();
    let config = &shared.config;
    let params = [
        ("apiKey", config.api_key.clone()),
        ("recvWindow", config.recv_window_ms.to_string()),
        ("timestamp", timestamp.to_string()),
    ];
    let signature = auth::sign(&config.api_secret, &auth::ws_api_payload(&params));
    let request = json!({
        "id": id,
        "method": SUBSCRIBE_METHOD,
        "params": {
            "apiKey": config.api_key,
            "recvWindow": config.recv_window_ms,
            "timestamp": timestamp,
            "signature": signature,
        },
    });
    session.send_text(request.to_string()).await?;
    let answer = tokio::time::timeout(config.request_timeout, async {
        loop {
            let text = session
                .next_text(shutdown)
                .await?
                .ok_or(WsError::Shutdown)?;
            match serde_json::from_str::<BinanceWsApiResponse>(&text) {
                Ok(response) if response.id == json!(id) => return Ok(response),
                Ok(_) => {}
                Err(e) => shared.counters.malformed("user_stream", &e),
            }
        }
    })
    .await
    .map_err(|_| WsError::Venue("no answer to the user-data subscription".into()))??;
    observe_answer(shared, &answer);
    if answer.status == 200 {
        return Ok(());
    }
    let (code, msg) = answer
        .error
        .map(|e| (Some(e.code), e.msg))
        .unwrap_or((None, String::new()));
    if code == Some(-1021) {
        // Our clock drifted from the venue's: measure again before the next attempt.
        shared.rest.timestamp_refused(signed_after).await;
    }
    Err(WsError::Venue(format!(
        "user-data subscription refused: status {} code {code:?}: {msg}",
        answer.status
    )))
}

/// Maps one frame to an event. Unknown event types are ignored; unreadable frames are counted,
/// and those that are (or may be) an order update also become [`UserEvent::Gap`]: an update
/// may have been lost although the stream is up, so the consumer must reconcile.
fn handle_frame(shared: &Shared, text: &str, recent: &mut Recent) -> Result<Frame, WsError> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            shared.counters.malformed("user_stream", &e);
            return Ok(Frame::Nothing);
        }
    };
    if value.get("event").is_none() {
        // An answer to a request: only an unsolicited error (key revoked) matters.
        let answer = serde_json::from_value::<BinanceWsApiResponse>(value);
        if let Ok(answer) = &answer {
            observe_answer(shared, answer);
        }
        return match answer {
            Ok(r) if r.status == 200 => Ok(Frame::Nothing),
            Ok(r) => Err(WsError::Venue(format!(
                "venue error on the user stream: status {} {:?}",
                r.status,
                r.error.map(|e| (e.code, e.msg))
            ))),
            Err(e) => {
                shared.counters.malformed("user_stream", &e);
                Ok(Frame::Nothing)
            }
        };
    }
    let event = match serde_json::from_value::<BinanceUserEventFrame>(value) {
        Ok(frame) => frame.event,
        Err(e) => {
            let reason = format!("unreadable event frame: {e}");
            return Ok(Frame::Event(Box::new(gap(shared, reason))));
        }
    };
    let kind = event
        .get("e")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty());
    let Some(kind) = kind.map(str::to_owned) else {
        return Ok(Frame::Event(Box::new(gap(
            shared,
            "event without a type".to_owned(),
        ))));
    };
    let repeated = |event: &Value, recent: &mut Recent| !recent.first_time(event.to_string());
    match kind.as_str() {
        "executionReport" | "outboundAccountPosition" if repeated(&event, recent) => {
            Ok(Frame::Nothing)
        }
        "executionReport" => {
            let report = serde_json::from_value::<BinanceExecutionReport>(event)
                .map_err(|e| e.to_string())
                .and_then(|raw| parse::execution_report(raw).map_err(|e| e.to_string()));
            Ok(Frame::Event(Box::new(match report {
                Ok(report) => {
                    shared.owed.arrived(&report.client_order_id);
                    UserEvent::Execution(report)
                }
                Err(e) => gap(shared, format!("unreadable execution report: {e}")),
            })))
        }
        "outboundAccountPosition" => {
            match serde_json::from_value::<BinanceAccountPosition>(event) {
                Ok(raw) => {
                    let balances = parse::position_balances(raw);
                    Ok(Frame::Event(Box::new(UserEvent::Balances(balances))))
                }
                Err(e) => {
                    // Balances are refreshed by the next position event or account query.
                    shared.counters.malformed("user_stream", &e);
                    Ok(Frame::Nothing)
                }
            }
        }
        "eventStreamTerminated" => Ok(Frame::Terminated),
        "serverShutdown" => Ok(Frame::ServerShutdown),
        other => {
            tracing::debug!(event = other, "ignoring binance user event");
            Ok(Frame::Nothing)
        }
    }
}

/// Feeds a WebSocket API answer back into the limiter exactly like a REST answer: its
/// `rateLimits` usage corrects the scopes, a 429 pauses and a 418 halts the venue until
/// `error.data.retryAfter`.
fn observe_answer(shared: &Shared, answer: &BinanceWsApiResponse) {
    let rest = &shared.rest;
    rest.observe_usage(limits::ws_api_usage(&answer.rate_limits));
    let retry_at = answer
        .error
        .as_ref()
        .and_then(|e| e.data.as_ref())
        .and_then(|d| d.retry_after);
    rest.observe_status(answer.status, rest.wait_until_venue_ms(retry_at));
}

/// An unreadable frame that may have been an order update: counted as malformed, and reported.
fn gap(shared: &Shared, reason: String) -> UserEvent {
    shared.counters.malformed("user_stream", &reason);
    UserEvent::Gap { reason }
}

//! WebSocket plumbing shared by market streams and the WebSocket API: upgrade handling (with
//! JSON errors for non-WebSocket requests), session tracking for graceful shutdown, and the one
//! connection loop both run ([`drive`]): requests in, pushed data out, server pings and the pong
//! deadline, the incoming-message rate limit, the maximum connection age, `serverShutdown` on
//! graceful shutdown and on `/_sim/maintenance`, and the fault hooks.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at};
use tracing::{debug, warn};

use crate::engine::SymbolId;
use crate::errors::ApiError;
use crate::faults::{Change, SessionFaults, Target};
use crate::maintenance::Action;
use crate::rest::Weight;
use crate::server::AppState;
use crate::stats::Counter;

/// What a session pushed on its own (not in answer to a request).
pub(crate) enum Pushed {
    /// Data frames; `symbol` is the market they belong to (`None` for user events), for the
    /// `silence_streams` fault.
    Data {
        frames: Vec<Message>,
        symbol: Option<SymbolId>,
    },
    /// The session cannot keep up (its broadcast receiver lagged) or its source is gone.
    Close,
}

/// One kind of WebSocket connection (market streams or the WebSocket API), driven by [`drive`].
pub(crate) trait Session: Send {
    /// The fault surface of this kind of connection.
    const TARGET: Target;
    /// Whether incoming frames are limited to `max_incoming_per_sec` (market streams).
    const LIMIT_INCOMING: bool;

    /// Answers one text frame.
    fn on_text(&mut self, text: &str) -> impl Future<Output = Vec<Message>> + Send;

    /// Waits for data to push (cancel-safe, for `select!`).
    fn pushed(&mut self) -> impl Future<Output = Pushed> + Send;

    /// What to send before closing on graceful shutdown (the `serverShutdown` event).
    fn shutdown_frames(&self, now_ms: i64) -> Vec<Message>;

    /// Ends the connection's user data subscriptions (`eventStreamTerminated`), keeping it open.
    fn terminate_streams(&mut self) -> Vec<Message> {
        Vec::new()
    }
}

/// Runs one connection until either side closes it, the server shuts down, a pong is overdue,
/// the connection reaches its maximum age or (market streams) sends too fast.
pub(crate) async fn drive<S: Session>(mut socket: WebSocket, mut session: S, state: AppState) {
    let mut keepalive = Keepalive::new(state.ws.ping_interval, state.ws.pong_timeout);
    let mut faults = SessionFaults::new(&state.faults, S::TARGET);
    let mut rate = RateWindow::new(S::LIMIT_INCOMING.then_some(state.ws.max_incoming_per_sec));
    let expired = tokio::time::sleep(state.ws.max_age);
    tokio::pin!(expired);
    let mut maintenance = state.maintenance.subscribe();
    // Armed by a maintenance notice with a grace period: the close it announced.
    let announced_close = tokio::time::sleep(std::time::Duration::ZERO);
    tokio::pin!(announced_close);
    let mut close_announced = false;
    loop {
        let reading = faults.reading();
        let outgoing: Vec<Message> = tokio::select! {
            () = state.shutdown.cancelled() => {
                let mut frames = session.shutdown_frames(state.clock.now_ms());
                frames.push(Message::Close(None));
                frames
            }
            action = maintenance.recv() => match action {
                Ok(Action::Shutdown(target, grace)) if target.covers(S::TARGET) => {
                    let mut frames = session.shutdown_frames(state.clock.now_ms());
                    if grace.is_zero() {
                        frames.push(Message::Close(None));
                    } else if !close_announced {
                        announced_close.as_mut().reset(tokio::time::Instant::now() + grace);
                        close_announced = true;
                    }
                    frames
                }
                Ok(Action::TerminateUserStreams) => session.terminate_streams(),
                _ => continue,
            },
            () = &mut announced_close, if close_announced => {
                debug!("maintenance grace period over; closing");
                vec![Message::Close(None)]
            }
            () = &mut expired => {
                debug!("connection reached its maximum age; closing");
                state.stats.count(Counter::WsLimitCloses, 1);
                vec![Message::Close(None)]
            }
            change = faults.changed() => match change {
                Change::Drop => return,
                Change::Recheck => continue,
            },
            incoming = socket.recv(), if reading => match incoming {
                Some(Ok(_)) if !rate.allow() => {
                    debug!("too many incoming messages; closing");
                    state.stats.count(Counter::WsLimitCloses, 1);
                    vec![Message::Close(None)]
                }
                Some(Ok(Message::Text(text))) => session.on_text(text.as_str()).await,
                Some(Ok(Message::Pong(payload))) => { keepalive.pong(&payload); continue; }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            },
            pushed = session.pushed() => match pushed {
                Pushed::Data { symbol, .. } if faults.silenced(symbol) => continue,
                Pushed::Data { frames, .. } => frames,
                Pushed::Close => vec![Message::Close(None)],
            },
            action = keepalive.tick() => match action {
                KeepaliveAction::SendPing(_) if !faults.pings() => { keepalive.reset(); continue }
                KeepaliveAction::SendPing(payload) => vec![Message::Ping(payload)],
                KeepaliveAction::Close => { debug!("pong overdue; closing"); vec![Message::Close(None)] }
            },
        };
        faults.delay(&outgoing).await;
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

/// Receives from an optional broadcast channel (pending forever without one), mapping lag and
/// closure to [`Pushed::Close`].
pub(crate) async fn recv_or_pending<T: Send + Sync>(
    rx: &mut Option<broadcast::Receiver<Arc<T>>>,
) -> Result<Arc<T>, Pushed> {
    let Some(rx) = rx else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(msg) => Ok(msg),
        Err(RecvError::Lagged(missed)) => {
            warn!(missed, "subscriber lagged; disconnecting");
            Err(Pushed::Close)
        }
        Err(RecvError::Closed) => Err(Pushed::Close),
    }
}

/// Incoming frames counted per one-second window; `None` means unlimited.
struct RateWindow {
    limit: Option<u32>,
    window: Instant,
    count: u32,
}

impl RateWindow {
    fn new(limit: Option<u32>) -> Self {
        Self {
            limit,
            window: Instant::now(),
            count: 0,
        }
    }

    /// Counts one frame; false once the second's limit is exceeded.
    fn allow(&mut self) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        if self.window.elapsed() >= Duration::from_secs(1) {
            self.window = Instant::now();
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count <= limit
    }
}

/// Upgrades to a WebSocket running `session`, tracked so shutdown waits for it; a plain
/// HTTP request gets a JSON error instead.
pub(crate) fn upgrade<F, Fut>(
    state: &AppState,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    weight: u32,
    session: F,
) -> Response
where
    F: FnOnce(WebSocket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            let error = ApiError::new(
                rejection.status(),
                -1020,
                "This operation is not supported.",
            );
            return error.into_response();
        }
    };
    state.stats.count(Counter::WsConnections, 1);
    let tracker = state.tracker.clone();
    let mut response = ws.on_upgrade(move |socket| tracker.track_future(session(socket)));
    response.extensions_mut().insert(Weight(weight));
    response
}

/// Maximum unanswered ping payloads remembered while awaiting a pong.
const OUTSTANDING_PINGS: usize = 8;

/// Server pings and the pong deadline of one connection. Each ping carries a fresh payload;
/// only a pong echoing one of the outstanding payloads keeps the connection alive
/// (unsolicited or mismatched pongs are allowed but do not count, as on the venue).
pub(crate) struct Keepalive {
    ping: Interval,
    timeout: Duration,
    awaiting_since: Option<Instant>,
    sent: u64,
    outstanding: Vec<axum::body::Bytes>,
}

/// What to do after a keepalive tick.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeepaliveAction {
    /// Send a ping frame with this payload.
    SendPing(axum::body::Bytes),
    Close,
}

impl Keepalive {
    pub fn new(every: Duration, timeout: Duration) -> Self {
        let mut ping = interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            ping,
            timeout,
            awaiting_since: None,
            sent: 0,
            outstanding: Vec::new(),
        }
    }

    /// Waits for the next ping time; `Close` when a pong has been overdue for `timeout`.
    pub async fn tick(&mut self) -> KeepaliveAction {
        self.ping.tick().await;
        match self.awaiting_since {
            Some(since) if since.elapsed() >= self.timeout => return KeepaliveAction::Close,
            Some(_) => {}
            None => self.awaiting_since = Some(Instant::now()),
        }
        self.sent = self.sent.wrapping_add(1);
        let payload = axum::body::Bytes::from(self.sent.to_string());
        if self.outstanding.len() >= OUTSTANDING_PINGS {
            self.outstanding.remove(0);
        }
        self.outstanding.push(payload.clone());
        KeepaliveAction::SendPing(payload)
    }

    /// A pong arrived: the connection is alive if it echoes an outstanding ping's payload.
    pub fn pong(&mut self, payload: &[u8]) {
        if self.outstanding.iter().any(|p| p.as_ref() == payload) {
            self.reset();
        }
    }

    /// Stops awaiting a pong (no ping is outstanding).
    pub fn reset(&mut self) {
        self.awaiting_since = None;
        self.outstanding.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rate_window_allows_the_limit_per_second() {
        let mut rate = RateWindow::new(Some(5));
        assert!((0..5).all(|_| rate.allow()));
        assert!(!rate.allow());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(rate.allow());
        let mut unlimited = RateWindow::new(None);
        assert!((0..100).all(|_| unlimited.allow()));
    }

    #[tokio::test(start_paused = true)]
    async fn keepalive_closes_only_without_pongs() {
        let mut keepalive = Keepalive::new(Duration::from_secs(20), Duration::from_secs(60));
        let KeepaliveAction::SendPing(first) = keepalive.tick().await else {
            panic!("expected a ping");
        };
        assert!(!first.is_empty());
        keepalive.pong(b"");
        keepalive.pong(b"other");
        keepalive.pong(&first);
        for _ in 0..3 {
            assert!(matches!(
                keepalive.tick().await,
                KeepaliveAction::SendPing(_)
            ));
            keepalive.pong(b"");
        }
        assert_eq!(keepalive.tick().await, KeepaliveAction::Close);
    }
}

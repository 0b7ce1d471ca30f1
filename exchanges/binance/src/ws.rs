//! WebSocket plumbing shared by the user-data and market streams: connecting with a deadline
//! and within the venue's connection budget (shared by every connection the adapter opens,
//! and held back while the venue pauses or bans us), heartbeats (answer pings, send our own, declare the stream stale when silent), capped
//! jittered backoff between reconnects, and the proactive reconnect before the venue's 24 h
//! connection limit.
//!
//! - [`user`]: the WebSocket API user-data subscription (reference §9, §10);
//! - [`market`]: combined depth and trade streams (reference §7);
//! - [`depth_sync`]: the pure book sync state machine (reference §8).

pub(crate) mod depth_sync;
pub(crate) mod expect;
pub(crate) mod market;
pub(crate) mod user;

use std::future::pending;
use std::time::Duration;

use exchange_core::{ExchangeError, Lane, ReconnectReason};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::config::BinanceConfig;

/// Deadline for writing one frame.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// First reconnect delay and its cap.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_millis(100);
pub(crate) const BACKOFF_CAP: Duration = Duration::from_secs(30);

pub(crate) use exchange_core::retry::Backoff;

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a stream session ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WsError {
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("connect failed: {0}")]
    Connect(#[source] tokio_tungstenite::tungstenite::Error),
    #[error("connection error: {0}")]
    Io(#[source] tokio_tungstenite::tungstenite::Error),
    #[error("write timed out")]
    WriteTimeout,
    #[error("closed by venue{}", .0.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed(Option<String>),
    #[error("ping unanswered for {0:?}")]
    PingTimeout(Duration),
    #[error("stale stream: {0}")]
    Stale(String),
    #[error("connection reached its maximum age")]
    MaxAge,
    #[error("venue announced it closes the connection (serverShutdown)")]
    ServerShutdown,
    #[error("{0}")]
    Venue(String),
    #[error("event receiver dropped")]
    ReceiverGone,
    #[error("shutting down")]
    Shutdown,
}

impl WsError {
    /// The bounded reason label of this ending.
    pub(crate) fn reason(&self) -> ReconnectReason {
        match self {
            WsError::Closed(_) => ReconnectReason::ServerClose,
            WsError::PingTimeout(_) => ReconnectReason::PingTimeout,
            WsError::Stale(_) => ReconnectReason::Stale,
            WsError::MaxAge | WsError::ServerShutdown => ReconnectReason::Rotation,
            WsError::ReceiverGone | WsError::Shutdown => ReconnectReason::Shutdown,
            WsError::ConnectTimeout
            | WsError::Connect(_)
            | WsError::Io(_)
            | WsError::WriteTimeout
            | WsError::Venue(_) => ReconnectReason::Error,
        }
    }
}

/// Heartbeat and lifetime rules of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heartbeat {
    /// We ping this often (the venue pings every 20 s).
    pub ping_interval: Duration,
    /// A ping must be answered (pong, or any frame) within this.
    pub pong_timeout: Duration,
    /// No data frame for this long means the stream is stale; `None` for streams that may be
    /// legitimately quiet (the user stream).
    pub data_timeout: Option<Duration>,
    /// Leave before the venue's 24 h connection limit, on our own terms.
    pub max_age: Duration,
}

impl Heartbeat {
    pub(crate) fn from_config(config: &BinanceConfig, data_timeout: Option<Duration>) -> Self {
        Heartbeat {
            ping_interval: config.ping_interval,
            pong_timeout: config.pong_timeout,
            data_timeout,
            max_age: config.max_connection_age,
        }
    }
}

/// One open WebSocket connection with its heartbeat state.
pub(crate) struct Session {
    ws: WsStream,
    heartbeat: Heartbeat,
    last_data: Instant,
    ping_sent: Option<Instant>,
    /// When the connection ends with [`WsError::MaxAge`]; `None` once it is being replaced.
    retire_at: Option<Instant>,
    ping: Interval,
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => pending().await,
    }
}

impl Session {
    /// Connects within `timeout`.
    pub(crate) async fn connect(
        url: &str,
        timeout: Duration,
        heartbeat: Heartbeat,
    ) -> Result<Self, WsError> {
        let (ws, _response) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| WsError::ConnectTimeout)?
            .map_err(WsError::Connect)?;
        let now = Instant::now();
        let period = heartbeat.ping_interval.max(Duration::from_millis(10));
        let mut ping = tokio::time::interval_at(now + period, period);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ok(Session {
            ws,
            heartbeat,
            last_data: now,
            ping_sent: None,
            retire_at: now.checked_add(heartbeat.max_age),
            ping,
        })
    }

    /// Sends one text frame within the write deadline.
    pub(crate) async fn send_text(&mut self, text: String) -> Result<(), WsError> {
        self.write(Message::text(text)).await
    }

    async fn write(&mut self, msg: Message) -> Result<(), WsError> {
        tokio::time::timeout(WRITE_TIMEOUT, self.ws.send(msg))
            .await
            .map_err(|_| WsError::WriteTimeout)?
            .map_err(WsError::Io)
    }

    /// The next data frame. Handles control frames and heartbeats on the way; `Ok(None)` when
    /// `shutdown` fires. Cancel-safe: dropping the future loses no data frame.
    ///
    /// Ends the session when a ping goes unanswered (`PingTimeout`), when no data frame came
    /// within the data deadline although the connection answers pings (`Stale`), and at the
    /// maximum connection age (`MaxAge`).
    pub(crate) async fn next_text(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Result<Option<Utf8Bytes>, WsError> {
        loop {
            let hb = self.heartbeat;
            let pong_due = self.ping_sent.map(|t| t + hb.pong_timeout);
            let silent_at = hb.data_timeout.map(|d| self.last_data + d);
            let retire_at = self.retire_at;
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(None),
                _ = sleep_until_opt(pong_due) => return Err(WsError::PingTimeout(hb.pong_timeout)),
                _ = sleep_until_opt(silent_at) => {
                    let silence = hb.data_timeout.unwrap_or_default();
                    return Err(WsError::Stale(format!("no data for {silence:?}")));
                }
                _ = sleep_until_opt(retire_at) => return Err(WsError::MaxAge),
                _ = self.ping.tick() => {
                    self.ping_sent.get_or_insert_with(Instant::now);
                    self.write(Message::Ping(Vec::new().into())).await?;
                }
                frame = self.ws.next() => {
                    // Any frame shows the connection is alive.
                    self.ping_sent = None;
                    match frame {
                        None => return Err(WsError::Closed(None)),
                        Some(Err(e)) => return Err(WsError::Io(e)),
                        Some(Ok(Message::Text(text))) => {
                            self.last_data = Instant::now();
                            return Ok(Some(text));
                        }
                        Some(Ok(Message::Binary(bytes))) => {
                            // The venue sends JSON as text; accept UTF-8 binary frames too.
                            if let Ok(text) = Utf8Bytes::try_from(bytes) {
                                self.last_data = Instant::now();
                                return Ok(Some(text));
                            }
                        }
                        Some(Ok(Message::Ping(_))) => {
                            // tungstenite queued the pong; push it out now rather than on the
                            // next write, which may be minutes away.
                            tokio::time::timeout(WRITE_TIMEOUT, self.ws.flush())
                                .await
                                .map_err(|_| WsError::WriteTimeout)?
                                .map_err(WsError::Io)?;
                        }
                        Some(Ok(Message::Pong(_) | Message::Frame(_))) => {}
                        Some(Ok(Message::Close(frame))) => {
                            return Err(WsError::Closed(frame.map(|f| f.reason.to_string())));
                        }
                    }
                }
            }
        }
    }

    /// The connection is being replaced: it no longer ends at its maximum age (the
    /// replacement's own age counts from now on).
    pub(crate) fn keep_past_max_age(&mut self) {
        self.retire_at = None;
    }

    /// Closes politely, without waiting long.
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

/// Opens a connection to `url` once the venue's connection budget and limiter allow one
/// (charging `costs` in `lane`), waiting meanwhile unless `shutdown` fires.
pub(crate) async fn connect_within_budget(
    shared: &Shared,
    url: &str,
    heartbeat: Heartbeat,
    (lane, costs): (Lane, &[(&'static str, u32)]),
    shutdown: &CancellationToken,
) -> Result<Session, WsError> {
    loop {
        let err = match shared.rest.limiter.connect(lane, costs).await {
            Ok(()) => break,
            Err(err) => err,
        };
        let wait = match &err {
            ExchangeError::Unavailable {
                retry_after: Some(wait),
                ..
            } => (*wait).max(BACKOFF_BASE),
            _ => Duration::from_secs(1),
        };
        tracing::info!(error = %err, ?wait, "binance connection deferred");
        if !sleep_or_shutdown(wait, shutdown).await {
            return Err(WsError::Shutdown);
        }
    }
    Session::connect(url, shared.config.request_timeout, heartbeat).await
}

/// The reconnect backoff of one stream.
pub(crate) fn stream_backoff(config: &BinanceConfig) -> Backoff {
    Backoff::new(BACKOFF_BASE, BACKOFF_CAP).with_min_healthy(config.reconnect_min_healthy)
}

/// Delivers one event to the consumer, waiting for room unless `shutdown` fires first.
pub(crate) async fn deliver<T>(
    events_tx: &mpsc::Sender<T>,
    event: T,
    shutdown: &CancellationToken,
) -> Result<(), WsError> {
    tokio::select! {
        _ = shutdown.cancelled() => Err(WsError::Shutdown),
        sent = events_tx.send(event) => sent.map_err(|_| WsError::ReceiverGone),
    }
}

/// Sleeps for `delay` unless `shutdown` fires first; returns false on shutdown.
pub(crate) async fn sleep_or_shutdown(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_bounded() {
        let io = || tokio_tungstenite::tungstenite::Error::ConnectionClosed;
        let cases = [
            (WsError::Closed(None), "server_close"),
            (WsError::PingTimeout(Duration::ZERO), "ping_timeout"),
            (WsError::Stale("x".into()), "stale"),
            (WsError::MaxAge, "rotation"),
            (WsError::Shutdown, "shutdown"),
            (WsError::Io(io()), "error"),
            (WsError::ConnectTimeout, "error"),
            (WsError::Venue("refused".into()), "error"),
        ];
        for (err, want) in cases {
            assert_eq!(err.reason().as_str(), want, "{err}");
        }
    }
}

//! WebSocket plumbing shared by the user-data and market streams: connecting with a deadline,
//! heartbeats (answer pings, send our own, declare the stream stale when silent), capped
//! jittered backoff between reconnects, and the proactive reconnect before the venue's 24 h
//! connection limit.
//!
//! - [`user`]: the WebSocket API user-data subscription (reference §9, §10);
//! - [`market`]: combined depth and trade streams (reference §7);
//! - [`depth_sync`]: the pure book sync state machine (reference §8).

pub(crate) mod depth_sync;
pub(crate) mod market;
pub(crate) mod user;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// We ping every 20 s, like the venue does.
pub(crate) const PING_INTERVAL: Duration = Duration::from_secs(20);
/// No frame at all (data, ping or pong) for this long means the connection is dead.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(60);
/// Deadline for writing one frame.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The venue drops connections after 24 h; we leave a little earlier, on our own terms.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(23 * 3600 + 30 * 60);
/// First reconnect delay and its cap.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_millis(500);
pub(crate) const BACKOFF_CAP: Duration = Duration::from_secs(30);

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
    #[error("no data or pong for {}s", STALE_AFTER.as_secs())]
    Stale,
    #[error("connection reached its maximum age")]
    MaxAge,
    #[error("{0}")]
    Venue(String),
    #[error("event receiver dropped")]
    ReceiverGone,
    #[error("shutting down")]
    Shutdown,
}

/// One open WebSocket connection with its heartbeat state.
pub(crate) struct Session {
    ws: WsStream,
    last_rx: Instant,
    opened: Instant,
    ping: Interval,
}

impl Session {
    /// Connects within `timeout`.
    pub(crate) async fn connect(url: &str, timeout: Duration) -> Result<Self, WsError> {
        let (ws, _response) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| WsError::ConnectTimeout)?
            .map_err(WsError::Connect)?;
        let now = Instant::now();
        let mut ping = tokio::time::interval_at(now + PING_INTERVAL, PING_INTERVAL);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ok(Session {
            ws,
            last_rx: now,
            opened: now,
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

    /// The next text frame. Handles control frames and heartbeats on the way; `Ok(None)` when
    /// `shutdown` fires. Cancel-safe: dropping the future loses no data frame.
    pub(crate) async fn next_text(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Result<Option<Utf8Bytes>, WsError> {
        loop {
            let stale_at = self.last_rx + STALE_AFTER;
            let retire_at = self.opened + MAX_CONNECTION_AGE;
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(None),
                _ = tokio::time::sleep_until(stale_at) => return Err(WsError::Stale),
                _ = tokio::time::sleep_until(retire_at) => return Err(WsError::MaxAge),
                _ = self.ping.tick() => self.write(Message::Ping(Vec::new().into())).await?,
                frame = self.ws.next() => {
                    self.last_rx = Instant::now();
                    match frame {
                        None => return Err(WsError::Closed(None)),
                        Some(Err(e)) => return Err(WsError::Io(e)),
                        Some(Ok(Message::Text(text))) => return Ok(Some(text)),
                        Some(Ok(Message::Binary(bytes))) => {
                            // The venue sends JSON as text; accept UTF-8 binary frames too.
                            if let Ok(text) = Utf8Bytes::try_from(bytes) {
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

    /// Closes politely, without waiting long.
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

/// Capped exponential backoff with jitter: attempt `n` waits a random time in
/// `[d/2, d]` with `d = min(base * 2^n, cap)`.
#[derive(Debug)]
pub(crate) struct Backoff {
    attempt: u32,
    base: Duration,
    cap: Duration,
}

impl Backoff {
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            attempt: 0,
            base,
            cap,
        }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = exp / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(random_u64() % jitter_ms.saturating_add(1))
    }

    /// Back to the first delay after a healthy connection.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A random number from the process's hash seed: enough for jitter, no extra dependency.
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
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
    fn backoff_grows_jittered_and_capped() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let bounds = [
            (50, 100),
            (100, 200),
            (200, 400),
            (400, 800),
            (500, 1000),
            (500, 1000),
        ];
        for (low, high) in bounds {
            let d = backoff.next_delay();
            assert!(
                d >= Duration::from_millis(low) && d <= Duration::from_millis(high),
                "{d:?} not in [{low}, {high}] ms"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_varies() {
        let draws: std::collections::HashSet<u64> = (0..20).map(|_| random_u64()).collect();
        assert!(draws.len() > 1);
    }
}

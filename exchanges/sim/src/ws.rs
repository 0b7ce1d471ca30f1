//! WebSocket plumbing shared by market streams and the WebSocket API: upgrade handling (with
//! JSON errors for non-WebSocket requests), session tracking for graceful shutdown, and the
//! server-side keepalive (a ping frame every interval; close when a pong is overdue).

use std::future::Future;
use std::time::Duration;

use axum::extract::ws::{WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::response::{IntoResponse, Response};
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at};

use crate::errors::ApiError;
use crate::rest::Weight;
use crate::server::AppState;
use crate::stats::Counter;

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

/// Server pings and the pong deadline of one connection.
pub(crate) struct Keepalive {
    ping: Interval,
    timeout: Duration,
    awaiting_since: Option<Instant>,
}

/// What to do after a keepalive tick.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeepaliveAction {
    SendPing,
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
        }
    }

    /// Waits for the next ping time; `Close` when a pong has been overdue for `timeout`.
    pub async fn tick(&mut self) -> KeepaliveAction {
        self.ping.tick().await;
        match self.awaiting_since {
            Some(since) if since.elapsed() >= self.timeout => KeepaliveAction::Close,
            Some(_) => KeepaliveAction::SendPing,
            None => {
                self.awaiting_since = Some(Instant::now());
                KeepaliveAction::SendPing
            }
        }
    }

    /// A pong arrived: the connection is alive.
    pub fn pong(&mut self) {
        self.awaiting_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn keepalive_closes_only_without_pongs() {
        let mut keepalive = Keepalive::new(Duration::from_secs(20), Duration::from_secs(60));
        assert_eq!(keepalive.tick().await, KeepaliveAction::SendPing);
        keepalive.pong();
        for _ in 0..3 {
            assert_eq!(keepalive.tick().await, KeepaliveAction::SendPing);
        }
        assert_eq!(keepalive.tick().await, KeepaliveAction::Close);
    }
}

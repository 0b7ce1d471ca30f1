//! Per-connection fault hooks for the WebSocket writer loops (`streams`, `ws_api`): a branch
//! that wakes on registry changes (and says when this connection is dropped), and the checks
//! for silence, pings, pongs and latency.
//!
//! `ignore_pongs` works by not reading the socket: the WebSocket library answers client pings
//! while reading, so a connection that is not read neither sees pongs nor answers pings.
//! Whatever the client sent meanwhile is read once the fault ends.

use axum::extract::ws::Message;
use tokio::sync::watch;

use super::{SimFaults, Target};
use crate::engine::SymbolId;

/// What a registry change means for this connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Close the socket abruptly: return from the session without a close frame.
    Drop,
    /// Something else changed; loop again so the checks are re-evaluated.
    Recheck,
}

/// The fault view of one WebSocket connection.
pub(crate) struct SessionFaults {
    faults: SimFaults,
    surface: Target,
    changed_rx: watch::Receiver<u64>,
    drops_seen: u64,
    ignoring: bool,
}

impl SessionFaults {
    /// `surface` is [`Target::Streams`] or [`Target::WsApi`]. Drops injected before the
    /// connection opened do not apply to it.
    pub fn new(faults: &SimFaults, surface: Target) -> Self {
        let mut changed_rx = faults.subscribe();
        changed_rx.mark_unchanged();
        Self {
            faults: faults.clone(),
            surface,
            changed_rx,
            drops_seen: faults.drop_seq(),
            ignoring: false,
        }
    }

    /// Waits for the next registry change (cancel-safe, for `select!`).
    pub async fn changed(&mut self) -> Change {
        if self.changed_rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        if self.faults.take_drop(self.surface, &mut self.drops_seen) {
            Change::Drop
        } else {
            Change::Recheck
        }
    }

    /// Whether to read the socket now (false under `ignore_pongs`).
    pub fn reading(&mut self) -> bool {
        let ignoring = self.faults.ignore_pongs(self.surface);
        if ignoring && !self.ignoring {
            self.faults.hit_named("ignore_pongs");
        }
        self.ignoring = ignoring;
        !ignoring
    }

    /// Whether the server ping due now may be sent (false under `stop_pings`).
    pub fn pings(&self) -> bool {
        !self.faults.stop_pings(self.surface)
    }

    /// Whether a data frame (market data for `symbol`, or a user event for `None`) is held
    /// back by `silence_streams`.
    pub fn silenced(&self, symbol: Option<SymbolId>) -> bool {
        self.faults.silenced(self.surface, symbol)
    }

    /// Sleeps for the `latency` fault before a batch that carries data frames.
    pub async fn delay(&self, outgoing: &[Message]) {
        if !outgoing.iter().any(|m| matches!(m, Message::Text(_))) {
            return;
        }
        if let Some(delay) = self.faults.latency(self.surface) {
            tokio::time::sleep(delay).await;
        }
    }
}

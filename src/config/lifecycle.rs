//! `[shutdown]` and `[events]`: how the daemon stops on SIGTERM, and the live event feed's
//! per-subscriber bounds.

use std::time::Duration;

use serde::Deserialize;

/// What SIGTERM does (see README "Running under systemd").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// The whole stop (cancels, draining venue calls, flushing the writer) must finish within
    /// this; beyond it omsd logs what it abandoned and exits non-zero. Keep the unit's
    /// `TimeoutStopSec` above it.
    #[serde(default = "default_grace_ms")]
    pub grace_ms: u64,
    /// Cancel every open order at the venue before stopping (off: open orders stay working at
    /// the venue and are reconciled at the next start).
    #[serde(default)]
    pub cancel_open_orders: bool,
}

/// The live event feed (`GET /v1/events`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// Events queued for one subscriber; a subscriber that falls this far behind is cut off
    /// (it resumes with `Last-Event-ID`).
    #[serde(default = "default_events_queue")]
    pub queue: usize,
    /// Interval of the keep-alive comments on an idle stream.
    #[serde(default = "default_keep_alive_ms")]
    pub keep_alive_ms: u64,
}

fn default_grace_ms() -> u64 {
    30_000
}

fn default_events_queue() -> usize {
    1024
}

fn default_keep_alive_ms() -> u64 {
    15_000
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace_ms: default_grace_ms(),
            cancel_open_orders: false,
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            queue: default_events_queue(),
            keep_alive_ms: default_keep_alive_ms(),
        }
    }
}

impl ShutdownConfig {
    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms)
    }

    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.grace_ms < 1000 {
            problems.push("shutdown.grace_ms must be at least 1000".into());
        }
        problems
    }
}

impl EventsConfig {
    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.queue == 0 {
            problems.push("events.queue must be positive".into());
        }
        if self.keep_alive_ms < 100 {
            problems.push("events.keep_alive_ms must be at least 100".into());
        }
        problems
    }
}

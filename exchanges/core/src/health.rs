//! [`VenueHealth`]: the one snapshot of an adapter's resilience state that the daemon reads
//! (metrics, `GET /v1/venues`), plus the small recorders adapters use to fill its stream and
//! book parts.
//!
//! Everything here is a counter or a gauge over a bounded label set: reconnect reasons come
//! from [`ReconnectReason`], stream kinds are `user` and `market`, breaker classes and limiter
//! scopes are fixed per adapter.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::breaker::BreakerState;
use crate::model::VenueId;
use crate::queue::{QueueHealth, QueueRecorder};

/// The resilience state of one venue adapter at one moment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VenueHealth {
    pub venue: VenueId,
    /// One per endpoint class (e.g. `orders`, `account`, `market_data`).
    pub breakers: Vec<BreakerHealth>,
    pub limiter: LimiterHealth,
    pub clock: ClockHealth,
    /// One per stream kind (`user`, `market`).
    pub streams: Vec<StreamHealth>,
    pub books: BookHealth,
    /// Venue messages that could not be understood (logged and skipped).
    pub malformed_messages_total: u64,
}

/// One circuit breaker.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakerHealth {
    pub class: String,
    pub state: BreakerState,
    /// State changes since start.
    pub transitions_total: u64,
    pub consecutive_failures: u32,
    /// Calls refused locally because the breaker was open.
    pub rejected_total: u64,
}

/// The venue's rate limiter.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimiterHealth {
    pub scopes: Vec<ScopeHealth>,
    /// HTTP 429 answers seen (each pauses the whole venue).
    pub throttled_429_total: u64,
    /// HTTP 418 answers seen (each halts the venue until the ban ends).
    pub banned_418_total: u64,
    /// Unix ms until which the venue is paused after a 429, if it is.
    pub paused_until_ms: Option<i64>,
    /// Unix ms until which the venue is banned after a 418, if it is.
    pub banned_until_ms: Option<i64>,
    /// Orders sent and not yet answered.
    pub in_flight_orders: u32,
    pub in_flight_cap: u32,
    /// Connection attempts to the venue (every WebSocket the adapter opens).
    pub connect: ConnectHealth,
}

/// The connection-attempt budget of one venue.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ConnectHealth {
    /// Attempts allowed in any window of `window_ms`.
    pub budget: u32,
    pub window_ms: u64,
    /// Attempts in the last window.
    pub in_window: u32,
    /// Attempts granted since start.
    pub attempts_total: u64,
    /// Attempts refused locally because the budget was used up.
    pub refused_total: u64,
}

/// One metered scope (e.g. `request_weight` per minute).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeHealth {
    pub scope: String,
    pub interval_ms: u64,
    /// The venue's published limit.
    pub venue_limit: u32,
    /// The limit we hold ourselves to (venue limit × safety margin).
    pub effective_limit: u32,
    /// Used in the current window, by our count or the venue's report, whichever is higher.
    pub used: u64,
    /// The last usage the venue reported for this scope, if it reports one.
    pub venue_reported_used: Option<u64>,
    /// Permits that had to wait, and how long they waited in total.
    pub waits_total: u64,
    pub wait_seconds_total: f64,
    /// Permits refused because they could not be granted within their deadline.
    pub rejected_total: u64,
}

/// The venue clock.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockHealth {
    /// Venue clock minus local clock.
    pub offset_ms: i64,
    /// How far off `offset_ms` may be: half the round trip of the measurement it comes from.
    pub uncertainty_ms: u64,
    /// True while the offset is known and certain enough to sign requests with.
    pub synced: bool,
    /// Measurements after the first (periodic, or after a timestamp rejection).
    pub resyncs_total: u64,
}

/// One stream kind.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamHealth {
    pub kind: String,
    pub connected: bool,
    /// Reconnects by reason; every reason of [`ReconnectReason::ALL`] is present.
    pub reconnects_total: BTreeMap<String, u64>,
    /// Times the stream was declared stale (no data, no pong, or old venue timestamps).
    pub stale_detections_total: u64,
    /// Age of the last frame received, if any was.
    pub last_message_age_ms: Option<u64>,
    /// The stream's bounded queues: `events` (to the consumer), and for market streams
    /// `depth_buffer` (diff events held while snapshots are fetched, over every book).
    pub queues: Vec<QueueHealth>,
}

/// Local order books.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookHealth {
    /// Books that lost continuity (gap, stale stream, disconnect).
    pub resyncs_total: u64,
    /// Resyncs that completed (back in sync), their total and last duration.
    pub resyncs_completed_total: u64,
    pub resync_seconds_total: f64,
    pub last_resync_seconds: Option<f64>,
    /// Market events dropped because the consumer was slow (trades only; never book updates).
    pub dropped_events_total: u64,
}

/// Why a stream connection ended. A bounded set, used as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconnectReason {
    /// A transport or protocol error, a failed connect or a refused subscription.
    Error,
    /// No data within the deadline, or venue event times too far behind the venue clock.
    Stale,
    /// A ping went unanswered.
    PingTimeout,
    /// Planned replacement before the venue's maximum connection age.
    Rotation,
    /// The venue closed the connection or announced a shutdown.
    ServerClose,
    /// We are shutting down.
    Shutdown,
}

impl ReconnectReason {
    pub const ALL: [ReconnectReason; 6] = [
        ReconnectReason::Error,
        ReconnectReason::Stale,
        ReconnectReason::PingTimeout,
        ReconnectReason::Rotation,
        ReconnectReason::ServerClose,
        ReconnectReason::Shutdown,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReconnectReason::Error => "error",
            ReconnectReason::Stale => "stale",
            ReconnectReason::PingTimeout => "ping_timeout",
            ReconnectReason::Rotation => "rotation",
            ReconnectReason::ServerClose => "server_close",
            ReconnectReason::Shutdown => "shutdown",
        }
    }

    fn index(self) -> usize {
        ReconnectReason::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or(0)
    }
}

/// Counters of one stream kind, shared between the stream task and `health()`.
#[derive(Debug)]
pub struct StreamRecorder {
    kind: &'static str,
    connected: AtomicBool,
    reconnects: [AtomicU64; ReconnectReason::ALL.len()],
    stale: AtomicU64,
    last_message: Mutex<Option<Instant>>,
    /// The channel to the consumer.
    pub events: QueueRecorder,
    /// Events the stream holds itself (market: diff events awaiting a snapshot).
    pub buffer: QueueRecorder,
}

impl StreamRecorder {
    pub fn new(kind: &'static str) -> Self {
        StreamRecorder {
            kind,
            connected: AtomicBool::new(false),
            reconnects: Default::default(),
            stale: AtomicU64::new(0),
            last_message: Mutex::new(None),
            events: QueueRecorder::new("events"),
            buffer: QueueRecorder::new("depth_buffer"),
        }
    }

    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }

    /// A connection ended for `reason`; a stale ending also counts as a stale detection.
    pub fn reconnect(&self, reason: ReconnectReason) {
        self.set_connected(false);
        self.reconnects[reason.index()].fetch_add(1, Ordering::Relaxed);
        if reason == ReconnectReason::Stale || reason == ReconnectReason::PingTimeout {
            self.stale.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A frame arrived.
    pub fn message(&self) {
        let mut last = self.last_message.lock().unwrap_or_else(|e| e.into_inner());
        *last = Some(Instant::now());
    }

    pub fn reconnects(&self, reason: ReconnectReason) -> u64 {
        self.reconnects[reason.index()].load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> StreamHealth {
        let last = *self.last_message.lock().unwrap_or_else(|e| e.into_inner());
        StreamHealth {
            kind: self.kind.to_owned(),
            connected: self.connected.load(Ordering::Relaxed),
            reconnects_total: ReconnectReason::ALL
                .iter()
                .map(|r| (r.as_str().to_owned(), self.reconnects(*r)))
                .collect(),
            stale_detections_total: self.stale.load(Ordering::Relaxed),
            last_message_age_ms: last.map(|t| duration_ms(t.elapsed())),
            queues: [&self.events, &self.buffer]
                .into_iter()
                .filter(|q| q.in_use())
                .map(QueueRecorder::snapshot)
                .collect(),
        }
    }
}

/// Counters of the local books, shared between the market task and `health()`.
#[derive(Debug, Default)]
pub struct BookRecorder {
    resyncs: AtomicU64,
    completed: AtomicU64,
    dropped: AtomicU64,
    /// Total and last resync duration, in microseconds.
    micros_total: AtomicU64,
    last_micros: Mutex<Option<u64>>,
}

impl BookRecorder {
    /// A book lost continuity.
    pub fn resync_started(&self) {
        self.resyncs.fetch_add(1, Ordering::Relaxed);
    }

    /// A book is back in sync after `took`.
    pub fn resync_completed(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.completed.fetch_add(1, Ordering::Relaxed);
        self.micros_total.fetch_add(micros, Ordering::Relaxed);
        *self.last_micros.lock().unwrap_or_else(|e| e.into_inner()) = Some(micros);
    }

    /// A market event was dropped; returns the new total.
    pub fn dropped(&self) -> u64 {
        self.dropped.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn snapshot(&self) -> BookHealth {
        let secs = |micros: u64| micros as f64 / 1e6;
        BookHealth {
            resyncs_total: self.resyncs.load(Ordering::Relaxed),
            resyncs_completed_total: self.completed.load(Ordering::Relaxed),
            resync_seconds_total: secs(self.micros_total.load(Ordering::Relaxed)),
            last_resync_seconds: self
                .last_micros
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .map(secs),
            dropped_events_total: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Milliseconds of a duration, saturating.
pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stream_recorder_counts_by_reason() {
        let rec = StreamRecorder::new("market");
        rec.set_connected(true);
        rec.message();
        tokio::time::advance(Duration::from_millis(1500)).await;
        rec.reconnect(ReconnectReason::Stale);
        rec.reconnect(ReconnectReason::PingTimeout);
        rec.reconnect(ReconnectReason::Rotation);
        let snap = rec.snapshot();
        assert!(!snap.connected);
        assert_eq!(snap.stale_detections_total, 2);
        assert_eq!(snap.last_message_age_ms, Some(1500));
        assert_eq!(snap.reconnects_total.len(), ReconnectReason::ALL.len());
        let table = [
            ("stale", 1),
            ("ping_timeout", 1),
            ("rotation", 1),
            ("error", 0),
            ("server_close", 0),
            ("shutdown", 0),
        ];
        for (reason, want) in table {
            assert_eq!(snap.reconnects_total.get(reason), Some(&want), "{reason}");
        }
    }

    #[test]
    fn book_recorder_measures_resyncs() {
        let rec = BookRecorder::default();
        assert_eq!(rec.snapshot().last_resync_seconds, None);
        rec.resync_started();
        rec.resync_completed(Duration::from_millis(250));
        rec.resync_started();
        rec.resync_completed(Duration::from_millis(750));
        assert_eq!(rec.dropped(), 1);
        let snap = rec.snapshot();
        assert_eq!((snap.resyncs_total, snap.resyncs_completed_total), (2, 2));
        assert!((snap.resync_seconds_total - 1.0).abs() < 1e-9);
        assert_eq!(snap.last_resync_seconds, Some(0.75));
        assert_eq!(snap.dropped_events_total, 1);
    }

    #[test]
    fn health_serializes_reason_maps_as_objects() {
        let rec = StreamRecorder::new("user");
        rec.reconnect(ReconnectReason::Error);
        let json = serde_json::to_value(rec.snapshot()).unwrap_or_default();
        assert_eq!(json["reconnects_total"]["error"], 1);
        assert_eq!(json["kind"], "user");
    }
}

//! What can be injected: [`FaultSpec`], exactly the JSON body of `POST /_sim/faults`
//! (`{"fault": NAME, "params": {...}}`), and its parameter structs with their defaults.
//! Validation lives in `validate`.

use serde::{Deserialize, Serialize};

/// Which surface a fault applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// REST requests (`/api/...`), never `/_sim/...` or WebSocket handshakes.
    Rest,
    /// Market stream connections (`/ws`, `/stream`).
    Streams,
    /// WebSocket API connections (`/ws-api/v3`).
    WsApi,
    /// The step between a request's checks and the matching engine (orders, cancels, amends,
    /// on REST and the WebSocket API); only `latency` aims here, and only when named: the
    /// venue then checks `recvWindow` a second time.
    Engine,
    /// Every surface the fault knows how to affect (the engine step only when named).
    #[default]
    All,
}

impl Target {
    /// Whether a fault aimed at `self` applies to a connection or request of kind `surface`.
    pub(crate) fn covers(self, surface: Target) -> bool {
        self == surface || (self == Target::All && surface != Target::Engine)
    }
}

/// A fault to inject. Serialized as `{"fault": "<name>", "params": {...}}`; every parameter
/// has a default, so `{"fault": "force_429"}` alone is valid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "fault",
    content = "params",
    rename_all = "snake_case",
    try_from = "super::parse::RawSpec"
)]
pub enum FaultSpec {
    /// One-shot: abruptly close matching WebSocket connections (no close frame).
    DropConnections(DropConnections),
    /// Keep sockets open (pings and pongs continue) but send no data frames.
    SilenceStreams(SilenceStreams),
    /// The server sends no ping frames.
    StopPings(KeepaliveFault),
    /// The server neither reads client pongs nor answers client pings.
    IgnorePongs(KeepaliveFault),
    /// Depth diff update ids jump (a sequence gap); REST depth stays consistent.
    DepthGap(DepthGap),
    /// User data events are sent twice.
    DuplicateUserEvents(DuplicateUserEvents),
    /// User data events are delivered shuffled within a window.
    ReorderUserEvents(ReorderUserEvents),
    /// REST requests answer 5xx (optionally after executing).
    RestErrors(RestErrors),
    /// REST responses are held past the client's deadline.
    RestHang(RestHang),
    /// Added delay with jitter on REST responses and WebSocket frames.
    Latency(Latency),
    /// The listener refuses connections and existing connections are cut.
    Downtime(Downtime),
    /// The server clock is shifted.
    ClockSkew(ClockSkew),
    /// Every REST and WebSocket API request gets 429 with `Retry-After` (WS API:
    /// `error.data.retryAfter`) and `-1003`.
    #[serde(rename = "force_429")]
    Force429(ForcedStatus),
    /// Every REST and WebSocket API request gets a 418 ban with `Retry-After`.
    #[serde(rename = "force_418")]
    Force418(ForcedStatus),
    /// Order placements execute but their response is never sent.
    SwallowOrderAcks(SwallowOrderAcks),
}

/// Every fault name, in [`FaultSpec::index`] order.
pub(crate) const NAMES: [&str; 15] = [
    "drop_connections",
    "silence_streams",
    "stop_pings",
    "ignore_pongs",
    "depth_gap",
    "duplicate_user_events",
    "reorder_user_events",
    "rest_errors",
    "rest_hang",
    "latency",
    "downtime",
    "clock_skew",
    "force_429",
    "force_418",
    "swallow_order_acks",
];

/// `drop_connections`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DropConnections {
    /// `streams`, `ws_api` or `all` (default).
    pub target: Target,
    /// Fraction of matching connections to drop (default 1).
    pub rate: f64,
}

/// `silence_streams`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SilenceStreams {
    /// `streams` (market data), `ws_api` (user events) or `all` (default).
    pub target: Target,
    /// Market symbols to silence (default: all); user events ignore this.
    pub symbols: Vec<String>,
    /// Lifetime; until cleared when absent.
    pub duration_ms: Option<u64>,
}

/// `stop_pings` and `ignore_pongs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeepaliveFault {
    /// `streams`, `ws_api` or `all` (default).
    pub target: Target,
    /// Lifetime; until cleared when absent.
    pub duration_ms: Option<u64>,
}

/// `depth_gap`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DepthGap {
    /// Symbols whose depth stream gaps (default: all).
    pub symbols: Vec<String>,
    /// Update ids skipped per gap (default 1).
    pub skip: u64,
    /// With a lifetime every diff in it gaps; without, only the next publication (one-shot).
    pub duration_ms: Option<u64>,
}

/// `duplicate_user_events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DuplicateUserEvents {
    /// Fraction of events sent twice (default 1).
    pub rate: f64,
    pub duration_ms: Option<u64>,
}

/// `reorder_user_events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReorderUserEvents {
    /// Events of one account shuffled together (default 2, at most 100).
    pub window: usize,
    pub duration_ms: Option<u64>,
}

/// `rest_errors`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestErrors {
    /// Fraction of matching requests that fail (default 1).
    pub rate: f64,
    /// 500, 502, 503 (default) or 504.
    pub status: u16,
    /// Exact request paths (default: every REST path).
    pub paths: Vec<String>,
    /// HTTP methods, upper case (default: all).
    pub methods: Vec<String>,
    /// Run the request before answering 5xx (an order is then placed).
    pub execute: bool,
    pub duration_ms: Option<u64>,
}

/// `rest_hang`. Active until cleared; clearing releases held responses at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestHang {
    /// How long each matching response is held (default 30000).
    pub duration_ms: u64,
    pub rate: f64,
    pub paths: Vec<String>,
    pub methods: Vec<String>,
    /// Execute, then hold the real response; otherwise hold, then answer 503 `-1007`.
    pub execute: bool,
}

/// `latency`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Latency {
    /// Mean added delay.
    pub mean_ms: u64,
    /// Uniform jitter around the mean, never below zero.
    pub jitter_ms: u64,
    /// `rest`, `streams`, `ws_api` or `all` (default).
    pub target: Target,
    pub duration_ms: Option<u64>,
}

/// `downtime`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Downtime {
    /// Length of the window; required.
    pub duration_ms: u64,
}

/// `clock_skew`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockSkew {
    /// Added to the server clock (may be negative); skews of active faults add up.
    pub offset_ms: i64,
    pub duration_ms: Option<u64>,
}

/// `force_429` and `force_418`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForcedStatus {
    /// `Retry-After` in seconds (default 1); for 418 also when the reported ban ends.
    pub retry_after_s: u64,
    pub duration_ms: Option<u64>,
}

/// `swallow_order_acks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwallowOrderAcks {
    /// Fraction of accepted placements whose response is swallowed (default 1).
    pub rate: f64,
    /// Symbols affected (default: all).
    pub symbols: Vec<String>,
    /// `rest`, `ws_api` or `all` (default).
    pub target: Target,
    /// Most a REST response is held before it is sent anyway (default 60000).
    pub hold_ms: u64,
    pub duration_ms: Option<u64>,
}

impl Default for DropConnections {
    fn default() -> Self {
        Self {
            target: Target::All,
            rate: 1.0,
        }
    }
}

impl Default for DepthGap {
    fn default() -> Self {
        Self {
            symbols: Vec::new(),
            skip: 1,
            duration_ms: None,
        }
    }
}

impl Default for DuplicateUserEvents {
    fn default() -> Self {
        Self {
            rate: 1.0,
            duration_ms: None,
        }
    }
}

impl Default for ReorderUserEvents {
    fn default() -> Self {
        Self {
            window: 2,
            duration_ms: None,
        }
    }
}

impl Default for RestErrors {
    fn default() -> Self {
        Self {
            rate: 1.0,
            status: 503,
            paths: Vec::new(),
            methods: Vec::new(),
            execute: false,
            duration_ms: None,
        }
    }
}

impl Default for RestHang {
    fn default() -> Self {
        Self {
            duration_ms: 30_000,
            rate: 1.0,
            paths: Vec::new(),
            methods: Vec::new(),
            execute: false,
        }
    }
}

impl Default for ForcedStatus {
    fn default() -> Self {
        Self {
            retry_after_s: 1,
            duration_ms: None,
        }
    }
}

impl Default for SwallowOrderAcks {
    fn default() -> Self {
        Self {
            rate: 1.0,
            symbols: Vec::new(),
            target: Target::All,
            hold_ms: 60_000,
            duration_ms: None,
        }
    }
}

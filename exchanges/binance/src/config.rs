//! Adapter configuration: where the venue lives, which account to use and how patient to be.
//!
//! Secrets never reach logs: [`ApiSecret`] and the API key are redacted in `Debug` output.

use std::fmt;
use std::time::Duration;

use exchange_core::{BreakerConfig, LimiterConfig, RetryPolicy, VenueId};

use crate::urls;

/// The HMAC secret of an API key. Its `Debug` output is redacted and it has no `Display`, so
/// it cannot end up in a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiSecret(String);

impl ApiSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        ApiSecret(secret.into())
    }

    /// The raw secret, for signing only.
    pub(crate) fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// True when no secret was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiSecret(<redacted>)")
    }
}

/// Everything the Binance Spot adapter needs to know.
///
/// URLs are bases: `rest_url` like `https://api.binance.com` (paths `/api/v3/...` are appended),
/// `stream_url` like `wss://stream.binance.com:9443` (`/stream?streams=...` is appended), and
/// `ws_api_url` complete, like `wss://ws-api.binance.com:443/ws-api/v3`.
#[derive(Clone)]
pub struct BinanceConfig {
    /// Configured venue name, copied into every instrument.
    pub venue: VenueId,
    /// REST base URL, without a trailing slash.
    pub rest_url: String,
    /// Market-stream base URL, without a trailing slash.
    pub stream_url: String,
    /// Full WebSocket API URL.
    pub ws_api_url: String,
    /// API key (sent as `X-MBX-APIKEY`); redacted in `Debug`.
    pub api_key: String,
    /// API secret (HMAC key).
    pub api_secret: ApiSecret,
    /// `recvWindow` sent with signed requests, in milliseconds (at most 60000).
    pub recv_window_ms: u64,
    /// Deadline of one REST request, and of WebSocket connects and subscriptions.
    pub request_timeout: Duration,
    /// `limit` of the REST depth snapshot used to sync books (5000 at most).
    pub depth_snapshot_limit: u32,
    /// Streams one market connection carries (the venue allows 1024); symbols beyond it go
    /// on further connections (two streams per symbol: depth and trades).
    pub max_streams_per_connection: usize,
    /// Rate limiter tuning (safety margin, data-lane reserve, waits, in-flight order cap).
    pub limiter: LimiterConfig,
    /// Circuit breaker tuning, the same for every endpoint class.
    pub breaker: BreakerConfig,
    /// Retries of idempotent REST calls.
    pub retry: RetryPolicy,
    /// Market streams: no data frame for this long means the stream is stale (pongs alone do
    /// not count; the user stream is legitimately quiet and is judged by pongs only).
    pub market_data_timeout: Duration,
    /// We ping every stream connection this often.
    pub ping_interval: Duration,
    /// A ping we sent must be answered (pong or any frame) within this.
    pub pong_timeout: Duration,
    /// Connections are replaced before this age (the venue closes them at 24 h).
    pub max_connection_age: Duration,
    /// Market events whose venue event time lags the venue clock by more than this mean the
    /// stream is stale (judged only against a venue clock measured after the lag was seen).
    pub max_event_lag: Duration,
    /// A stream connection must stay up this long after it subscribed (user stream) or first
    /// carried data (market stream) before the reconnect backoff starts over.
    pub reconnect_min_healthy: Duration,
    /// `GET /api/v3/time` round trips per clock measurement; the fastest one is kept.
    pub clock_samples: u32,
    /// The venue clock is measured again when its measurement is this old (and on `-1021`).
    pub clock_resync_interval: Duration,
    /// An order or cancel the venue accepted must show up on the user stream within this, or
    /// the stream is declared silent and reconnected.
    pub user_event_timeout: Duration,
}

impl BinanceConfig {
    /// Default `recvWindow`.
    pub const DEFAULT_RECV_WINDOW_MS: u64 = 5_000;
    /// Default REST timeout.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default depth snapshot size.
    pub const DEFAULT_DEPTH_SNAPSHOT_LIMIT: u32 = 1_000;
    /// Streams per market connection the venue allows.
    pub const DEFAULT_MAX_STREAMS_PER_CONNECTION: usize = 1024;
    /// Default market-data silence deadline.
    pub const DEFAULT_MARKET_DATA_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default ping interval (the venue's own).
    pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(20);
    /// Default connection age limit: half an hour before the venue's 24 h.
    pub const DEFAULT_MAX_CONNECTION_AGE: Duration = Duration::from_secs(23 * 3600 + 30 * 60);
    /// Default pong deadline.
    pub const DEFAULT_PONG_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default tolerated lag of venue event times.
    pub const DEFAULT_MAX_EVENT_LAG: Duration = Duration::from_secs(10);
    /// Default minimum healthy time before the reconnect backoff resets.
    pub const DEFAULT_RECONNECT_MIN_HEALTHY: Duration = Duration::from_secs(30);
    /// Default samples per clock measurement.
    pub const DEFAULT_CLOCK_SAMPLES: u32 = 3;
    /// Default age at which the venue clock is measured again.
    pub const DEFAULT_CLOCK_RESYNC_INTERVAL: Duration = Duration::from_secs(300);
    /// Default time within which an accepted order's update must arrive on the user stream.
    pub const DEFAULT_USER_EVENT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A configuration for explicit URLs (a simulator or a proxy) with default tuning.
    pub fn new(
        venue: impl Into<VenueId>,
        rest_url: impl Into<String>,
        stream_url: impl Into<String>,
        ws_api_url: impl Into<String>,
        api_key: impl Into<String>,
        api_secret: ApiSecret,
    ) -> Self {
        BinanceConfig {
            venue: venue.into(),
            rest_url: trim_slash(rest_url.into()),
            stream_url: trim_slash(stream_url.into()),
            ws_api_url: ws_api_url.into(),
            api_key: api_key.into(),
            api_secret,
            recv_window_ms: Self::DEFAULT_RECV_WINDOW_MS,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            depth_snapshot_limit: Self::DEFAULT_DEPTH_SNAPSHOT_LIMIT,
            max_streams_per_connection: Self::DEFAULT_MAX_STREAMS_PER_CONNECTION,
            limiter: LimiterConfig::default(),
            breaker: BreakerConfig::default(),
            retry: RetryPolicy::default(),
            market_data_timeout: Self::DEFAULT_MARKET_DATA_TIMEOUT,
            ping_interval: Self::DEFAULT_PING_INTERVAL,
            pong_timeout: Self::DEFAULT_PONG_TIMEOUT,
            max_connection_age: Self::DEFAULT_MAX_CONNECTION_AGE,
            max_event_lag: Self::DEFAULT_MAX_EVENT_LAG,
            reconnect_min_healthy: Self::DEFAULT_RECONNECT_MIN_HEALTHY,
            clock_samples: Self::DEFAULT_CLOCK_SAMPLES,
            clock_resync_interval: Self::DEFAULT_CLOCK_RESYNC_INTERVAL,
            user_event_timeout: Self::DEFAULT_USER_EVENT_TIMEOUT,
        }
    }

    /// Binance Spot production endpoints.
    pub fn production(api_key: impl Into<String>, api_secret: ApiSecret) -> Self {
        Self::new(
            "binance",
            urls::PRODUCTION_REST,
            urls::PRODUCTION_STREAM,
            urls::PRODUCTION_WS_API,
            api_key,
            api_secret,
        )
    }

    /// Binance Spot Testnet endpoints.
    pub fn testnet(api_key: impl Into<String>, api_secret: ApiSecret) -> Self {
        Self::new(
            "binance-testnet",
            urls::TESTNET_REST,
            urls::TESTNET_STREAM,
            urls::TESTNET_WS_API,
            api_key,
            api_secret,
        )
    }

    /// Every problem with this configuration, all at once; empty when valid.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.venue.is_empty() {
            problems.push("venue must not be empty".to_owned());
        }
        for (name, value, schemes) in [
            ("rest_url", &self.rest_url, &["http", "https"]),
            ("stream_url", &self.stream_url, &["ws", "wss"]),
            ("ws_api_url", &self.ws_api_url, &["ws", "wss"]),
        ] {
            match url::Url::parse(value) {
                Ok(u) if schemes.contains(&u.scheme()) => {}
                Ok(u) => problems.push(format!("{name} has unsupported scheme '{}'", u.scheme())),
                Err(e) => problems.push(format!("{name} is not a valid url: {e}")),
            }
        }
        if self.api_key.is_empty() {
            problems.push("api_key must not be empty".to_owned());
        }
        if self.api_secret.is_empty() {
            problems.push("api_secret must not be empty".to_owned());
        }
        if self.recv_window_ms == 0 || self.recv_window_ms > 60_000 {
            problems.push(format!(
                "recv_window_ms must be in 1..=60000, got {}",
                self.recv_window_ms
            ));
        }
        if self.request_timeout.is_zero() {
            problems.push("request_timeout must be positive".to_owned());
        }
        if !(2..=Self::DEFAULT_MAX_STREAMS_PER_CONNECTION)
            .contains(&self.max_streams_per_connection)
        {
            problems.push(format!(
                "max_streams_per_connection must be in 2..=1024, got {}",
                self.max_streams_per_connection
            ));
        }
        if self.depth_snapshot_limit == 0 || self.depth_snapshot_limit > 5_000 {
            problems.push(format!(
                "depth_snapshot_limit must be in 1..=5000, got {}",
                self.depth_snapshot_limit
            ));
        }
        let l = &self.limiter;
        if !(l.safety_margin > 0.0 && l.safety_margin <= 1.0) {
            problems.push(format!(
                "limiter.safety_margin must be in (0, 1], got {}",
                l.safety_margin
            ));
        }
        if !(0.0..1.0).contains(&l.data_reserve) {
            problems.push(format!(
                "limiter.data_reserve must be in [0, 1), got {}",
                l.data_reserve
            ));
        }
        if l.max_in_flight_orders == 0 {
            problems.push("limiter.max_in_flight_orders must be positive".to_owned());
        }
        if l.connect_budget == 0 {
            problems.push("limiter.connect_budget must be positive".to_owned());
        }
        if !(1..=10).contains(&self.clock_samples) {
            problems.push(format!(
                "clock_samples must be in 1..=10, got {}",
                self.clock_samples
            ));
        }
        for (name, value) in [
            ("market_data_timeout", self.market_data_timeout),
            ("ping_interval", self.ping_interval),
            ("pong_timeout", self.pong_timeout),
            ("max_connection_age", self.max_connection_age),
            ("max_event_lag", self.max_event_lag),
            ("limiter.order_max_wait", l.order_max_wait),
            ("limiter.connect_window", l.connect_window),
            ("clock_resync_interval", self.clock_resync_interval),
            ("user_event_timeout", self.user_event_timeout),
            ("breaker.open_delay", self.breaker.open_delay),
        ] {
            if value.is_zero() {
                problems.push(format!("{name} must be positive"));
            }
        }
        problems
    }
}

impl fmt::Debug for BinanceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinanceConfig")
            .field("venue", &self.venue)
            .field("rest_url", &self.rest_url)
            .field("stream_url", &self.stream_url)
            .field("ws_api_url", &self.ws_api_url)
            .field("api_key", &"<redacted>")
            .field("api_secret", &self.api_secret)
            .field("recv_window_ms", &self.recv_window_ms)
            .field("request_timeout", &self.request_timeout)
            .field("depth_snapshot_limit", &self.depth_snapshot_limit)
            .field("limiter", &self.limiter)
            .field("breaker", &self.breaker)
            .field("retry", &self.retry)
            .field("market_data_timeout", &self.market_data_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("pong_timeout", &self.pong_timeout)
            .field("max_connection_age", &self.max_connection_age)
            .field("max_event_lag", &self.max_event_lag)
            .field("reconnect_min_healthy", &self.reconnect_min_healthy)
            .field("clock_samples", &self.clock_samples)
            .field("clock_resync_interval", &self.clock_resync_interval)
            .field("user_event_timeout", &self.user_event_timeout)
            .finish()
    }
}

fn trim_slash(mut url: String) -> String {
    while url.ends_with('/') {
        url.pop();
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> BinanceConfig {
        BinanceConfig::new(
            "sim",
            "http://127.0.0.1:1/",
            "ws://127.0.0.1:1",
            "ws://127.0.0.1:1/ws-api/v3",
            "key",
            ApiSecret::new("top-secret-value"),
        )
    }

    #[test]
    fn debug_redacts_key_and_secret() {
        let text = format!("{:?}", sim());
        assert!(!text.contains("top-secret-value"), "{text}");
        assert!(!text.contains("\"key\""), "{text}");
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn defaults_and_trailing_slash() {
        let c = sim();
        assert_eq!(c.rest_url, "http://127.0.0.1:1");
        assert_eq!(c.recv_window_ms, 5_000);
        assert_eq!(c.depth_snapshot_limit, 1_000);
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        assert!(
            BinanceConfig::production("k", ApiSecret::new("s"))
                .validate()
                .is_empty()
        );
        assert!(
            BinanceConfig::testnet("k", ApiSecret::new("s"))
                .validate()
                .is_empty()
        );
    }

    #[test]
    fn validate_reports_every_problem() {
        let mut c = sim();
        c.rest_url = "ftp://x".into();
        c.stream_url = "not a url".into();
        c.api_key.clear();
        c.api_secret = ApiSecret::new("");
        c.recv_window_ms = 60_001;
        c.depth_snapshot_limit = 0;
        c.limiter.safety_margin = 1.5;
        c.pong_timeout = Duration::ZERO;
        c.limiter.connect_budget = 0;
        c.clock_samples = 0;
        assert_eq!(c.validate().len(), 10, "{:?}", c.validate());
    }
}

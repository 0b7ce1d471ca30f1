//! Typed daemon configuration: TOML file, then `OMSD_*` environment overrides, then
//! [`Config::validate`], which reports every problem at once. Defaults live here and nowhere
//! else; `config/default.toml` runs out of the box (embedded simulator, SQLite under `var/`).

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

mod lifecycle;
mod market_data;
mod risk;

pub use lifecycle::{EventsConfig, ShutdownConfig};
pub use market_data::{MarketDataConfig, SnapshotConfig, VenueSnapshotConfig};
pub use risk::{InstrumentRiskConfig, OrderRateConfig, RiskConfig};

/// The whole daemon configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub control: ControlConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub oms: OmsConfig,
    /// Storing trades, book snapshots and candles (`[market_data]`).
    #[serde(default)]
    pub market_data: MarketDataConfig,
    #[serde(default)]
    pub venues: Vec<VenueConfig>,
    /// What SIGTERM does (`[shutdown]`).
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// The live event feed's bounds (`[events]`).
    #[serde(default)]
    pub events: EventsConfig,
}

/// The trader-facing HTTP control port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    #[serde(default = "default_control_listen")]
    pub listen: SocketAddr,
}

/// The Prometheus scrape endpoint (`/metrics`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_metrics_listen")]
    pub listen: SocketAddr,
}

/// Log output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`.
    #[serde(default = "default_log_format")]
    pub format: String,
    /// A tracing filter, e.g. `info` or `omsd=debug,info`. `RUST_LOG` wins when set.
    #[serde(default = "default_log_level")]
    pub level: String,
}

/// Where orders and fills are stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:PATH` (embedded) or `postgres://...`.
    #[serde(default = "default_store_url")]
    pub url: String,
    /// Connections to a PostgreSQL server (default 8); SQLite ignores it.
    #[serde(default)]
    pub max_connections: Option<u32>,
}

/// Order-processing settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OmsConfig {
    /// Deadline for one order send or cancel call to a venue (keep it above the adapter's
    /// request timeout plus its rate-limit wait, so the adapter decides when a call failed).
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// How long an HTTP submit waits for the venue's answer before returning the order as it is.
    #[serde(default = "default_submit_wait_ms")]
    pub submit_wait_ms: u64,
    /// How often open orders are polled over REST while a venue's user stream is down.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
}

/// Where a venue's credentials come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialSource {
    /// The simulator's demo account: `OMSD_SIM_API_KEY` / `OMSD_SIM_API_SECRET`, else its
    /// documented defaults.
    SimDemo,
    /// The environment variables named by `api_key_env` and `api_secret_env`.
    Env,
}

/// One venue account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    /// The venue's name in the API (`venue` field of orders).
    pub name: String,
    /// The adapter: `binance`.
    pub kind: String,
    #[serde(default = "default_account")]
    pub account: String,
    /// Start an embedded simulator on a free loopback port and point this venue at it.
    #[serde(default)]
    pub embedded_sim: bool,
    #[serde(default)]
    pub rest_url: Option<String>,
    #[serde(default)]
    pub stream_url: Option<String>,
    #[serde(default)]
    pub ws_api_url: Option<String>,
    #[serde(default = "default_credentials")]
    pub credentials: CredentialSource,
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub api_secret_env: Option<String>,
    /// Canonical instruments to trade and follow, e.g. `BTC-USDT`.
    #[serde(default)]
    pub symbols: Vec<String>,
    #[serde(default = "default_recv_window_ms")]
    pub recv_window_ms: u64,
    /// Connection and pacing tuning; every field defaults to the adapter's venue-safe value.
    #[serde(default)]
    pub tuning: VenueTuning,
    /// Pre-trade risk limits (`[venues.risk]`); defaults to a 2% price band and nothing else.
    #[serde(default)]
    pub risk: RiskConfig,
    /// Book snapshot sampling of this venue and its instruments (`[venues.snapshots]`);
    /// defaults to `[market_data.snapshots]`.
    #[serde(default)]
    pub snapshots: VenueSnapshotConfig,
}

/// Optional per-venue tuning of the resilience toolkit. `None` keeps the adapter's default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueTuning {
    /// Deadline of one REST call and of WebSocket connects.
    pub request_timeout_ms: Option<u64>,
    /// We ping every stream connection this often.
    pub ping_interval_ms: Option<u64>,
    /// A ping must be answered within this, or the connection is declared dead.
    pub pong_timeout_ms: Option<u64>,
    /// A market stream with no data for this long is stale (even if pongs come).
    pub market_data_timeout_ms: Option<u64>,
    /// Connections are replaced before this age (the venue closes them at 24 h).
    pub max_connection_age_ms: Option<u64>,
    /// A stream connection must stay up this long before the reconnect backoff starts over.
    pub reconnect_min_healthy_ms: Option<u64>,
    /// Round trips per venue clock measurement (1 to 10; the fastest is kept).
    pub clock_samples: Option<u32>,
    /// The venue clock is measured again when its measurement is this old.
    pub clock_resync_interval_ms: Option<u64>,
    /// WebSocket connection attempts allowed in any `connect_window_ms`.
    pub connect_budget: Option<u32>,
    /// The sliding window of `connect_budget`.
    pub connect_window_ms: Option<u64>,
    /// An order or cancel the venue accepted must show up on the user stream within this, or
    /// the stream is reconnected (a quiet account is never judged).
    pub user_event_timeout_ms: Option<u64>,
    /// Fraction of each venue rate limit we allow ourselves (0 < margin <= 1).
    pub rate_limit_margin: Option<f64>,
    /// Cap on orders sent and not yet answered.
    pub max_in_flight_orders: Option<u32>,
    /// Streams one market connection carries (the venue allows 1024, the default); more
    /// symbols open more connections.
    pub max_streams_per_connection: Option<usize>,
    /// Consecutive unknown-outcome failures that open a circuit breaker.
    pub breaker_failures: Option<u32>,
    /// How long an open breaker waits before a half-open probe.
    pub breaker_open_delay_ms: Option<u64>,
}

fn yes() -> bool {
    true
}
fn default_control_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9898))
}
fn default_log_format() -> String {
    "human".into()
}
fn default_log_level() -> String {
    "info".into()
}
fn default_store_url() -> String {
    "sqlite:var/omsd.db".into()
}
fn default_request_timeout_ms() -> u64 {
    // Above the adapter's own REST deadline (10 s) plus its rate-limit wait for orders (2 s),
    // so that the adapter, not the OMS, decides when a call failed.
    15_000
}
fn default_submit_wait_ms() -> u64 {
    5_000
}
fn default_poll_interval_ms() -> u64 {
    1_000
}
fn default_account() -> String {
    "main".into()
}
fn default_credentials() -> CredentialSource {
    CredentialSource::SimDemo
}
fn default_recv_window_ms() -> u64 {
    5_000
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            listen: default_control_listen(),
        }
    }
}
impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: default_metrics_listen(),
        }
    }
}
impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}
impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: default_store_url(),
            max_connections: None,
        }
    }
}
impl Default for OmsConfig {
    fn default() -> Self {
        OmsConfig {
            request_timeout_ms: default_request_timeout_ms(),
            submit_wait_ms: default_submit_wait_ms(),
            poll_interval_ms: default_poll_interval_ms(),
        }
    }
}

/// Problems found while loading or validating a configuration, all of them.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Reads a TOML file, applies `OMSD_*` overrides from the process environment and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(vec![format!("cannot read {}: {e}", path.display())]))?;
        let mut config = Config::from_toml(&text)?;
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML without environment overrides or validation.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(vec![e.to_string()]))
    }

    /// Applies environment overrides: `OMSD_CONTROL_LISTEN`, `OMSD_METRICS_LISTEN`,
    /// `OMSD_METRICS_ENABLED`, `OMSD_STORE_URL`, `OMSD_LOG_FORMAT`, `OMSD_LOG_LEVEL`, and per
    /// venue `OMSD_VENUE_<NAME>_{REST_URL,STREAM_URL,WS_API_URL}` (name upper-cased, `-` → `_`).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut parse_addr = |name: &str, target: &mut SocketAddr| {
            if let Some(v) = env(name) {
                match v.parse() {
                    Ok(addr) => *target = addr,
                    Err(e) => problems.push(format!("{name}={v}: {e}")),
                }
            }
        };
        parse_addr("OMSD_CONTROL_LISTEN", &mut self.control.listen);
        parse_addr("OMSD_METRICS_LISTEN", &mut self.metrics.listen);
        if let Some(v) = env("OMSD_METRICS_ENABLED") {
            match v.parse() {
                Ok(b) => self.metrics.enabled = b,
                Err(_) => {
                    problems.push(format!("OMSD_METRICS_ENABLED={v}: expected true or false"))
                }
            }
        }
        if let Some(v) = env("OMSD_STORE_URL") {
            self.store.url = v;
        }
        if let Some(v) = env("OMSD_LOG_FORMAT") {
            self.log.format = v;
        }
        if let Some(v) = env("OMSD_LOG_LEVEL") {
            self.log.level = v;
        }
        for venue in &mut self.venues {
            let prefix = format!(
                "OMSD_VENUE_{}",
                venue.name.to_ascii_uppercase().replace('-', "_")
            );
            for (suffix, field) in [
                ("REST_URL", &mut venue.rest_url),
                ("STREAM_URL", &mut venue.stream_url),
                ("WS_API_URL", &mut venue.ws_api_url),
            ] {
                if let Some(v) = env(&format!("{prefix}_{suffix}")) {
                    *field = Some(v);
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Checks the whole configuration and reports every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if !matches!(self.log.format.as_str(), "human" | "json") {
            problems.push(format!(
                "log.format '{}': expected human or json",
                self.log.format
            ));
        }
        let url = &self.store.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            problems.push("store.url: expected sqlite:PATH or postgres://...".to_string());
        }
        if self.store.max_connections == Some(0) {
            problems.push("store.max_connections must be positive".into());
        }
        if self.oms.request_timeout_ms == 0 {
            problems.push("oms.request_timeout_ms must be positive".into());
        }
        if self.oms.poll_interval_ms < 100 {
            problems.push("oms.poll_interval_ms must be at least 100".into());
        }
        problems.extend(self.market_data.problems());
        problems.extend(self.shutdown.problems());
        problems.extend(self.events.problems());
        if self.venues.is_empty() {
            problems.push("no [[venues]] configured".into());
        }
        let mut names = std::collections::HashSet::new();
        for (i, v) in self.venues.iter().enumerate() {
            let at = format!("venues[{i}] ({})", v.name);
            if v.name.is_empty()
                || !v
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(format!("{at}: name must be non-empty [A-Za-z0-9_-]"));
            }
            if !names.insert(v.name.clone()) {
                problems.push(format!("{at}: duplicate venue name"));
            }
            if v.kind != "binance" {
                problems.push(format!("{at}: unknown kind '{}' (known: binance)", v.kind));
            }
            if !v.embedded_sim {
                for (field, value) in [
                    ("rest_url", &v.rest_url),
                    ("stream_url", &v.stream_url),
                    ("ws_api_url", &v.ws_api_url),
                ] {
                    if value.as_deref().is_none_or(str::is_empty) {
                        problems.push(format!(
                            "{at}: {field} is required unless embedded_sim = true"
                        ));
                    }
                }
            }
            if v.credentials == CredentialSource::Env {
                for (field, value) in [
                    ("api_key_env", &v.api_key_env),
                    ("api_secret_env", &v.api_secret_env),
                ] {
                    if value.as_deref().is_none_or(str::is_empty) {
                        problems.push(format!(
                            "{at}: {field} is required with credentials = \"env\""
                        ));
                    }
                }
            }
            if v.symbols.is_empty() {
                problems.push(format!("{at}: symbols must list at least one instrument"));
            }
            for s in &v.symbols {
                if s.split('-').count() != 2 || s.split('-').any(str::is_empty) {
                    problems.push(format!("{at}: symbol '{s}' is not BASE-QUOTE"));
                }
            }
            if v.recv_window_ms == 0 || v.recv_window_ms > 60_000 {
                problems.push(format!("{at}: recv_window_ms must be in 1..=60000"));
            }
            problems.extend(v.tuning.problems(&at));
            problems.extend(v.snapshots.problems(&at, &v.symbols));
            problems.extend(v.risk.problems(&at, &v.symbols));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }
}

impl VenueTuning {
    fn problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let durations = [
            ("request_timeout_ms", self.request_timeout_ms),
            ("ping_interval_ms", self.ping_interval_ms),
            ("pong_timeout_ms", self.pong_timeout_ms),
            ("market_data_timeout_ms", self.market_data_timeout_ms),
            ("max_connection_age_ms", self.max_connection_age_ms),
            ("reconnect_min_healthy_ms", self.reconnect_min_healthy_ms),
            ("clock_resync_interval_ms", self.clock_resync_interval_ms),
            ("connect_window_ms", self.connect_window_ms),
            ("user_event_timeout_ms", self.user_event_timeout_ms),
            ("breaker_open_delay_ms", self.breaker_open_delay_ms),
        ];
        for (name, value) in durations {
            if value == Some(0) {
                problems.push(format!("{at}: tuning.{name} must be positive"));
            }
        }
        if self.ping_interval_ms.is_some_and(|ms| ms < 500) {
            // Binance counts pings against 5 incoming messages per second per connection.
            problems.push(format!(
                "{at}: tuning.ping_interval_ms must be at least 500 (venues cap incoming messages per second)"
            ));
        }
        if self
            .rate_limit_margin
            .is_some_and(|m| !(m > 0.0 && m <= 1.0))
        {
            problems.push(format!("{at}: tuning.rate_limit_margin must be in (0, 1]"));
        }
        if self.clock_samples.is_some_and(|n| !(1..=10).contains(&n)) {
            problems.push(format!("{at}: tuning.clock_samples must be in 1..=10"));
        }
        if self
            .max_streams_per_connection
            .is_some_and(|n| !(2..=1024).contains(&n))
        {
            problems.push(format!(
                "{at}: tuning.max_streams_per_connection must be in 2..=1024 (two streams per symbol)"
            ));
        }
        if self.max_in_flight_orders == Some(0)
            || self.breaker_failures == Some(0)
            || self.connect_budget == Some(0)
        {
            problems.push(format!("{at}: tuning counts must be positive"));
        }
        problems
    }
}

#[cfg(test)]
mod tests;

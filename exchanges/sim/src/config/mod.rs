//! Simulator configuration: one serde tree read from TOML (`deny_unknown_fields`), with every
//! default in this file, environment overrides for the credentials and a `validate()` that
//! reports every problem at once.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Deserialize;

use crate::error::SimError;

mod symbol;

pub use symbol::SymbolConfig;
use symbol::is_asset_name;

/// Demo API key accepted by a simulator started with [`SimConfig::demo`]. Not a secret: the
/// simulator only ever listens on loopback and holds play money.
pub const DEFAULT_API_KEY: &str = "omsd-sim-demo-key";
/// Demo API secret matching [`DEFAULT_API_KEY`].
pub const DEFAULT_API_SECRET: &str = "omsd-sim-demo-secret";
/// Default API key of the demo account's Ed25519 key.
pub const DEFAULT_ED25519_API_KEY: &str = "omsd-sim-demo-ed25519-key";
/// Environment variable that sets the Ed25519 public key (PEM or base64).
pub const ENV_ED25519_PUBLIC_KEY: &str = "OMSD_SIM_ED25519_PUBLIC_KEY";
/// Environment variable that overrides the API key.
pub const ENV_API_KEY: &str = "OMSD_SIM_API_KEY";
/// Environment variable that overrides the API secret.
pub const ENV_API_SECRET: &str = "OMSD_SIM_API_SECRET";

/// Everything the simulator needs to start. `Default` gives the demo market (BTCUSDT and
/// ETHUSDT) on `127.0.0.1:0` with the demo credentials.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Address to bind; tests use port 0.
    pub listen: SocketAddr,
    /// Seed of every random choice (market path, agent orders, generated ids).
    pub seed: u64,
    /// API key of the demo account.
    pub api_key: String,
    /// HMAC secret of the demo account.
    pub api_secret: String,
    /// API key of the demo account's Ed25519 key (used with `session.logon`).
    pub ed25519_api_key: String,
    /// The demo account's Ed25519 public key (PEM, or base64 of the 32 raw bytes); without it
    /// no Ed25519 key is registered.
    pub ed25519_public_key: Option<String>,
    /// Initial balances of the demo account, by asset.
    pub balances: BTreeMap<String, Decimal>,
    /// Commission rates charged to every account.
    pub fees: FeeConfig,
    /// Synthetic market agents.
    pub market: MarketConfig,
    /// Market streams and WebSocket sessions.
    pub streams: StreamConfig,
    /// Venue rate limits (REQUEST_WEIGHT, RAW_REQUESTS, ORDERS) and IP bans.
    pub limits: LimitConfig,
    /// Closed orders and trades kept per symbol for queries (oldest dropped first).
    pub history_limit: usize,
    /// Listed symbols.
    pub symbols: Vec<SymbolConfig>,
}

/// Maker and taker commission as a fraction (0.001 = 0.1 %), charged in the received asset.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeeConfig {
    pub maker: Decimal,
    pub taker: Decimal,
}

/// The synthetic market: a random-walk mid per symbol, a maker agent quoting a ladder around
/// it and a taker agent sending market orders.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketConfig {
    /// Run the agents at all; without them the books hold only user orders.
    pub enabled: bool,
    /// Interval of one market step (mid move, ladder refresh, taker draw).
    pub tick_interval_ms: u64,
    /// Price levels the maker keeps on each side.
    pub maker_levels: usize,
    /// Maker orders resting at each of those levels, each of its own size, so a new order at
    /// a level queues behind several makers.
    pub maker_orders_per_level: usize,
    /// Mean rate at which one resting maker order is cancelled and placed again (per order
    /// and second); the fresh order joins the back of its level's queue.
    pub maker_refresh_per_sec: f64,
    /// Taker orders come in bursts of this many (drawn uniformly in min..=max), one per market
    /// tick, then quiet; `taker_orders_per_sec` stays the mean order rate.
    pub taker_burst_min: u32,
    pub taker_burst_max: u32,
    /// Balance of every asset given to each agent account.
    pub agent_balance: Decimal,
}

/// Market stream and WebSocket session settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Interval of `<symbol>@depth@100ms` diff events.
    pub depth_interval_ms: u64,
    /// `<symbol>@depth` publishes every this many fast intervals (10 × 100 ms = 1000 ms).
    pub depth_slow_every: u32,
    /// Server ping frame interval on every WebSocket.
    pub ping_interval_ms: u64,
    /// Close a WebSocket whose pong is this late.
    pub pong_timeout_ms: u64,
    /// Capacity of the market-data and user-event broadcast channels; a subscriber that falls
    /// further behind is disconnected.
    pub broadcast_capacity: usize,
    /// The server closes any WebSocket this old (the venue's 24 h).
    pub max_connection_age_ms: u64,
    /// Incoming messages per second a market-stream connection may send (pings and pongs
    /// included); one more closes it.
    pub max_incoming_per_sec: u32,
    /// Lifetime of a legacy listenKey since its creation or last keepalive (the venue's 60 min).
    pub listen_key_ttl_ms: u64,
}

/// Venue rate limits, enforced per IP (weight, raw requests) and per account (orders), in the
/// venue's fixed windows. An IP that keeps sending while limited is banned (HTTP 418), for
/// `ban_initial_ms` at first and twice as long each time after, up to `ban_max_ms`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitConfig {
    pub request_weight_per_minute: u64,
    pub raw_requests_per_5m: u64,
    pub orders_per_10s: u64,
    pub orders_per_day: u64,
    /// Requests refused with 429 in one window before the IP is banned.
    pub ban_after_rejections: u32,
    pub ban_initial_ms: u64,
    pub ban_max_ms: u64,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            request_weight_per_minute: 6000,
            raw_requests_per_5m: 300_000,
            orders_per_10s: 50,
            orders_per_day: 160_000,
            ban_after_rejections: 20,
            ban_initial_ms: 120_000,
            ban_max_ms: 259_200_000,
        }
    }
}

impl Default for FeeConfig {
    fn default() -> Self {
        Self {
            maker: dec!(0.001),
            taker: dec!(0.001),
        }
    }
}

impl Default for MarketConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tick_interval_ms: 100,
            maker_levels: 20,
            maker_orders_per_level: 3,
            maker_refresh_per_sec: 0.05,
            taker_burst_min: 2,
            taker_burst_max: 6,
            agent_balance: dec!(1000000000),
        }
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            depth_interval_ms: 100,
            depth_slow_every: 10,
            ping_interval_ms: 20_000,
            pong_timeout_ms: 60_000,
            broadcast_capacity: 4096,
            max_connection_age_ms: 86_400_000,
            max_incoming_per_sec: 5,
            listen_key_ttl_ms: 3_600_000,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        let mut eth = SymbolConfig::new("ETHUSDT", "ETH", "USDT", dec!(2000));
        eth.half_spread_ticks = 10;
        eth.level_spacing_ticks = 10;
        eth.level_qty_min = dec!(0.5);
        eth.level_qty_max = dec!(10);
        eth.volatility_ticks = 3;
        eth.taker_qty_min = dec!(0.01);
        eth.taker_qty_max = dec!(0.5);
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            seed: 1,
            api_key: DEFAULT_API_KEY.to_owned(),
            api_secret: DEFAULT_API_SECRET.to_owned(),
            ed25519_api_key: DEFAULT_ED25519_API_KEY.to_owned(),
            ed25519_public_key: None,
            balances: BTreeMap::from([
                ("BTC".to_owned(), dec!(100)),
                ("ETH".to_owned(), dec!(1000)),
                ("USDT".to_owned(), dec!(10000000)),
            ]),
            fees: FeeConfig::default(),
            market: MarketConfig::default(),
            streams: StreamConfig::default(),
            limits: LimitConfig::default(),
            history_limit: 100_000,
            symbols: vec![
                SymbolConfig::new("BTCUSDT", "BTC", "USDT", dec!(30000)),
                eth,
            ],
        }
    }
}

impl SimConfig {
    /// The demo configuration; credentials come from `OMSD_SIM_API_KEY` /
    /// `OMSD_SIM_API_SECRET` when set, else [`DEFAULT_API_KEY`] / [`DEFAULT_API_SECRET`].
    pub fn demo() -> Self {
        let mut config = Self::default();
        config.apply_env();
        config
    }

    /// Reads a TOML file (missing fields take their defaults), applies the credential
    /// environment overrides and validates the result.
    pub fn from_toml_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Self = toml::from_str(&text).map_err(|source| SimError::ParseConfig {
            path: path.to_owned(),
            source,
        })?;
        config.apply_env();
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self) {
        if let Some(key) = std::env::var(ENV_API_KEY).ok().filter(|v| !v.is_empty()) {
            self.api_key = key;
        }
        if let Some(secret) = std::env::var(ENV_API_SECRET).ok().filter(|v| !v.is_empty()) {
            self.api_secret = secret;
        }
        if let Some(key) = std::env::var(ENV_ED25519_PUBLIC_KEY)
            .ok()
            .filter(|v| !v.is_empty())
        {
            self.ed25519_public_key = Some(key);
        }
    }

    /// Checks every rule and returns all problems at once.
    pub fn validate(&self) -> Result<(), SimError> {
        let mut problems = Vec::new();
        if self.api_key.is_empty() || !self.api_key.bytes().all(is_key_byte) {
            problems.push("api_key must be non-empty ASCII letters, digits, '-' or '_'".into());
        }
        if self.api_secret.is_empty() {
            problems.push("api_secret must not be empty".into());
        }
        if let Some(key) = &self.ed25519_public_key {
            if crate::auth::parse_ed25519_public_key(key).is_none() {
                problems.push("ed25519_public_key must be a PEM or base64 Ed25519 key".into());
            }
            let key_id = &self.ed25519_api_key;
            if key_id.is_empty() || !key_id.bytes().all(is_key_byte) || *key_id == self.api_key {
                problems
                    .push("ed25519_api_key must be a well-formed key other than api_key".into());
            }
        }
        for (name, value) in [
            ("fees.maker", self.fees.maker),
            ("fees.taker", self.fees.taker),
        ] {
            if value < Decimal::ZERO || value >= Decimal::ONE {
                problems.push(format!("{name} must be in [0, 1)"));
            }
        }
        self.validate_runtime(&mut problems);
        if self.symbols.is_empty() {
            problems.push("at least one symbol is required".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for symbol in &self.symbols {
            if !seen.insert(symbol.symbol.clone()) {
                problems.push(format!("symbol {} is listed twice", symbol.symbol));
            }
            symbol.validate(&mut problems);
            let resting = 2 * self.market.maker_levels * self.market.maker_orders_per_level;
            if self.market.enabled && resting > symbol.max_num_orders as usize {
                problems.push(format!(
                    "symbol {}: the maker's {resting} resting orders exceed max_num_orders",
                    symbol.symbol
                ));
            }
        }
        for (asset, amount) in &self.balances {
            if !is_asset_name(asset) || *amount < Decimal::ZERO {
                problems.push(format!(
                    "balance {asset}: need an upper-case asset and amount >= 0"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SimError::InvalidConfig(problems))
        }
    }

    fn validate_runtime(&self, problems: &mut Vec<String>) {
        let m = &self.market;
        let s = &self.streams;
        let positive = [
            ("market.tick_interval_ms", m.tick_interval_ms),
            ("streams.depth_interval_ms", s.depth_interval_ms),
            ("streams.depth_slow_every", u64::from(s.depth_slow_every)),
            ("streams.ping_interval_ms", s.ping_interval_ms),
            ("streams.pong_timeout_ms", s.pong_timeout_ms),
            ("streams.broadcast_capacity", s.broadcast_capacity as u64),
            ("history_limit", self.history_limit as u64),
            ("streams.max_connection_age_ms", s.max_connection_age_ms),
            (
                "streams.max_incoming_per_sec",
                u64::from(s.max_incoming_per_sec),
            ),
            ("streams.listen_key_ttl_ms", s.listen_key_ttl_ms),
            (
                "limits.request_weight_per_minute",
                self.limits.request_weight_per_minute,
            ),
            (
                "limits.raw_requests_per_5m",
                self.limits.raw_requests_per_5m,
            ),
            ("limits.orders_per_10s", self.limits.orders_per_10s),
            ("limits.orders_per_day", self.limits.orders_per_day),
            ("limits.ban_initial_ms", self.limits.ban_initial_ms),
        ];
        for (name, value) in positive {
            if value == 0 {
                problems.push(format!("{name} must be greater than 0"));
            }
        }
        if m.maker_levels == 0 || m.maker_levels > 1000 {
            problems.push("market.maker_levels must be in 1..=1000".into());
        }
        if m.maker_orders_per_level == 0 || m.maker_orders_per_level > 50 {
            problems.push("market.maker_orders_per_level must be in 1..=50".into());
        }
        if !m.maker_refresh_per_sec.is_finite() || m.maker_refresh_per_sec < 0.0 {
            problems.push("market.maker_refresh_per_sec must be a finite number >= 0".into());
        }
        if m.taker_burst_min == 0 || m.taker_burst_min > m.taker_burst_max {
            problems.push("market.taker_burst_min must be in 1..=market.taker_burst_max".into());
        }
        if self.limits.ban_max_ms < self.limits.ban_initial_ms {
            problems.push("limits.ban_max_ms must be at least limits.ban_initial_ms".into());
        }
        if m.agent_balance <= Decimal::ZERO {
            problems.push("market.agent_balance must be positive".into());
        }
    }
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert!(SimConfig::default().validate().is_ok());
    }

    #[test]
    fn validate_reports_every_problem() {
        let mut config = SimConfig::default();
        config.api_secret.clear();
        config.symbols[0].tick_size = Decimal::ZERO;
        config.symbols[1].symbol = "eth-usdt".into();
        config.market.tick_interval_ms = 0;
        let Err(SimError::InvalidConfig(problems)) = config.validate() else {
            panic!("expected invalid config");
        };
        assert_eq!(problems.len(), 4, "{problems:?}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let result: Result<SimConfig, _> = toml::from_str("seed = 3\nsede = 4\n");
        assert!(result.is_err());
    }

    #[test]
    fn toml_symbol_takes_defaults() {
        let text = "seed = 9\n[[symbols]]\nsymbol = \"SOLUSDT\"\nbase_asset = \"SOL\"\nquote_asset = \"USDT\"\ninitial_mid = \"150\"\n";
        let config: SimConfig = toml::from_str(text).unwrap();
        assert_eq!(config.seed, 9);
        assert_eq!(config.symbols.len(), 1);
        assert_eq!(config.symbols[0].tick_size, dec!(0.01));
        assert!(config.validate().is_ok());
    }
}

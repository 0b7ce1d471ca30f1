//! `[market_data]`: whether and how trades, book snapshots and candles are stored, and the
//! per-venue and per-instrument snapshot sampling (`[venues.snapshots]`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The market-data writer and the default snapshot sampling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketDataConfig {
    /// Store market data at all (trades, snapshots, candles).
    #[serde(default = "yes")]
    pub store: bool,
    /// Rows the writer queues before market data is dropped (counted).
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// A flush is written once this many rows wait...
    #[serde(default = "default_flush_rows")]
    pub flush_rows: usize,
    /// ... or once the oldest waiting row is this old.
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// Snapshot sampling of every book unless a venue or instrument says otherwise.
    #[serde(default)]
    pub snapshots: SnapshotConfig,
    /// Days trades are kept, where the database enforces it (TimescaleDB retention policy).
    #[serde(default = "default_trades_retention_days")]
    pub trades_retention_days: u32,
    /// Days book snapshots are kept (TimescaleDB retention policy).
    #[serde(default = "default_snapshots_retention_days")]
    pub snapshots_retention_days: u32,
    /// Chunks older than this many days are compressed (TimescaleDB compression policy).
    #[serde(default = "default_compress_after_days")]
    pub compress_after_days: u32,
}

/// Top-N book snapshots: `depth` levels per side every `interval_ms`; `interval_ms = 0`
/// turns sampling off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    #[serde(default = "default_depth")]
    pub depth: usize,
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
}

/// A venue's sampling: its own defaults, and per-instrument overrides.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueSnapshotConfig {
    pub depth: Option<usize>,
    pub interval_ms: Option<u64>,
    /// Keyed by canonical instrument, e.g. `BTC-USDT`.
    #[serde(default)]
    pub instruments: BTreeMap<String, SnapshotOverride>,
}

/// One instrument's sampling; a key left out keeps the venue's value.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotOverride {
    pub depth: Option<usize>,
    pub interval_ms: Option<u64>,
}

/// The most levels per side a snapshot keeps.
pub const MAX_SNAPSHOT_DEPTH: usize = 100;
/// The finest sampling interval (the book keeper's sampling tick).
pub const MIN_SNAPSHOT_INTERVAL_MS: u64 = 100;

fn yes() -> bool {
    true
}
fn default_queue() -> usize {
    100_000
}
fn default_flush_rows() -> usize {
    5_000
}
fn default_flush_interval_ms() -> u64 {
    250
}
fn default_trades_retention_days() -> u32 {
    90
}
fn default_snapshots_retention_days() -> u32 {
    30
}
fn default_compress_after_days() -> u32 {
    7
}
fn default_depth() -> usize {
    10
}
fn default_interval_ms() -> u64 {
    1_000
}

impl Default for MarketDataConfig {
    fn default() -> Self {
        MarketDataConfig {
            store: true,
            queue: default_queue(),
            flush_rows: default_flush_rows(),
            flush_interval_ms: default_flush_interval_ms(),
            snapshots: SnapshotConfig::default(),
            trades_retention_days: default_trades_retention_days(),
            snapshots_retention_days: default_snapshots_retention_days(),
            compress_after_days: default_compress_after_days(),
        }
    }
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            depth: default_depth(),
            interval_ms: default_interval_ms(),
        }
    }
}

fn snapshot_problems(at: &str, depth: Option<usize>, interval_ms: Option<u64>) -> Vec<String> {
    let mut problems = Vec::new();
    if depth.is_some_and(|d| d == 0 || d > MAX_SNAPSHOT_DEPTH) {
        problems.push(format!("{at}: depth must be in 1..={MAX_SNAPSHOT_DEPTH}"));
    }
    if interval_ms.is_some_and(|ms| ms != 0 && ms < MIN_SNAPSHOT_INTERVAL_MS) {
        problems.push(format!(
            "{at}: interval_ms must be 0 (off) or at least {MIN_SNAPSHOT_INTERVAL_MS}"
        ));
    }
    problems
}

impl MarketDataConfig {
    /// The retention and compression a database that manages them is given.
    pub fn policies(&self) -> crate::store::MarketPolicies {
        crate::store::MarketPolicies {
            trades_retention_days: self.trades_retention_days,
            snapshots_retention_days: self.snapshots_retention_days,
            compress_after_days: self.compress_after_days,
        }
    }

    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.queue == 0 || self.flush_rows == 0 {
            problems.push("market_data.queue and market_data.flush_rows must be positive".into());
        }
        if self.flush_interval_ms == 0 {
            problems.push("market_data.flush_interval_ms must be positive".into());
        }
        let days = [
            ("trades_retention_days", self.trades_retention_days),
            ("snapshots_retention_days", self.snapshots_retention_days),
            ("compress_after_days", self.compress_after_days),
        ];
        for (name, value) in days {
            if value == 0 {
                problems.push(format!("market_data.{name} must be positive"));
            }
        }
        let s = &self.snapshots;
        problems.extend(snapshot_problems(
            "market_data.snapshots",
            Some(s.depth),
            Some(s.interval_ms),
        ));
        problems
    }
}

impl VenueSnapshotConfig {
    pub(super) fn problems(&self, at: &str, symbols: &[String]) -> Vec<String> {
        let mut problems =
            snapshot_problems(&format!("{at}: snapshots"), self.depth, self.interval_ms);
        for (symbol, o) in &self.instruments {
            if !symbols.contains(symbol) {
                problems.push(format!(
                    "{at}: snapshots.instruments.{symbol} is not in the venue's symbols"
                ));
            }
            let here = format!("{at}: snapshots.instruments.{symbol}");
            problems.extend(snapshot_problems(&here, o.depth, o.interval_ms));
        }
        problems
    }

    /// The sampling of one instrument of this venue (`None`: not sampled).
    pub fn resolve(&self, defaults: &SnapshotConfig, symbol: &str) -> Option<SnapshotConfig> {
        let o = self.instruments.get(symbol).copied().unwrap_or_default();
        let depth = o.depth.or(self.depth).unwrap_or(defaults.depth);
        let interval_ms = o
            .interval_ms
            .or(self.interval_ms)
            .unwrap_or(defaults.interval_ms);
        (interval_ms > 0).then_some(SnapshotConfig { depth, interval_ms })
    }
}

//! Events of the market-data writer: rows stored, repeated and dropped, flushes.

use std::time::Duration;

use metrics::{counter, histogram};

use super::*;

/// Registers the writer's series of one row kind at zero.
pub fn market_rows_registered(kind: &'static str) {
    counter!(MARKET_ROWS_WRITTEN, "kind" => kind).increment(0);
    counter!(MARKET_ROWS_DUPLICATE, "kind" => kind).increment(0);
    counter!(MARKET_ROWS_DROPPED, "kind" => kind).increment(0);
}

/// A row the market-data writer had no room for.
pub fn market_row_dropped(kind: &'static str) {
    counter!(MARKET_ROWS_DROPPED, "kind" => kind).increment(1);
}

/// A market-data flush was written: what it held and what was new.
pub fn market_flush(
    batch: &crate::store::MarketBatch,
    trades_inserted: usize,
    snapshots_inserted: usize,
    elapsed: Duration,
) {
    let rows = [
        ("trade", batch.trades.len(), trades_inserted),
        ("snapshot", batch.snapshots.len(), snapshots_inserted),
    ];
    for (kind, offered, inserted) in rows {
        counter!(MARKET_ROWS_WRITTEN, "kind" => kind).increment(inserted as u64);
        let duplicate = offered.saturating_sub(inserted) as u64;
        counter!(MARKET_ROWS_DUPLICATE, "kind" => kind).increment(duplicate);
    }
    histogram!(MARKET_FLUSH_ROWS).record(batch.len() as f64);
    histogram!(MARKET_FLUSH_SECONDS).record(elapsed.as_secs_f64());
}

/// A market-data flush failed; its rows are kept and retried.
pub fn market_flush_failed(rows: usize, error: &str) {
    tracing::warn!(rows, error, "market data flush failed; retrying");
    counter!(MARKET_FLUSH_FAILURES).increment(1);
}

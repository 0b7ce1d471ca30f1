//! The SQLite backend: the embedded default, one WAL-mode file (under `var/` by default).
//!
//! SQLite admits one writer at a time, so writes go through a one-connection pool and queue in
//! this process instead of spinning on the busy timeout; reads use their own small pool and see
//! the last committed state (WAL readers never block the writer). Decimals are stored as their
//! exact text and times as epoch milliseconds: rows already have the portable shape of `rows`.

use std::path::Path;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use futures_util::future::BoxFuture;

use super::StoreError;
use super::market::{MarketBatch, MarketOutcome, MarketPolicies};
use super::sql::{Cast, Dialect, SqlStore};

/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent readers of a file database.
const READ_CONNECTIONS: u32 = 4;

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// Columns are already in the portable shape; `$N` placeholders are SQLite's too, and bound
/// values are stored as they are (decimals as text, times as integers, JSON as checked text).
impl Dialect for Sqlite {
    const ORDER_COLUMNS: &'static str = "id, venue, account, symbol, venue_symbol, \
         client_order_id, venue_order_id, side, order_type, time_in_force, quantity, price, \
         status, filled_quantity, cumulative_quote, reject_reason, idempotency_key, request_hash, \
         created_at AS created_at_ms, updated_at AS updated_at_ms, status_inferred";
    const FILL_COLUMNS: &'static str = "order_id, venue, venue_symbol, trade_id, side, price, \
         quantity, fee, fee_asset, is_maker, traded_at AS time_ms";
    const EVENT_COLUMNS: &'static str = "order_id, kind, status, detail, created_at AS time_ms";
    const UNMATCHED_FILL_COLUMNS: &'static str = "venue, venue_symbol, venue_order_id, \
         client_order_id, trade_id, side, price, quantity, fee, fee_asset, is_maker, \
         traded_at AS time_ms";
    const BALANCE_COLUMNS: &'static str =
        "venue, account, asset, free, locked, updated_at AS updated_at_ms";
    const SETTING_COLUMNS: &'static str = "value";
    const TRADE_COLUMNS: &'static str = "venue, venue_symbol, trade_id, price, quantity, \
         taker_side, traded_at AS time_ms, received_at AS received_ms";
    const CANDLE_COLUMNS: &'static str = "venue, venue_symbol, bucket AS open_time_ms, open, \
         high, low, close, volume, trades, first_at AS first_at_ms, first_trade_id, \
         last_at AS last_at_ms, last_trade_id";
    const SNAPSHOT_COLUMNS: &'static str =
        "venue, venue_symbol, taken_at AS time_ms, update_id, bids, asks";
    const INSTRUMENT_COLUMNS: &'static str = "info, fetched_at AS fetched_at_ms";
    /// The write transaction holds the database's one write lock already.
    const LOCK_ROWS: &'static str = "";
    /// IMMEDIATE takes the write lock up front, so a transaction never reads a state that
    /// another process changes before it writes.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    /// `SQLITE_MAX_VARIABLE_NUMBER` of the bundled SQLite.
    const MAX_BIND_PARAMS: usize = 32_766;
    const DECIMAL: Cast = Cast::NONE;
    const TIME: Cast = Cast::NONE;
    const JSON: Cast = Cast::NONE;

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn write_market<'a>(
        store: &'a SqlStore<Self>,
        batch: &'a MarketBatch,
    ) -> BoxFuture<'a, Result<MarketOutcome, StoreError>> {
        Box::pin(store.write_market_values(batch))
    }

    /// SQLite has no continuous aggregates: the store always keeps the rollup.
    fn keeps_rollup(_: &SqlStore<Self>) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async { Ok(true) })
    }

    /// Nothing manages SQLite's market data but the daemon: nothing to set.
    fn market_policies<'a>(
        _: &'a SqlStore<Self>,
        _: &'a MarketPolicies,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async { Ok(false) })
    }
}

/// A [`super::Store`] on an SQLite database.
pub type SqliteStore = SqlStore<Sqlite>;

impl SqliteStore {
    /// Opens the database a `sqlite:PATH` / `sqlite://PATH` URL names, creating the file and its
    /// parent directory if missing; WAL mode, `synchronous=FULL`, foreign keys enforced.
    /// `sqlite::memory:` opens a private in-memory database (one connection).
    ///
    /// `FULL` syncs the WAL on every commit: an order's intent must survive a power loss once
    /// its transaction has committed, because the order goes to the venue right after
    /// (invariant 1). `NORMAL` in WAL mode may lose the last commits on power loss.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: SqliteConnectOptions = url.parse()?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = |size| {
            SqlitePoolOptions::new()
                .max_connections(size)
                .acquire_timeout(ACQUIRE_TIMEOUT)
        };
        if is_in_memory(url) {
            // The database lives as long as its one connection: never let the pool retire it.
            let only = pool(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            let writer = only.connect_with(options).await?;
            return Ok(Self::new(writer.clone(), writer));
        }
        create_parent_dir(options.get_filename())?;
        // A connection to a local file does not go stale: pinging it before every write (the
        // pool's default) would add a round trip to the database thread to every commit.
        let writer = pool(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let reader = pool(READ_CONNECTIONS).connect_with(options).await?;
        Ok(Self::new(writer, reader))
    }
}

/// `sqlite::memory:` and `?mode=memory` name a database that lives in this process only.
fn is_in_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    rest.starts_with(":memory:") || rest.contains("mode=memory")
}

fn create_parent_dir(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))
        }
        _ => Ok(()),
    }
}

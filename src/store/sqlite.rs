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

use super::StoreError;
use super::sql::{Dialect, SqlStore};

/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent readers of a file database.
const READ_CONNECTIONS: u32 = 4;

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// The `orders` columns in the portable shape (a macro so that `concat!` can use it).
macro_rules! order_columns {
    () => {
        "id, venue, account, symbol, venue_symbol, client_order_id, venue_order_id, side, \
         order_type, time_in_force, quantity, price, status, filled_quantity, cumulative_quote, \
         reject_reason, idempotency_key, request_hash, created_at AS created_at_ms, \
         updated_at AS updated_at_ms"
    };
}

/// Columns are already in the portable shape; `$N` placeholders are SQLite's too.
impl Dialect for Sqlite {
    const ORDER_COLUMNS: &'static str = order_columns!();
    const FILL_COLUMNS: &'static str = "order_id, venue, venue_symbol, trade_id, side, price, \
         quantity, fee, fee_asset, is_maker, traded_at AS time_ms";
    const EVENT_COLUMNS: &'static str = "order_id, kind, status, detail, created_at AS time_ms";
    /// IMMEDIATE takes the write lock up front, so a transaction never reads a state that
    /// another process changes before it writes.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const INSERT_ORDER: &'static str = concat!(
        "INSERT INTO orders (venue, account, symbol, venue_symbol, client_order_id, side, \
         order_type, time_in_force, quantity, price, status, idempotency_key, request_hash, \
         created_at, updated_at, filled_quantity, cumulative_quote) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, '0', '0') \
         ON CONFLICT DO NOTHING RETURNING ",
        order_columns!()
    );
    const INSERT_KEY: &'static str = "INSERT INTO idempotency_keys \
         (key, order_id, request_hash, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING RETURNING key";
    const UPDATE_ORDER: &'static str = "UPDATE orders SET status = $1, filled_quantity = $2, \
         cumulative_quote = $3, venue_order_id = COALESCE($4, venue_order_id), \
         reject_reason = COALESCE($5, reject_reason), updated_at = $6 \
         WHERE id = $7 RETURNING id";
    const INSERT_EVENT: &'static str = "INSERT INTO order_events \
         (order_id, kind, status, detail, created_at) VALUES ($1, $2, $3, $4, $5)";
    const INSERT_FILL: &'static str = "INSERT INTO fills (order_id, venue, venue_symbol, \
         trade_id, side, price, quantity, fee, fee_asset, is_maker, traded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (venue, venue_symbol, trade_id) DO NOTHING RETURNING id";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }
}

/// A [`super::Store`] on an SQLite database.
pub type SqliteStore = SqlStore<Sqlite>;

impl SqliteStore {
    /// Opens the database a `sqlite:PATH` / `sqlite://PATH` URL names, creating the file and its
    /// parent directory if missing; WAL mode, `synchronous=NORMAL`, foreign keys enforced.
    /// `sqlite::memory:` opens a private in-memory database (one connection).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: SqliteConnectOptions = url.parse()?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
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
            return Ok(Self {
                reader: writer.clone(),
                writer,
            });
        }
        create_parent_dir(options.get_filename())?;
        let writer = pool(1).connect_with(options.clone()).await?;
        let reader = pool(READ_CONNECTIONS).connect_with(options).await?;
        Ok(Self { writer, reader })
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

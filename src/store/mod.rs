//! Durable storage of orders, their audit trail, fills, idempotency keys and the state the
//! order processor keeps across restarts (balances, watermarks, unmatched fills, settings).
//!
//! [`Store`] hides two backends behind one behaviour: SQLite (the embedded default, a WAL file
//! under `var/`) and PostgreSQL/TimescaleDB (selected by a `postgres://` URL). The OMS decides
//! every state change; the store writes everything one OMS turn decided ([`WriteBatch`]) in one
//! transaction with a handful of multi-row statements, stores a fill once per order and returns
//! what it actually wrote so duplicates can be counted.
//!
//! [`open`] picks the backend from a URL. Layout:
//! - `records`: the records read and written, and [`WriteBatch`];
//! - `sql`: [`SqlStore`], the one implementation of [`Store`], generic over a backend's SQL
//!   text; `read`: its newer reads; `batch`: [`Store::write_batch`], the one write
//!   transaction; `write`: the single-order writes on top of it;
//! - `rows`: what the backends share below the SQL: row to record conversion, status and decimal
//!   parsing; `filters`: listing filters and limits;
//! - [`sqlite`] and [`postgres`]: each backend's SQL text, connection set-up and migrations
//!   (`migrations/sqlite`, `migrations/postgres`, embedded at build time);
//! - `suite` (tests only): one behaviour suite run against every backend.

mod batch;
mod copy;
mod filters;
mod instruments;
pub mod market;
mod market_sql;
pub mod postgres;
mod read;
mod records;
mod report;
mod rows;
mod sql;
pub mod sqlite;
#[cfg(test)]
mod suite;
mod timescale;
mod write;

use std::sync::Arc;

use async_trait::async_trait;

/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported store url '{0}': expected sqlite:PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
    /// A change ([`Store::apply_change`], [`Store::write_batch`]) named an order that is not
    /// stored.
    #[error("order {0} not found")]
    OrderNotFound(i64),
}

pub(crate) use batch::{change_event, created_event};
pub use filters::{DEFAULT_LIST_LIMIT, DEFAULT_MARKET_LIMIT, MAX_LIST_LIMIT, MAX_MARKET_LIMIT};
pub use instruments::CachedInstrument;
pub use market::{
    BookSnapshotRecord, Candle, MarketBatch, MarketOutcome, MarketPolicies, MarketQuery,
    TradeRecord,
};
pub use postgres::PostgresStore;
pub use records::{
    BalanceRecord, BatchOutcome, ChangeOutcome, CreateOutcome, FillRecord, IdempotencyKeyRecord,
    NewOrderRecord, OrderChange, OrderEventRecord, OrderFilter, OrderRecord, SequencedEvent,
    UnmatchedFillRecord, Watermark, WriteBatch,
};
pub use report::{ReportInputs, SymbolFill};
pub use sql::SqlStore;
pub use sqlite::SqliteStore;

/// Opens the store a URL names, without migrating it (call [`Store::migrate`] next):
/// - `sqlite:PATH` or `sqlite://PATH`: an SQLite file, created with its parent directory if
///   missing (`sqlite::memory:` for a throwaway in-memory database);
/// - `postgres://...` or `postgresql://...`: a PostgreSQL server.
///
/// Anything else is [`StoreError::UnsupportedUrl`]. The URL's password never reaches a log or
/// an error.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, None).await
}

/// [`open`] with a cap on the connections to a PostgreSQL server (`None`: the default).
pub async fn open_with(
    url: &str,
    max_connections: Option<u32>,
) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = match Backend::of(url) {
        Some(Backend::Sqlite) => Arc::new(SqliteStore::connect(url).await?),
        Some(Backend::Postgres) => match max_connections {
            Some(n) => Arc::new(PostgresStore::connect_with(url, n).await?),
            None => Arc::new(PostgresStore::connect(url).await?),
        },
        None => return Err(StoreError::UnsupportedUrl(redact_url(url))),
    };
    tracing::info!(url = %redact_url(url), "store opened");
    Ok(store)
}

/// The backends [`open`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn of(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once(':')?;
        match scheme {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" if rest.starts_with("//") => Some(Self::Postgres),
            _ => None,
        }
    }
}

/// The URL with its password and query string (which may carry `password=`) masked, fit for
/// logs and errors.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, _)) => (base, "?..."),
        None => (url, ""),
    };
    let (scheme, rest) = match base.find("://") {
        Some(end) => base.split_at(end + 3),
        None => ("", base),
    };
    // The last `@` ends the user info even when a password holds an unescaped `/` or `@`.
    match rest
        .rsplit_once('@')
        .and_then(|(userinfo, host)| Some((userinfo.split_once(':')?, host)))
    {
        Some(((user, _password), host)) => format!("{scheme}{user}:***@{host}{query}"),
        None => format!("{base}{query}"),
    }
}

/// The storage behaviour shared by every backend.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Runs this backend's migrations (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Writes a new order as `pending_new` together with its idempotency key and a `created`
    /// event, in one transaction; if the key or the (venue, account, client order id) already
    /// exists, writes nothing and returns the existing order. Safe under concurrent calls.
    async fn create_order(&self, order: &NewOrderRecord) -> Result<CreateOutcome, StoreError>;

    /// Applies one OMS-decided change: updates the order row, appends an event row and inserts
    /// the fills that are not stored yet, in one transaction.
    async fn apply_change(&self, change: &OrderChange) -> Result<ChangeOutcome, StoreError>;

    async fn get_order(&self, id: i64) -> Result<Option<OrderRecord>, StoreError>;

    async fn find_order_by_client_id(
        &self,
        venue: &str,
        account: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError>;

    /// The order the venue knows by `venue_order_id` on `venue_symbol`.
    async fn find_order_by_venue_order_id(
        &self,
        venue: &str,
        venue_symbol: &str,
        venue_order_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError>;

    /// The newest stored fill of a venue symbol (highest numeric trade id), where a backfill
    /// of missed fills starts.
    async fn last_fill(
        &self,
        venue: &str,
        venue_symbol: &str,
    ) -> Result<Option<FillRecord>, StoreError>;

    async fn find_order_by_idempotency_key(
        &self,
        key: &str,
    ) -> Result<Option<OrderRecord>, StoreError>;

    /// Orders matching the filter, newest first.
    async fn list_orders(&self, filter: &OrderFilter) -> Result<Vec<OrderRecord>, StoreError>;

    /// The venue symbols a venue has stored orders on, any status (whose order history
    /// reconciliation reads).
    async fn traded_symbols(&self, venue: &str) -> Result<Vec<String>, StoreError>;

    /// Orders of a venue that are not in a terminal state (for reconciliation).
    async fn open_orders(&self, venue: &str) -> Result<Vec<OrderRecord>, StoreError>;

    /// Fills of one order, oldest first.
    async fn fills_for_order(&self, order_id: i64) -> Result<Vec<FillRecord>, StoreError>;

    /// Audit events of one order, oldest first.
    async fn events_for_order(&self, order_id: i64) -> Result<Vec<OrderEventRecord>, StoreError>;

    /// Up to `limit` events with a sequence above `after`, ascending, with their orders'
    /// venue, symbol and client order id (the live event feed's replay).
    async fn events_after(&self, after: i64, limit: i64)
    -> Result<Vec<SequencedEvent>, StoreError>;

    /// Writes the whole batch in one transaction, or nothing (error): a change to an order that
    /// is not stored fails the batch with [`StoreError::OrderNotFound`].
    async fn write_batch(&self, batch: &WriteBatch) -> Result<BatchOutcome, StoreError>;

    /// Orders the OMS keeps in memory: every non-terminal order, and every order whose status is
    /// inferred (`status_inferred`), all venues, oldest first.
    async fn live_orders(&self) -> Result<Vec<OrderRecord>, StoreError>;

    /// Fills of many orders at once (for loading the live working set), by order then time.
    async fn fills_for_orders(&self, order_ids: &[i64]) -> Result<Vec<FillRecord>, StoreError>;

    /// The newest `limit` idempotency keys (newest first).
    async fn recent_idempotency_keys(
        &self,
        limit: i64,
    ) -> Result<Vec<IdempotencyKeyRecord>, StoreError>;

    /// Stored balances of one venue (or all), by venue, account and asset.
    async fn balances(&self, venue: Option<&str>) -> Result<Vec<BalanceRecord>, StoreError>;

    /// Watermarks of one venue, by venue symbol and kind.
    async fn watermarks(&self, venue: &str) -> Result<Vec<Watermark>, StoreError>;

    /// Unmatched fills of one venue order, oldest first.
    async fn unmatched_fills(
        &self,
        venue: &str,
        venue_symbol: &str,
        venue_order_id: &str,
    ) -> Result<Vec<UnmatchedFillRecord>, StoreError>;

    /// Count of unmatched fills of a venue (for metrics and status).
    async fn unmatched_fill_count(&self, venue: &str) -> Result<i64, StoreError>;

    /// The value of one setting, if set.
    async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError>;

    /// Writes one market-data flush in one transaction: the trades and snapshots not stored
    /// yet (a replayed one is left alone), and the stored trades folded into the one-minute
    /// candles. Only the market-data writer calls this; orders never go through it.
    async fn write_market(&self, batch: &MarketBatch) -> Result<MarketOutcome, StoreError>;

    /// Caches a venue's instruments as fetched at `fetched_at_ms` (each replaces its earlier
    /// copy).
    async fn save_instruments(
        &self,
        venue: &str,
        instruments: &[exchange_core::Instrument],
        fetched_at_ms: i64,
    ) -> Result<(), StoreError>;

    /// The cached instruments of a venue, by canonical name.
    async fn cached_instruments(&self, venue: &str) -> Result<Vec<CachedInstrument>, StoreError>;

    /// Replaces the database's retention and compression policies of market data with
    /// `policies` where the database manages them (TimescaleDB); true if it does, false where
    /// market data is kept in plain tables (nothing is changed then).
    async fn apply_market_policies(&self, policies: &MarketPolicies) -> Result<bool, StoreError>;

    /// Stored trades of one venue symbol, newest first.
    async fn trades(&self, query: &MarketQuery) -> Result<Vec<TradeRecord>, StoreError>;

    /// One-minute candles of one venue symbol, newest first.
    async fn candles(&self, query: &MarketQuery) -> Result<Vec<Candle>, StoreError>;

    /// Stored book snapshots of one venue symbol, newest first.
    async fn book_snapshots(
        &self,
        query: &MarketQuery,
    ) -> Result<Vec<BookSnapshotRecord>, StoreError>;

    /// The end-of-day report's inputs: orders created in `[from_ms, to_ms)` and every fill
    /// traded before `to_ms`, of one venue or all.
    async fn report_inputs(
        &self,
        venue: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<ReportInputs, StoreError>;

    /// A cheap round trip (`SELECT 1`): is the store reachable now?
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes the connection pool, flushing what is pending.
    async fn close(&self);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_by_url() {
        let cases = [
            ("sqlite:var/omsd.db", Some(Backend::Sqlite)),
            ("sqlite://var/omsd.db", Some(Backend::Sqlite)),
            ("sqlite::memory:", Some(Backend::Sqlite)),
            (
                "postgres://omsd@127.0.0.1:5432/omsd",
                Some(Backend::Postgres),
            ),
            ("postgresql://omsd:pw@db/omsd", Some(Backend::Postgres)),
            ("postgres:omsd", None),
            ("mysql://root@db/omsd", None),
            ("var/omsd.db", None),
            ("", None),
        ];
        for (url, want) in cases {
            assert_eq!(Backend::of(url), want, "{url}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        let cases = [
            (
                "postgres://omsd:s3cret@db:5432/omsd",
                "postgres://omsd:***@db:5432/omsd",
            ),
            ("postgres://omsd@db/omsd", "postgres://omsd@db/omsd"),
            (
                "postgres://db/omsd?password=s3cret&sslmode=require",
                "postgres://db/omsd?...",
            ),
            (
                "mysql://root:pa/s@s3cret@db/omsd",
                "mysql://root:***@db/omsd",
            ),
            ("root:s3cret@db", "root:***@db"),
            ("sqlite:var/omsd.db", "sqlite:var/omsd.db"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[tokio::test]
    async fn unsupported_urls_are_refused_without_their_secrets() {
        let Err(error) = open("mysql://root:s3cret@db/omsd").await else {
            panic!("a mysql url must be refused");
        };
        assert!(matches!(error, StoreError::UnsupportedUrl(_)), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("mysql://root:***@db/omsd"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}

//! Durable storage of orders, their audit trail, fills and idempotency keys.
//!
//! [`Store`] hides two backends behind one behaviour: SQLite (the embedded default, a WAL file
//! under `var/`) and PostgreSQL/TimescaleDB (selected by a `postgres://` URL). The OMS decides
//! every state change; the store writes each change (order row, event row, fill rows) in one
//! transaction, stores a fill once (unique per venue, symbol and trade id) and returns what it
//! actually wrote so duplicates can be counted.
//!
//! [`open`] picks the backend from a URL. Layout:
//! - `sql`: [`SqlStore`], the one implementation of [`Store`], generic over a backend's SQL
//!   text; `write`: its two write transactions;
//! - `rows`: what the backends share below the SQL: row to record conversion, status and decimal
//!   parsing, listing filters and limits;
//! - [`sqlite`] and [`postgres`]: each backend's SQL text, connection set-up and migrations
//!   (`migrations/sqlite`, `migrations/postgres`, embedded at build time);
//! - `suite` (tests only): one behaviour suite run against every backend.

pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;
#[cfg(test)]
mod suite;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use exchange_core::{OrderStatus, OrderType, Side, TimeInForce};
use rust_decimal::Decimal;
use serde::Serialize;

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
    /// [`Store::apply_change`] named an order that is not stored.
    #[error("order {0} not found")]
    OrderNotFound(i64),
}

pub use postgres::PostgresStore;
pub use rows::{DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT};
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
    let store: Arc<dyn Store> = match Backend::of(url) {
        Some(Backend::Sqlite) => Arc::new(SqliteStore::connect(url).await?),
        Some(Backend::Postgres) => Arc::new(PostgresStore::connect(url).await?),
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

/// An order as stored: the current state plus its identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRecord {
    pub id: i64,
    pub venue: String,
    pub account: String,
    /// Canonical instrument name, e.g. `BTC-USDT`.
    pub symbol: String,
    pub venue_symbol: String,
    pub client_order_id: String,
    pub venue_order_id: Option<String>,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub status: OrderStatus,
    pub filled_quantity: Decimal,
    pub cumulative_quote: Decimal,
    pub reject_reason: Option<String>,
    pub idempotency_key: String,
    /// Hash of the request body that created the order (to refuse a reused key with a new body).
    pub request_hash: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A new order intent, written as `pending_new` before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrderRecord {
    pub venue: String,
    pub account: String,
    pub symbol: String,
    pub venue_symbol: String,
    pub client_order_id: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub idempotency_key: String,
    pub request_hash: String,
    pub created_at_ms: i64,
}

/// Outcome of [`Store::create_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// A new order row was written (status `pending_new`).
    Created(OrderRecord),
    /// The idempotency key (or the client order id) was already used: the existing order.
    Existing(OrderRecord),
}

/// A fill as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FillRecord {
    pub order_id: i64,
    pub venue: String,
    pub venue_symbol: String,
    pub trade_id: String,
    pub side: Side,
    pub price: Decimal,
    pub quantity: Decimal,
    pub fee: Decimal,
    pub fee_asset: Option<String>,
    pub is_maker: bool,
    pub time_ms: i64,
}

/// One change to an order decided by the OMS: the new current state, an audit event and any
/// fills. Written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChange {
    pub order_id: i64,
    pub status: OrderStatus,
    pub filled_quantity: Decimal,
    pub cumulative_quote: Decimal,
    pub venue_order_id: Option<String>,
    pub reject_reason: Option<String>,
    /// Short bounded event kind for the audit row, e.g. `ack`, `execution`, `cancel_requested`.
    pub event_kind: String,
    /// Free-form JSON detail for the audit row.
    pub event_detail: serde_json::Value,
    pub fills: Vec<FillRecord>,
    pub time_ms: i64,
}

/// What [`Store::apply_change`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeOutcome {
    /// Fills newly inserted; the rest were already stored (duplicates).
    pub fills_inserted: usize,
}

/// Filters for listing orders. `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub venue: Option<String>,
    pub symbol: Option<String>,
    pub status: Option<OrderStatus>,
    /// Maximum rows, newest first.
    pub limit: i64,
}

/// An audit event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderEventRecord {
    pub order_id: i64,
    pub kind: String,
    pub status: OrderStatus,
    pub detail: serde_json::Value,
    pub time_ms: i64,
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

    /// Orders of a venue that are not in a terminal state (for reconciliation).
    async fn open_orders(&self, venue: &str) -> Result<Vec<OrderRecord>, StoreError>;

    /// Fills of one order, oldest first.
    async fn fills_for_order(&self, order_id: i64) -> Result<Vec<FillRecord>, StoreError>;

    /// Audit events of one order, oldest first.
    async fn events_for_order(&self, order_id: i64) -> Result<Vec<OrderEventRecord>, StoreError>;

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

//! The PostgreSQL backend (production, also TimescaleDB): selected by a `postgres://` URL.
//!
//! Decimals are `NUMERIC` and times `TIMESTAMPTZ`. Every `SELECT` converts them to the portable
//! shape of `rows` (`NUMERIC::TEXT` is exact; times become epoch milliseconds) and every write
//! converts epoch milliseconds back in SQL. One pool serves reads and writes.

use std::time::Duration;

use sqlx::Postgres;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::StoreError;
use super::sql::{Cast, Dialect, SqlStore};

/// Connections to the server: the OMS writes from one actor, the rest are reads.
const MAX_CONNECTIONS: u32 = 8;
/// How long a caller waits for a pooled connection (or a new one to be established). Short:
/// while the server cannot be reached, sqlx keeps retrying the connection until this passes,
/// and the order whose intent waits on that write should get its 503 in seconds, not hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Server-side deadline of any one statement: a hung query fails instead of stalling the OMS.
const STATEMENT_TIMEOUT: &str = "30s";

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Reads cast `NUMERIC` to text and times to epoch milliseconds; writes cast back
/// (`to_timestamp` keeps microseconds, so milliseconds round-trip exactly).
impl Dialect for Postgres {
    const ORDER_COLUMNS: &'static str = "id, venue, account, symbol, venue_symbol, \
         client_order_id, venue_order_id, side, order_type, time_in_force, \
         quantity::TEXT AS quantity, price::TEXT AS price, status, \
         filled_quantity::TEXT AS filled_quantity, cumulative_quote::TEXT AS cumulative_quote, \
         reject_reason, idempotency_key, request_hash, \
         (EXTRACT(EPOCH FROM created_at) * 1000)::BIGINT AS created_at_ms, \
         (EXTRACT(EPOCH FROM updated_at) * 1000)::BIGINT AS updated_at_ms, status_inferred";
    const FILL_COLUMNS: &'static str = "order_id, venue, venue_symbol, trade_id, side, \
         price::TEXT AS price, quantity::TEXT AS quantity, fee::TEXT AS fee, fee_asset, is_maker, \
         (EXTRACT(EPOCH FROM traded_at) * 1000)::BIGINT AS time_ms";
    const EVENT_COLUMNS: &'static str = "order_id, kind, status, detail::TEXT AS detail, \
         (EXTRACT(EPOCH FROM created_at) * 1000)::BIGINT AS time_ms";
    const UNMATCHED_FILL_COLUMNS: &'static str = "venue, venue_symbol, venue_order_id, \
         client_order_id, trade_id, side, price::TEXT AS price, quantity::TEXT AS quantity, \
         fee::TEXT AS fee, fee_asset, is_maker, \
         (EXTRACT(EPOCH FROM traded_at) * 1000)::BIGINT AS time_ms";
    const BALANCE_COLUMNS: &'static str = "venue, account, asset, free::TEXT AS free, \
         locked::TEXT AS locked, (EXTRACT(EPOCH FROM updated_at) * 1000)::BIGINT AS updated_at_ms";
    const SETTING_COLUMNS: &'static str = "value::TEXT AS value";
    /// READ COMMITTED: each statement sees what others committed before it.
    const BEGIN_WRITE: &'static str = "BEGIN";
    /// The wire protocol counts parameters in 16 bits.
    const MAX_BIND_PARAMS: usize = 65_535;
    const DECIMAL: Cast = Cast {
        before: "",
        after: "::NUMERIC",
    };
    const TIME: Cast = Cast {
        before: "to_timestamp(",
        after: " / 1000.0)",
    };
    const JSON: Cast = Cast {
        before: "",
        after: "::JSONB",
    };

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }
}

/// A [`super::Store`] on a PostgreSQL database.
pub type PostgresStore = SqlStore<Postgres>;

impl PostgresStore {
    /// Connects to the database a `postgres://` / `postgresql://` URL names.
    ///
    /// `synchronous_commit=on` is set explicitly, whatever the server's default: a commit
    /// returns only once its WAL is flushed, so an order's intent is durable before the order
    /// goes to the venue (invariant 1). `off` could lose acknowledged commits on a crash.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let options = options.application_name("omsd").options([
            ("statement_timeout", STATEMENT_TIMEOUT),
            ("synchronous_commit", "on"),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self {
            reader: pool.clone(),
            writer: pool,
        })
    }
}

//! The PostgreSQL backend (production, also TimescaleDB): selected by a `postgres://` URL.
//!
//! Decimals are `NUMERIC` and times `TIMESTAMPTZ`. Every `SELECT` converts them to the portable
//! shape of `rows` (`NUMERIC::TEXT` is exact; times become epoch milliseconds) and every write
//! converts epoch milliseconds back in SQL. One pool serves reads and writes.

use std::time::Duration;

use sqlx::Postgres;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use futures_util::future::BoxFuture;

use super::StoreError;
use super::market::{MarketBatch, MarketOutcome, MarketPolicies};
use super::sql::{Cast, Dialect, SqlStore};

/// Connections to the server by default: the OMS writes from one actor, the rest are reads.
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
    const TRADE_COLUMNS: &'static str = "venue, venue_symbol, trade_id, price::TEXT AS price, \
         quantity::TEXT AS quantity, taker_side, \
         (EXTRACT(EPOCH FROM traded_at) * 1000)::BIGINT AS time_ms, \
         (EXTRACT(EPOCH FROM received_at) * 1000)::BIGINT AS received_ms";
    const CANDLE_COLUMNS: &'static str = "venue, venue_symbol, \
         (EXTRACT(EPOCH FROM bucket) * 1000)::BIGINT AS open_time_ms, open::TEXT AS open, \
         high::TEXT AS high, low::TEXT AS low, close::TEXT AS close, volume::TEXT AS volume, \
         trades, (EXTRACT(EPOCH FROM first_at) * 1000)::BIGINT AS first_at_ms, first_trade_id, \
         (EXTRACT(EPOCH FROM last_at) * 1000)::BIGINT AS last_at_ms, last_trade_id";
    const SNAPSHOT_COLUMNS: &'static str = "venue, venue_symbol, \
         (EXTRACT(EPOCH FROM taken_at) * 1000)::BIGINT AS time_ms, update_id, \
         bids::TEXT AS bids, asks::TEXT AS asks";
    const INSTRUMENT_COLUMNS: &'static str =
        "info::TEXT AS info, (EXTRACT(EPOCH FROM fetched_at) * 1000)::BIGINT AS fetched_at_ms";
    /// Another writer (a second daemon on the same database) waits instead of losing a merge.
    const LOCK_ROWS: &'static str = " FOR UPDATE";
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

    fn write_market<'a>(
        store: &'a SqlStore<Self>,
        batch: &'a MarketBatch,
    ) -> BoxFuture<'a, Result<MarketOutcome, StoreError>> {
        Box::pin(store.write_market_pg(batch))
    }

    fn keeps_rollup(store: &SqlStore<Self>) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(store.candles_are_a_table())
    }

    fn market_policies<'a>(
        store: &'a SqlStore<Self>,
        policies: &'a MarketPolicies,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(store.timescale_policies(policies))
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
        Self::connect_with(url, MAX_CONNECTIONS).await
    }

    /// [`Self::connect`] with at most `max_connections` connections to the server.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let options = options.application_name("omsd").options([
            ("statement_timeout", STATEMENT_TIMEOUT),
            ("synchronous_commit", "on"),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self::new(pool.clone(), pool))
    }
}

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
use super::sql::{Dialect, SqlStore};

/// Connections to the server: the OMS writes from one actor, the rest are reads.
const MAX_CONNECTIONS: u32 = 8;
/// How long a caller waits for a pooled connection (or a new one to be established).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Server-side deadline of any one statement: a hung query fails instead of stalling the OMS.
const STATEMENT_TIMEOUT: &str = "30s";

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The `orders` columns in the portable shape (a macro so that `concat!` can use it).
macro_rules! order_columns {
    () => {
        "id, venue, account, symbol, venue_symbol, client_order_id, venue_order_id, side, \
         order_type, time_in_force, quantity::TEXT AS quantity, price::TEXT AS price, status, \
         filled_quantity::TEXT AS filled_quantity, cumulative_quote::TEXT AS cumulative_quote, \
         reject_reason, idempotency_key, request_hash, \
         (EXTRACT(EPOCH FROM created_at) * 1000)::BIGINT AS created_at_ms, \
         (EXTRACT(EPOCH FROM updated_at) * 1000)::BIGINT AS updated_at_ms"
    };
}

/// Reads cast `NUMERIC` to text and times to epoch milliseconds; writes cast back
/// (`to_timestamp` keeps microseconds, so milliseconds round-trip exactly).
impl Dialect for Postgres {
    const ORDER_COLUMNS: &'static str = order_columns!();
    const FILL_COLUMNS: &'static str = "order_id, venue, venue_symbol, trade_id, side, \
         price::TEXT AS price, quantity::TEXT AS quantity, fee::TEXT AS fee, fee_asset, is_maker, \
         (EXTRACT(EPOCH FROM traded_at) * 1000)::BIGINT AS time_ms";
    const EVENT_COLUMNS: &'static str = "order_id, kind, status, detail::TEXT AS detail, \
         (EXTRACT(EPOCH FROM created_at) * 1000)::BIGINT AS time_ms";
    /// READ COMMITTED: each statement sees what others committed before it.
    const BEGIN_WRITE: &'static str = "BEGIN";
    const INSERT_ORDER: &'static str = concat!(
        "INSERT INTO orders (venue, account, symbol, venue_symbol, client_order_id, side, \
         order_type, time_in_force, quantity, price, status, idempotency_key, request_hash, \
         created_at, updated_at, filled_quantity, cumulative_quote) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::NUMERIC, $10::NUMERIC, $11, $12, $13, \
         to_timestamp($14 / 1000.0), to_timestamp($14 / 1000.0), 0, 0) \
         ON CONFLICT DO NOTHING RETURNING ",
        order_columns!()
    );
    const INSERT_KEY: &'static str = "INSERT INTO idempotency_keys \
         (key, order_id, request_hash, created_at) \
         VALUES ($1, $2, $3, to_timestamp($4 / 1000.0)) \
         ON CONFLICT DO NOTHING RETURNING key";
    const UPDATE_ORDER: &'static str = "UPDATE orders SET status = $1, \
         filled_quantity = $2::NUMERIC, cumulative_quote = $3::NUMERIC, \
         venue_order_id = COALESCE($4, venue_order_id), \
         reject_reason = COALESCE($5, reject_reason), \
         updated_at = to_timestamp($6 / 1000.0) WHERE id = $7 RETURNING id";
    const INSERT_EVENT: &'static str = "INSERT INTO order_events \
         (order_id, kind, status, detail, created_at) \
         VALUES ($1, $2, $3, $4::JSONB, to_timestamp($5 / 1000.0))";
    const INSERT_FILL: &'static str = "INSERT INTO fills (order_id, venue, venue_symbol, \
         trade_id, side, price, quantity, fee, fee_asset, is_maker, traded_at) \
         VALUES ($1, $2, $3, $4, $5, $6::NUMERIC, $7::NUMERIC, $8::NUMERIC, $9, $10, \
         to_timestamp($11 / 1000.0)) \
         ON CONFLICT (venue, venue_symbol, trade_id) DO NOTHING RETURNING id";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }
}

/// A [`super::Store`] on a PostgreSQL database.
pub type PostgresStore = SqlStore<Postgres>;

impl PostgresStore {
    /// Connects to the database a `postgres://` / `postgresql://` URL names.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let options = options
            .application_name("omsd")
            .options([("statement_timeout", STATEMENT_TIMEOUT)]);
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

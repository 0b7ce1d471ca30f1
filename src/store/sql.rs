//! [`SqlStore`]: the one [`Store`] implementation, over any SQL backend that supplies its SQL
//! text ([`Dialect`]).
//!
//! Both backends bind the same values (decimals as their exact text, times as epoch
//! milliseconds, JSON as text) and read rows in the same portable shape (see `rows`); the SQL
//! around them, which converts to and from each database's own types, is all that differs and
//! all that a backend module holds.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, QueryBuilder, Type};

use super::filters;
use super::market::{
    BookSnapshotRecord, Candle, MarketBatch, MarketOutcome, MarketPolicies, MarketQuery,
    TradeRecord,
};
use super::rows::{Columns, event_from_row, fill_from_row, order_from_row};
use super::{
    BalanceRecord, BatchOutcome, ChangeOutcome, CreateOutcome, FillRecord, IdempotencyKeyRecord,
    NewOrderRecord, OrderChange, OrderEventRecord, OrderFilter, OrderRecord, ReportInputs,
    SequencedEvent, Store, StoreError, UnmatchedFillRecord, Watermark, WriteBatch,
};

/// SQL text wrapped around a bound value's placeholder to turn it into a column's type, e.g.
/// `$1::NUMERIC` on PostgreSQL; empty where the bound value already has the stored type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cast {
    pub before: &'static str,
    pub after: &'static str,
}

impl Cast {
    /// The value is stored as bound.
    pub const NONE: Self = Self {
        before: "",
        after: "",
    };
}

/// The SQL text of one backend. Column lists yield the portable shape of `rows`; values are
/// bound as text, 64-bit integers or booleans (decimals as their exact text, times as epoch
/// milliseconds, JSON as text) and the casts turn them into the stored types. The statements
/// themselves (see `batch`) are shared.
///
/// The bounds every backend meets on its argument and row types are stated here, once, so
/// that the generic code need not repeat them. Bounds on other types (`&mut Connection` as an
/// executor, the bound value types' `Encode`) cannot be: Rust implies a trait's bounds only on
/// `Self` and its associated types, so those stay on each generic `impl`.
pub trait Dialect: Database<Arguments: IntoArguments<Self>, Row: Columns> {
    /// `orders` columns, for `rows::order_from_row`.
    const ORDER_COLUMNS: &'static str;
    /// `fills` columns, for `rows::fill_from_row`.
    const FILL_COLUMNS: &'static str;
    /// `order_events` columns, for `rows::event_from_row`.
    const EVENT_COLUMNS: &'static str;
    /// `unmatched_fills` columns, for `rows::unmatched_fill_from_row`.
    const UNMATCHED_FILL_COLUMNS: &'static str;
    /// `balances` columns, for `rows::balance_from_row`.
    const BALANCE_COLUMNS: &'static str;
    /// `settings` columns, for `rows::setting_from_row`.
    const SETTING_COLUMNS: &'static str;
    /// `trades` columns, for `rows::trade_from_row`.
    const TRADE_COLUMNS: &'static str;
    /// `candles_1m` columns, for `rows::candle_from_row`.
    const CANDLE_COLUMNS: &'static str;
    /// `book_snapshots` columns, for `rows::snapshot_from_row`.
    const SNAPSHOT_COLUMNS: &'static str;
    /// `instruments` columns, for `rows::instrument_from_row`.
    const INSTRUMENT_COLUMNS: &'static str;
    /// Appended to a `SELECT` in a write transaction that rewrites the rows it read.
    const LOCK_ROWS: &'static str;
    /// Starts a write transaction.
    const BEGIN_WRITE: &'static str;
    /// The most bind parameters one statement may carry.
    const MAX_BIND_PARAMS: usize;
    /// A decimal bound as text to a decimal column.
    const DECIMAL: Cast;
    /// Epoch milliseconds bound as an integer to a time column.
    const TIME: Cast;
    /// JSON bound as text to a JSON column.
    const JSON: Cast;

    /// This backend's migrations.
    fn migrator() -> &'static Migrator;

    /// Writes one market-data flush ([`super::Store::write_market`]) the backend's fastest way.
    fn write_market<'a>(
        store: &'a SqlStore<Self>,
        batch: &'a MarketBatch,
    ) -> BoxFuture<'a, Result<MarketOutcome, StoreError>>;

    /// Whether `candles_1m` is a table the store keeps (not a view the database keeps).
    fn keeps_rollup(store: &SqlStore<Self>) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Sets the retention and compression of market data where the database manages them
    /// ([`super::Store::apply_market_policies`]).
    fn market_policies<'a>(
        store: &'a SqlStore<Self>,
        policies: &'a MarketPolicies,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// A [`Store`] on one SQL database: [`super::SqliteStore`] or [`super::PostgresStore`].
#[derive(Debug, Clone)]
pub struct SqlStore<DB: Database> {
    /// Write transactions (a single connection on SQLite, which has one writer).
    pub(crate) writer: Pool<DB>,
    /// Everything else; the same pool as `writer` where one pool serves both.
    pub(crate) reader: Pool<DB>,
    /// Market-data trades go in by `COPY` (PostgreSQL, until the server turns out not to take
    /// it; unused on SQLite).
    pub(crate) copy_trades: Arc<AtomicBool>,
    /// Whether the store folds trades into the `candles_1m` rollup itself (not where the
    /// database keeps candles as a continuous aggregate); learnt once from the schema.
    pub(crate) rollup: Arc<OnceLock<bool>>,
}

impl<DB: Database> SqlStore<DB> {
    pub(crate) fn new(writer: Pool<DB>, reader: Pool<DB>) -> Self {
        Self {
            writer,
            reader,
            copy_trades: Arc::new(AtomicBool::new(true)),
            rollup: Arc::new(OnceLock::new()),
        }
    }
}

impl<DB: Dialect> SqlStore<DB> {
    /// Whether this store keeps the candle rollup (asked of the schema once).
    pub(crate) async fn rollup_kept(&self) -> Result<bool, StoreError> {
        if let Some(kept) = self.rollup.get() {
            return Ok(*kept);
        }
        let kept = DB::keeps_rollup(self).await?;
        Ok(*self.rollup.get_or_init(|| kept))
    }
}

/// `SELECT <columns> FROM <table>`, ready for its `WHERE`.
pub(crate) fn select<DB: Dialect>(columns: &str, table: &str) -> QueryBuilder<DB> {
    QueryBuilder::new(format!("SELECT {columns} FROM {table}"))
}

#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Dialect,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    async fn migrate(&self) -> Result<(), StoreError> {
        DB::migrator().run(&self.writer).await?;
        self.rollup_kept().await?;
        Ok(())
    }

    async fn create_order(&self, order: &NewOrderRecord) -> Result<CreateOutcome, StoreError> {
        self.create(order).await
    }

    async fn apply_change(&self, change: &OrderChange) -> Result<ChangeOutcome, StoreError> {
        self.apply(change).await
    }

    async fn get_order(&self, id: i64) -> Result<Option<OrderRecord>, StoreError> {
        let mut query = select(DB::ORDER_COLUMNS, "orders");
        query.push(" WHERE id = ").push_bind(id);
        let row = query.build().fetch_optional(&self.reader).await?;
        row.as_ref().map(order_from_row).transpose()
    }

    async fn find_order_by_client_id(
        &self,
        venue: &str,
        account: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let mut query = select(DB::ORDER_COLUMNS, "orders");
        query.push(" WHERE venue = ").push_bind(venue.to_owned());
        query.push(" AND account = ").push_bind(account.to_owned());
        query
            .push(" AND client_order_id = ")
            .push_bind(client_order_id.to_owned());
        let row = query.build().fetch_optional(&self.reader).await?;
        row.as_ref().map(order_from_row).transpose()
    }

    async fn find_order_by_venue_order_id(
        &self,
        venue: &str,
        venue_symbol: &str,
        venue_order_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let mut query = select(DB::ORDER_COLUMNS, "orders");
        filters::push_venue_order_filter(&mut query, venue, venue_symbol, venue_order_id);
        let row = query.build().fetch_optional(&self.reader).await?;
        row.as_ref().map(order_from_row).transpose()
    }

    async fn last_fill(
        &self,
        venue: &str,
        venue_symbol: &str,
    ) -> Result<Option<FillRecord>, StoreError> {
        let mut query = select(DB::FILL_COLUMNS, "fills");
        query.push(" WHERE venue = ").push_bind(venue.to_owned());
        query
            .push(" AND venue_symbol = ")
            .push_bind(venue_symbol.to_owned());
        // Venue trade ids are decimal integers: longer is larger, then lexical order.
        query.push(" ORDER BY LENGTH(trade_id) DESC, trade_id DESC LIMIT 1");
        let row = query.build().fetch_optional(&self.reader).await?;
        row.as_ref().map(fill_from_row).transpose()
    }

    async fn find_order_by_idempotency_key(
        &self,
        key: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let mut query = select(DB::ORDER_COLUMNS, "orders");
        query.push(" WHERE id = (SELECT order_id FROM idempotency_keys WHERE key = ");
        query.push_bind(key.to_owned()).push(")");
        let row = query.build().fetch_optional(&self.reader).await?;
        row.as_ref().map(order_from_row).transpose()
    }

    async fn list_orders(&self, filter: &OrderFilter) -> Result<Vec<OrderRecord>, StoreError> {
        let mut query = select(DB::ORDER_COLUMNS, "orders");
        filters::push_list_filter(&mut query, filter);
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(order_from_row).collect()
    }

    async fn traded_symbols(&self, venue: &str) -> Result<Vec<String>, StoreError> {
        let mut query = select::<DB>("DISTINCT venue_symbol", "orders");
        query.push(" WHERE venue = ").push_bind(venue.to_owned());
        query.push(" ORDER BY venue_symbol");
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                r.text("venue_symbol").map_err(|e| StoreError::Corrupt {
                    table: "orders",
                    message: format!("column venue_symbol: {e}"),
                })
            })
            .collect()
    }

    async fn open_orders(&self, venue: &str) -> Result<Vec<OrderRecord>, StoreError> {
        let mut query = select(DB::ORDER_COLUMNS, "orders");
        filters::push_open_filter(&mut query, venue.to_owned());
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(order_from_row).collect()
    }

    async fn fills_for_order(&self, order_id: i64) -> Result<Vec<FillRecord>, StoreError> {
        let mut query = select(DB::FILL_COLUMNS, "fills");
        query.push(" WHERE order_id = ").push_bind(order_id);
        query.push(" ORDER BY traded_at, id");
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(fill_from_row).collect()
    }

    async fn events_for_order(&self, order_id: i64) -> Result<Vec<OrderEventRecord>, StoreError> {
        let mut query = select(DB::EVENT_COLUMNS, "order_events");
        query.push(" WHERE order_id = ").push_bind(order_id);
        query.push(" ORDER BY id");
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn events_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<SequencedEvent>, StoreError> {
        self.read_events_after(after, limit).await
    }

    async fn write_batch(&self, batch: &WriteBatch) -> Result<BatchOutcome, StoreError> {
        self.write(batch).await
    }

    async fn live_orders(&self) -> Result<Vec<OrderRecord>, StoreError> {
        self.read_live_orders().await
    }

    async fn fills_for_orders(&self, order_ids: &[i64]) -> Result<Vec<FillRecord>, StoreError> {
        self.read_fills_for_orders(order_ids).await
    }

    async fn recent_idempotency_keys(
        &self,
        limit: i64,
    ) -> Result<Vec<IdempotencyKeyRecord>, StoreError> {
        self.read_recent_keys(limit).await
    }

    async fn balances(&self, venue: Option<&str>) -> Result<Vec<BalanceRecord>, StoreError> {
        self.read_balances(venue).await
    }

    async fn watermarks(&self, venue: &str) -> Result<Vec<Watermark>, StoreError> {
        self.read_watermarks(venue).await
    }

    async fn unmatched_fills(
        &self,
        venue: &str,
        venue_symbol: &str,
        venue_order_id: &str,
    ) -> Result<Vec<UnmatchedFillRecord>, StoreError> {
        self.read_unmatched_fills(venue, venue_symbol, venue_order_id)
            .await
    }

    async fn unmatched_fill_count(&self, venue: &str) -> Result<i64, StoreError> {
        self.read_unmatched_fill_count(venue).await
    }

    async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.read_setting(key).await
    }

    async fn write_market(&self, batch: &MarketBatch) -> Result<MarketOutcome, StoreError> {
        if batch.is_empty() {
            return Ok(MarketOutcome::default());
        }
        DB::write_market(self, batch).await
    }

    async fn save_instruments(
        &self,
        venue: &str,
        instruments: &[exchange_core::Instrument],
        fetched_at_ms: i64,
    ) -> Result<(), StoreError> {
        self.write_instruments(venue, instruments, fetched_at_ms)
            .await
    }

    async fn cached_instruments(
        &self,
        venue: &str,
    ) -> Result<Vec<super::CachedInstrument>, StoreError> {
        self.read_instruments(venue).await
    }

    async fn apply_market_policies(&self, policies: &MarketPolicies) -> Result<bool, StoreError> {
        DB::market_policies(self, policies).await
    }

    async fn trades(&self, query: &MarketQuery) -> Result<Vec<TradeRecord>, StoreError> {
        self.read_trades(query).await
    }

    async fn candles(&self, query: &MarketQuery) -> Result<Vec<Candle>, StoreError> {
        self.read_candles(query).await
    }

    async fn book_snapshots(
        &self,
        query: &MarketQuery,
    ) -> Result<Vec<BookSnapshotRecord>, StoreError> {
        self.read_snapshots(query).await
    }

    async fn report_inputs(
        &self,
        venue: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<ReportInputs, StoreError> {
        self.read_report_inputs(venue, from_ms, to_ms).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

//! [`SqlStore`]: the one [`Store`] implementation, over any SQL backend that supplies its SQL
//! text ([`Dialect`]).
//!
//! Both backends bind the same values (decimals as their exact text, times as epoch
//! milliseconds, JSON as text) and read rows in the same portable shape (see `rows`); the SQL
//! around them, which converts to and from each database's own types, is all that differs and
//! all that a backend module holds.

use async_trait::async_trait;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, QueryBuilder, Type};

use super::rows::{self, Columns, event_from_row, fill_from_row, order_from_row};
use super::{
    ChangeOutcome, CreateOutcome, FillRecord, NewOrderRecord, OrderChange, OrderEventRecord,
    OrderFilter, OrderRecord, Store, StoreError,
};

/// The SQL text of one backend. Column lists yield the portable shape of `rows`; statements
/// take the parameters listed, in order, as text (`t`), 64-bit integers (`i`) or booleans (`b`),
/// decimals as text, times as epoch milliseconds, and return a row when they wrote one.
pub trait Dialect: Database {
    /// `orders` columns, for `rows::order_from_row`.
    const ORDER_COLUMNS: &'static str;
    /// `fills` columns, for `rows::fill_from_row`.
    const FILL_COLUMNS: &'static str;
    /// `order_events` columns, for `rows::event_from_row`.
    const EVENT_COLUMNS: &'static str;
    /// Starts a write transaction.
    const BEGIN_WRITE: &'static str;
    /// Inserts a `pending_new` order unless its client order id is taken, returning
    /// [`Self::ORDER_COLUMNS`]: venue, account, symbol, venue_symbol, client_order_id, side,
    /// order_type, time_in_force, quantity, price (nullable), status, idempotency_key,
    /// request_hash (`t`), created_at (`i`).
    const INSERT_ORDER: &'static str;
    /// Inserts an idempotency key unless it is taken: key (`t`), order_id (`i`), request_hash
    /// (`t`), created_at (`i`).
    const INSERT_KEY: &'static str;
    /// Updates an order's state: status, filled_quantity, cumulative_quote, venue_order_id and
    /// reject_reason (nullable, `NULL` keeps the stored value) (`t`), updated_at, id (`i`);
    /// returns a row if the order exists.
    const UPDATE_ORDER: &'static str;
    /// Appends an audit row: order_id (`i`), kind, status, detail (JSON) (`t`), created_at (`i`).
    const INSERT_EVENT: &'static str;
    /// Inserts a fill unless its (venue, venue_symbol, trade_id) is stored: order_id (`i`),
    /// venue, venue_symbol, trade_id, side, price, quantity, fee, fee_asset (nullable) (`t`),
    /// is_maker (`b`), traded_at (`i`).
    const INSERT_FILL: &'static str;

    /// This backend's migrations.
    fn migrator() -> &'static Migrator;
}

/// A [`Store`] on one SQL database: [`super::SqliteStore`] or [`super::PostgresStore`].
#[derive(Debug, Clone)]
pub struct SqlStore<DB: Database> {
    /// Write transactions (a single connection on SQLite, which has one writer).
    pub(crate) writer: Pool<DB>,
    /// Everything else; the same pool as `writer` where one pool serves both.
    pub(crate) reader: Pool<DB>,
}

/// `SELECT <columns> FROM <table>`, ready for its `WHERE`.
fn select<DB: Dialect>(columns: &str, table: &str) -> QueryBuilder<DB> {
    QueryBuilder::new(format!("SELECT {columns} FROM {table}"))
}

#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Dialect,
    DB::Connection: Migrate,
    DB::Arguments: IntoArguments<DB>,
    DB::Row: Columns,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    async fn migrate(&self) -> Result<(), StoreError> {
        DB::migrator().run(&self.writer).await?;
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
        query.push(" WHERE venue = ").push_bind(venue.to_owned());
        query
            .push(" AND venue_symbol = ")
            .push_bind(venue_symbol.to_owned());
        query
            .push(" AND venue_order_id = ")
            .push_bind(venue_order_id.to_owned());
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
        rows::push_list_filter(&mut query, filter);
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(order_from_row).collect()
    }

    async fn open_orders(&self, venue: &str) -> Result<Vec<OrderRecord>, StoreError> {
        let mut query = select(DB::ORDER_COLUMNS, "orders");
        rows::push_open_filter(&mut query, venue.to_owned());
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

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

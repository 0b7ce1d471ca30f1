//! The reads of [`SqlStore`] that load the order processor's state: the live working set, its
//! fills and idempotency keys, balances, watermarks, unmatched fills and settings.

use sqlx::{Encode, Executor, QueryBuilder, Type};

use super::filters;
use super::rows::{
    Columns, balance_from_row, fill_from_row, key_from_row, order_from_row, sequenced_from_row,
    setting_from_row, unmatched_fill_from_row, watermark_from_row,
};
use super::sql::{Dialect, SqlStore, select};
use super::{
    BalanceRecord, FillRecord, IdempotencyKeyRecord, OrderRecord, SequencedEvent, StoreError,
    UnmatchedFillRecord, Watermark,
};

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    pub(crate) async fn read_live_orders(&self) -> Result<Vec<OrderRecord>, StoreError> {
        let mut query = select(DB::ORDER_COLUMNS, "orders");
        filters::push_live_filter(&mut query);
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(order_from_row).collect()
    }

    /// One `IN (..)` query per chunk of ids; the ids are sorted first so that the chunks, each
    /// ordered by order then time, concatenate in that order too.
    pub(crate) async fn read_fills_for_orders(
        &self,
        order_ids: &[i64],
    ) -> Result<Vec<FillRecord>, StoreError> {
        let mut ids = order_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut fills = Vec::new();
        for chunk in ids.chunks(DB::MAX_BIND_PARAMS) {
            let mut query = select(DB::FILL_COLUMNS, "fills");
            query.push(" WHERE order_id IN (");
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            query.push(") ORDER BY order_id, traded_at, id");
            let rows = query.build().fetch_all(&self.reader).await?;
            for row in &rows {
                fills.push(fill_from_row(row)?);
            }
        }
        Ok(fills)
    }

    /// Newest first; keys written by one batch share a time and go by order id, newest first.
    pub(crate) async fn read_recent_keys(
        &self,
        limit: i64,
    ) -> Result<Vec<IdempotencyKeyRecord>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let mut query = select("key, order_id, request_hash", "idempotency_keys");
        query.push(" ORDER BY created_at DESC, order_id DESC LIMIT ");
        query.push_bind(limit);
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(key_from_row).collect()
    }

    pub(crate) async fn read_balances(
        &self,
        venue: Option<&str>,
    ) -> Result<Vec<BalanceRecord>, StoreError> {
        let mut query = select(DB::BALANCE_COLUMNS, "balances");
        if let Some(venue) = venue {
            query.push(" WHERE venue = ").push_bind(venue.to_owned());
        }
        query.push(" ORDER BY venue, account, asset");
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(balance_from_row).collect()
    }

    pub(crate) async fn read_watermarks(&self, venue: &str) -> Result<Vec<Watermark>, StoreError> {
        let mut query = select("venue, venue_symbol, kind, value", "watermarks");
        query.push(" WHERE venue = ").push_bind(venue.to_owned());
        query.push(" ORDER BY venue_symbol, kind");
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(watermark_from_row).collect()
    }

    pub(crate) async fn read_unmatched_fills(
        &self,
        venue: &str,
        venue_symbol: &str,
        venue_order_id: &str,
    ) -> Result<Vec<UnmatchedFillRecord>, StoreError> {
        let mut query = select(DB::UNMATCHED_FILL_COLUMNS, "unmatched_fills");
        filters::push_venue_order_filter(&mut query, venue, venue_symbol, venue_order_id);
        query.push(" ORDER BY traded_at, id");
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(unmatched_fill_from_row).collect()
    }

    pub(crate) async fn read_unmatched_fill_count(&self, venue: &str) -> Result<i64, StoreError> {
        let mut query = select("COUNT(*) AS n", "unmatched_fills");
        query.push(" WHERE venue = ").push_bind(venue.to_owned());
        let row = query.build().fetch_one(&self.reader).await?;
        row.int("n").map_err(|e| StoreError::Corrupt {
            table: "unmatched_fills",
            message: format!("count: {e}"),
        })
    }

    pub(crate) async fn read_setting(
        &self,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let mut query = select(DB::SETTING_COLUMNS, "settings");
        query.push(" WHERE key = ").push_bind(key.to_owned());
        let row = query.build().fetch_optional(&self.reader).await?;
        row.as_ref().map(setting_from_row).transpose()
    }

    /// The events after `after` in sequence order. The page is cut from `order_events` by its
    /// primary key first, then joined with the orders it names.
    pub(crate) async fn read_events_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<SequencedEvent>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let page = format!("id, {}", DB::EVENT_COLUMNS);
        let mut query = QueryBuilder::<DB>::new(
            "SELECT e.id AS seq, e.order_id, e.kind, e.status, e.detail, e.time_ms, \
             o.venue, o.symbol, o.client_order_id FROM (",
        );
        query.push(format!("SELECT {page} FROM order_events WHERE id > "));
        query.push_bind(after);
        query.push(" ORDER BY id LIMIT ").push_bind(limit);
        query.push(") e JOIN orders o ON o.id = e.order_id ORDER BY e.id");
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(sequenced_from_row).collect()
    }
}

//! The two write paths of [`SqlStore`], each one transaction: [`super::Store::create_order`]
//! and [`super::Store::apply_change`].

use exchange_core::OrderStatus;
use sqlx::{Encode, Executor, IntoArguments, Transaction, Type};

use super::rows::{Columns, order_from_row};
use super::sql::{Dialect, SqlStore};
use super::{
    ChangeOutcome, CreateOutcome, FillRecord, NewOrderRecord, OrderChange, OrderEventRecord,
    OrderRecord, Store, StoreError,
};

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    DB::Arguments: IntoArguments<DB>,
    DB::Row: Columns,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    Self: Store,
{
    /// Writes the order, its idempotency key and a `created` event, or, when the key or the
    /// client order id is taken, nothing, and answers with the order that holds it.
    ///
    /// Under concurrent calls a unique insert waits for the transaction that holds the same
    /// value and then does nothing, so the order it conflicts with is committed by the time it
    /// is read back (SQLite serialises writers; PostgreSQL's unique index waits).
    pub(crate) async fn create(&self, order: &NewOrderRecord) -> Result<CreateOutcome, StoreError> {
        let mut tx = self.writer.begin_with(DB::BEGIN_WRITE).await?;
        if let Some(record) = Self::insert_new(&mut tx, order).await? {
            tx.commit().await?;
            return Ok(CreateOutcome::Created(record));
        }
        tx.rollback().await?;
        let existing = match self
            .find_order_by_idempotency_key(&order.idempotency_key)
            .await?
        {
            Some(existing) => Some(existing),
            None => {
                let (venue, account) = (&order.venue, &order.account);
                self.find_order_by_client_id(venue, account, &order.client_order_id)
                    .await?
            }
        };
        existing
            .map(CreateOutcome::Existing)
            .ok_or_else(|| StoreError::Corrupt {
                table: "idempotency_keys",
                message: "the key or client order id is taken but no order holds it".to_owned(),
            })
    }

    /// Updates the order row, appends the change's event and inserts the fills not stored yet.
    pub(crate) async fn apply(&self, change: &OrderChange) -> Result<ChangeOutcome, StoreError> {
        let mut tx = self.writer.begin_with(DB::BEGIN_WRITE).await?;
        let updated = sqlx::query(DB::UPDATE_ORDER)
            .bind(change.status.as_str().to_owned())
            .bind(change.filled_quantity.to_string())
            .bind(change.cumulative_quote.to_string())
            .bind(change.venue_order_id.clone())
            .bind(change.reject_reason.clone())
            .bind(change.time_ms)
            .bind(change.order_id)
            .fetch_optional(&mut *tx)
            .await?;
        if updated.is_none() {
            tx.rollback().await?;
            return Err(StoreError::OrderNotFound(change.order_id));
        }
        Self::insert_event(&mut tx, &change_event(change)).await?;
        let mut fills_inserted = 0;
        for fill in &change.fills {
            if Self::insert_fill(&mut tx, fill).await? {
                fills_inserted += 1;
            }
        }
        tx.commit().await?;
        Ok(ChangeOutcome { fills_inserted })
    }

    /// The order row, its key and its `created` event; `None` when the client order id or the
    /// key is taken (the caller rolls back).
    async fn insert_new(
        tx: &mut Transaction<'static, DB>,
        order: &NewOrderRecord,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let row = sqlx::query(DB::INSERT_ORDER)
            .bind(order.venue.clone())
            .bind(order.account.clone())
            .bind(order.symbol.clone())
            .bind(order.venue_symbol.clone())
            .bind(order.client_order_id.clone())
            .bind(order.side.as_str().to_owned())
            .bind(order.order_type.as_str().to_owned())
            .bind(order.time_in_force.as_str().to_owned())
            .bind(order.quantity.to_string())
            .bind(order.price.map(|price| price.to_string()))
            .bind(OrderStatus::PendingNew.as_str().to_owned())
            .bind(order.idempotency_key.clone())
            .bind(order.request_hash.clone())
            .bind(order.created_at_ms)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let record = order_from_row(&row)?;
        let key = sqlx::query(DB::INSERT_KEY)
            .bind(order.idempotency_key.clone())
            .bind(record.id)
            .bind(order.request_hash.clone())
            .bind(order.created_at_ms)
            .fetch_optional(&mut **tx)
            .await?;
        if key.is_none() {
            return Ok(None);
        }
        Self::insert_event(tx, &created_event(&record)).await?;
        Ok(Some(record))
    }

    async fn insert_event(
        tx: &mut Transaction<'static, DB>,
        event: &OrderEventRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(DB::INSERT_EVENT)
            .bind(event.order_id)
            .bind(event.kind.clone())
            .bind(event.status.as_str().to_owned())
            .bind(event.detail.to_string())
            .bind(event.time_ms)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Whether the fill was new (a stored venue trade id is left alone).
    async fn insert_fill(
        tx: &mut Transaction<'static, DB>,
        fill: &FillRecord,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(DB::INSERT_FILL)
            .bind(fill.order_id)
            .bind(fill.venue.clone())
            .bind(fill.venue_symbol.clone())
            .bind(fill.trade_id.clone())
            .bind(fill.side.as_str().to_owned())
            .bind(fill.price.to_string())
            .bind(fill.quantity.to_string())
            .bind(fill.fee.to_string())
            .bind(fill.fee_asset.clone())
            .bind(fill.is_maker)
            .bind(fill.time_ms)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(inserted.is_some())
    }
}

/// The audit row written with a new order (the order row itself holds the intent).
fn created_event(order: &OrderRecord) -> OrderEventRecord {
    OrderEventRecord {
        order_id: order.id,
        kind: "created".to_owned(),
        status: order.status,
        detail: serde_json::json!({}),
        time_ms: order.created_at_ms,
    }
}

/// The audit row of an OMS-decided change.
fn change_event(change: &OrderChange) -> OrderEventRecord {
    OrderEventRecord {
        order_id: change.order_id,
        kind: change.event_kind.clone(),
        status: change.status,
        detail: change.event_detail.clone(),
        time_ms: change.time_ms,
    }
}

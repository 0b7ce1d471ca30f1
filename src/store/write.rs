//! The single-order writes of [`SqlStore`], [`super::Store::create_order`] and
//! [`super::Store::apply_change`]: each one a batch of one (see `batch`).

use sqlx::{Encode, Executor, Type};

use super::sql::{Dialect, SqlStore};
use super::{
    ChangeOutcome, CreateOutcome, NewOrderRecord, OrderChange, Store, StoreError, WriteBatch,
};

impl<DB> SqlStore<DB>
where
    DB: Dialect,
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
        let batch = WriteBatch {
            new_orders: vec![order.clone()],
            ..WriteBatch::default()
        };
        let outcome = self.write(&batch).await?;
        if let Some(Some(record)) = outcome.created.into_iter().next() {
            return Ok(CreateOutcome::Created(record));
        }
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
        let batch = WriteBatch {
            changes: vec![change.clone()],
            ..WriteBatch::default()
        };
        let outcome = self.write(&batch).await?;
        Ok(ChangeOutcome {
            fills_inserted: outcome.fills_inserted,
        })
    }
}

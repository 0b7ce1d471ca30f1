//! [`super::Store::write_batch`]: everything one OMS turn decided, in one transaction and a
//! handful of statements.
//!
//! Each kind of row is written by one multi-row statement (`INSERT .. VALUES (..), (..)`, an
//! `UPDATE .. FROM` a `VALUES` list), split only where a statement would exceed the backend's
//! bind-parameter limit: on PostgreSQL every statement is a network round trip, so the cost of
//! a batch must not grow with its rows. A batch of one row and of a thousand take this same
//! path. The statements are the same on both backends; only the casts around the bound values
//! ([`Dialect`]) differ.

use std::collections::{HashMap, HashSet};

use exchange_core::OrderStatus;
use rust_decimal::Decimal;
use sqlx::query_builder::Separated;
use sqlx::{Database, Encode, Executor, QueryBuilder, Transaction, Type};

mod state;

use super::rows::{Columns, order_from_row};
use super::sql::{Cast, Dialect, SqlStore};
use super::{
    BatchOutcome, FillRecord, NewOrderRecord, OrderChange, OrderEventRecord, OrderRecord,
    StoreError, WriteBatch,
};

/// One `VALUES` tuple being written.
type Tuple<'q, DB> = Separated<'q, DB, &'static str>;

/// Binds one value, with the SQL text `cast` turns it into the column's type.
pub(super) fn bind<DB, T>(tuple: &mut Tuple<'_, DB>, cast: Cast, value: T)
where
    DB: Database,
    T: for<'q> Encode<'q, DB> + Type<DB>,
{
    tuple.push(cast.before);
    tuple.push_bind_unseparated(value);
    tuple.push_unseparated(cast.after);
}

/// The final state a batch leaves one order row in: the last change to it, except that a
/// venue order id, reject reason or amended quantity a later change leaves unset keeps the
/// earlier one (as the stored value is kept when a change leaves it unset).
struct RowUpdate<'a> {
    order_id: i64,
    status: OrderStatus,
    filled_quantity: Decimal,
    cumulative_quote: Decimal,
    quantity: Option<Decimal>,
    venue_order_id: Option<&'a str>,
    reject_reason: Option<&'a str>,
    status_inferred: bool,
    time_ms: i64,
}

/// The changes folded into one update per order, in the order the orders first appear (an
/// `UPDATE .. FROM` that matches a row twice applies only one of the matches).
fn fold_changes(changes: &[OrderChange]) -> Vec<RowUpdate<'_>> {
    let mut rows: Vec<RowUpdate<'_>> = Vec::new();
    let mut index = HashMap::new();
    for change in changes {
        let earlier = index.get(&change.order_id).map(|&i| &rows[i]);
        let row = RowUpdate {
            order_id: change.order_id,
            status: change.status,
            filled_quantity: change.filled_quantity,
            cumulative_quote: change.cumulative_quote,
            quantity: change
                .quantity
                .or(earlier.and_then(|e: &RowUpdate<'_>| e.quantity)),
            venue_order_id: change
                .venue_order_id
                .as_deref()
                .or(earlier.and_then(|e: &RowUpdate<'_>| e.venue_order_id)),
            reject_reason: change
                .reject_reason
                .as_deref()
                .or(earlier.and_then(|e: &RowUpdate<'_>| e.reject_reason)),
            status_inferred: change.status_inferred,
            time_ms: change.time_ms,
        };
        match index.get(&change.order_id) {
            Some(&i) => rows[i] = row,
            None => {
                index.insert(change.order_id, rows.len());
                rows.push(row);
            }
        }
    }
    rows
}

/// The audit row written with a new order (the order row itself holds the intent).
pub(crate) fn created_event(order: &OrderRecord) -> OrderEventRecord {
    OrderEventRecord {
        order_id: order.id,
        kind: "created".to_owned(),
        status: order.status,
        detail: serde_json::json!({}),
        time_ms: order.created_at_ms,
    }
}

/// The audit row of an OMS-decided change.
pub(crate) fn change_event(change: &OrderChange) -> OrderEventRecord {
    OrderEventRecord {
        order_id: change.order_id,
        kind: change.event_kind.clone(),
        status: change.status,
        detail: change.event_detail.clone(),
        time_ms: change.time_ms,
    }
}

const INSERT_ORDERS: &str = "INSERT INTO orders (venue, account, symbol, venue_symbol, \
     client_order_id, side, order_type, time_in_force, quantity, price, status, idempotency_key, \
     request_hash, created_at, updated_at, filled_quantity, cumulative_quote) ";
const INSERT_KEYS: &str = "INSERT INTO idempotency_keys (key, order_id, request_hash, created_at) ";
/// The columns of `v` are bound in this order by `update_orders`.
const UPDATE_ORDERS: &str = "WITH v (order_id, status, filled_quantity, cumulative_quote, \
     quantity, venue_order_id, reject_reason, status_inferred, updated_at) AS (";
const UPDATE_ORDERS_TAIL: &str = ") UPDATE orders SET status = v.status, \
     filled_quantity = v.filled_quantity, cumulative_quote = v.cumulative_quote, \
     quantity = COALESCE(v.quantity, orders.quantity), \
     venue_order_id = COALESCE(v.venue_order_id, orders.venue_order_id), \
     reject_reason = COALESCE(v.reject_reason, orders.reject_reason), \
     status_inferred = v.status_inferred, updated_at = v.updated_at \
     FROM v WHERE orders.id = v.order_id RETURNING id";
const INSERT_EVENTS: &str =
    "INSERT INTO order_events (order_id, kind, status, detail, created_at) ";
const INSERT_FILLS: &str = "INSERT INTO fills (order_id, venue, venue_symbol, trade_id, side, \
     price, quantity, fee, fee_asset, is_maker, traded_at) ";
impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    /// Writes the batch in one transaction. On any error the transaction is dropped, which
    /// rolls it back: nothing of the batch is written.
    pub(crate) async fn write(&self, batch: &WriteBatch) -> Result<BatchOutcome, StoreError> {
        if batch.is_empty() {
            return Ok(BatchOutcome {
                created: Vec::new(),
                fills_inserted: 0,
                event_seqs: Vec::new(),
            });
        }
        let mut tx = self.writer.begin_with(DB::BEGIN_WRITE).await?;
        let created = Self::insert_orders(&mut tx, &batch.new_orders).await?;
        let updates = fold_changes(&batch.changes);
        Self::update_orders(&mut tx, &updates).await?;

        let mut events: Vec<OrderEventRecord> =
            created.iter().flatten().map(created_event).collect();
        events.extend(batch.changes.iter().map(change_event));
        let event_seqs = Self::insert_events(&mut tx, &events).await?;
        let fills: Vec<_> = batch.changes.iter().flat_map(|c| &c.fills).collect();
        let fills_inserted = Self::insert_fills(&mut tx, &fills).await?;

        Self::write_venue_state(&mut tx, batch).await?;
        tx.commit().await?;
        Ok(BatchOutcome {
            created,
            fills_inserted,
            event_seqs,
        })
    }

    /// Runs `head VALUES (..), (..) tail` over `items` in as few statements as the bind limit
    /// allows (each tuple binds `per_row` values), returning every row the statements return.
    pub(super) async fn run_values<T: Sync>(
        tx: &mut Transaction<'static, DB>,
        (head, tail): (&str, &str),
        per_row: usize,
        items: &[T],
        push: impl Fn(&mut Tuple<'_, DB>, &T) + Send,
    ) -> Result<Vec<DB::Row>, StoreError> {
        let mut rows = Vec::new();
        for chunk in items.chunks((DB::MAX_BIND_PARAMS / per_row).max(1)) {
            let mut query = QueryBuilder::<DB>::new(head);
            query.push_values(chunk, |mut tuple, item| push(&mut tuple, item));
            query.push(tail);
            rows.extend(query.build().fetch_all(&mut **tx).await?);
        }
        Ok(rows)
    }

    /// Inserts the orders whose key and client order id are free, and their keys; one entry per
    /// order, `None` where it was taken. Rows come back by (venue, account, client order id),
    /// which is unique; an entry gets the row only if the row also holds its key (a later
    /// entry with the same client order id and another key may be the one written).
    async fn insert_orders(
        tx: &mut Transaction<'static, DB>,
        orders: &[NewOrderRecord],
    ) -> Result<Vec<Option<OrderRecord>>, StoreError> {
        let zero = Decimal::ZERO.to_string();
        let returning = format!(" ON CONFLICT DO NOTHING RETURNING {}", DB::ORDER_COLUMNS);
        let rows = Self::run_values(tx, (INSERT_ORDERS, &returning), 17, orders, |t, o| {
            for text in [&o.venue, &o.account, &o.symbol, &o.venue_symbol] {
                bind(t, Cast::NONE, text.clone());
            }
            bind(t, Cast::NONE, o.client_order_id.clone());
            bind(t, Cast::NONE, o.side.as_str().to_owned());
            bind(t, Cast::NONE, o.order_type.as_str().to_owned());
            bind(t, Cast::NONE, o.time_in_force.as_str().to_owned());
            bind(t, DB::DECIMAL, o.quantity.to_string());
            bind(t, DB::DECIMAL, o.price.map(|price| price.to_string()));
            bind(t, Cast::NONE, OrderStatus::PendingNew.as_str().to_owned());
            bind(t, Cast::NONE, o.idempotency_key.clone());
            bind(t, Cast::NONE, o.request_hash.clone());
            bind(t, DB::TIME, o.created_at_ms);
            bind(t, DB::TIME, o.created_at_ms);
            bind(t, DB::DECIMAL, zero.clone());
            bind(t, DB::DECIMAL, zero.clone());
        })
        .await?;
        let mut written = HashMap::new();
        for row in &rows {
            let record = order_from_row(row)?;
            let identity = (
                record.venue.clone(),
                record.account.clone(),
                record.client_order_id.clone(),
            );
            written.insert(identity, record);
        }
        let created: Vec<Option<OrderRecord>> = orders
            .iter()
            .map(|order| {
                let identity = (
                    order.venue.clone(),
                    order.account.clone(),
                    order.client_order_id.clone(),
                );
                match written.get(&identity) {
                    Some(record) if record.idempotency_key == order.idempotency_key => {
                        written.remove(&identity)
                    }
                    _ => None,
                }
            })
            .collect();
        // The key cannot be taken: `orders.idempotency_key` is unique and every key row
        // belongs to the order holding that key.
        let keys: Vec<&OrderRecord> = created.iter().flatten().collect();
        Self::run_values(tx, (INSERT_KEYS, ""), 4, &keys, |t, o| {
            bind(t, Cast::NONE, o.idempotency_key.clone());
            bind(t, Cast::NONE, o.id);
            bind(t, Cast::NONE, o.request_hash.clone());
            bind(t, DB::TIME, o.created_at_ms);
        })
        .await?;
        Ok(created)
    }

    /// Updates every changed order row; [`StoreError::OrderNotFound`] names the first change
    /// whose order is not stored.
    async fn update_orders(
        tx: &mut Transaction<'static, DB>,
        updates: &[RowUpdate<'_>],
    ) -> Result<(), StoreError> {
        let tail = UPDATE_ORDERS_TAIL;
        let rows = Self::run_values(tx, (UPDATE_ORDERS, tail), 9, updates, |t, u| {
            bind(t, Cast::NONE, u.order_id);
            bind(t, Cast::NONE, u.status.as_str().to_owned());
            bind(t, DB::DECIMAL, u.filled_quantity.to_string());
            bind(t, DB::DECIMAL, u.cumulative_quote.to_string());
            bind(t, DB::DECIMAL, u.quantity.map(|q| q.to_string()));
            bind(t, Cast::NONE, u.venue_order_id.map(str::to_owned));
            bind(t, Cast::NONE, u.reject_reason.map(str::to_owned));
            bind(t, Cast::NONE, u.status_inferred);
            bind(t, DB::TIME, u.time_ms);
        })
        .await?;
        let updated = rows
            .iter()
            .map(|row| row.int("id"))
            .collect::<Result<HashSet<i64>, _>>()?;
        match updates.iter().find(|u| !updated.contains(&u.order_id)) {
            Some(missing) => Err(StoreError::OrderNotFound(missing.order_id)),
            None => Ok(()),
        }
    }

    /// Appends the events; answers their ids in the order of `events`. Ids are assigned in
    /// insertion order (rows of one `VALUES` list in list order, statements in turn), while
    /// `RETURNING` promises no order on either backend: so the ids are sorted, not zipped.
    async fn insert_events(
        tx: &mut Transaction<'static, DB>,
        events: &[OrderEventRecord],
    ) -> Result<Vec<i64>, StoreError> {
        let rows = Self::run_values(tx, (INSERT_EVENTS, " RETURNING id"), 5, events, |t, e| {
            bind(t, Cast::NONE, e.order_id);
            bind(t, Cast::NONE, e.kind.clone());
            bind(t, Cast::NONE, e.status.as_str().to_owned());
            bind(t, DB::JSON, e.detail.to_string());
            bind(t, DB::TIME, e.time_ms);
        })
        .await?;
        let mut ids = rows
            .iter()
            .map(|row| row.int("id"))
            .collect::<Result<Vec<i64>, _>>()?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// How many of the fills were new (a fill stored for its order is left alone).
    async fn insert_fills(
        tx: &mut Transaction<'static, DB>,
        fills: &[&FillRecord],
    ) -> Result<usize, StoreError> {
        let tail = " ON CONFLICT (order_id, trade_id) DO NOTHING RETURNING id";
        let rows = Self::run_values(tx, (INSERT_FILLS, tail), 11, fills, |t, f| {
            bind(t, Cast::NONE, f.order_id);
            bind(t, Cast::NONE, f.venue.clone());
            bind(t, Cast::NONE, f.venue_symbol.clone());
            bind(t, Cast::NONE, f.trade_id.clone());
            bind(t, Cast::NONE, f.side.as_str().to_owned());
            bind(t, DB::DECIMAL, f.price.to_string());
            bind(t, DB::DECIMAL, f.quantity.to_string());
            bind(t, DB::DECIMAL, f.fee.to_string());
            bind(t, Cast::NONE, f.fee_asset.clone());
            bind(t, Cast::NONE, f.is_maker);
            bind(t, DB::TIME, f.time_ms);
        })
        .await?;
        Ok(rows.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(order_id: i64, venue_order_id: Option<&str>, reason: Option<&str>) -> OrderChange {
        OrderChange {
            order_id,
            status: OrderStatus::New,
            filled_quantity: Decimal::ZERO,
            cumulative_quote: Decimal::ZERO,
            quantity: None,
            venue_order_id: venue_order_id.map(str::to_owned),
            reject_reason: reason.map(str::to_owned),
            event_kind: "ack".into(),
            event_detail: serde_json::json!({}),
            fills: vec![],
            time_ms: order_id * 10,
            status_inferred: false,
        }
    }

    #[test]
    fn changes_fold_to_the_last_per_order_keeping_earlier_ids() {
        let changes = [
            change(1, Some("V-1"), None),
            change(2, None, Some("first")),
            OrderChange {
                status: OrderStatus::Filled,
                time_ms: 99,
                status_inferred: true,
                ..change(1, None, Some("why"))
            },
            change(2, None, Some("second")),
        ];
        let folded = fold_changes(&changes);
        let summary: Vec<_> = folded
            .iter()
            .map(|u| {
                let texts = (u.venue_order_id, u.reject_reason);
                (u.order_id, u.status, texts, u.status_inferred, u.time_ms)
            })
            .collect();
        let want = [
            (1, OrderStatus::Filled, (Some("V-1"), Some("why")), true, 99),
            (2, OrderStatus::New, (None, Some("second")), false, 20),
        ];
        assert_eq!(summary, want);
    }
}

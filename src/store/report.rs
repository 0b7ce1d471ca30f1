//! The reads behind the end-of-day report (`crate::report`): the orders created in a time
//! range and every fill up to its end, each with its order's canonical symbol.

use sqlx::{Encode, Executor, Type};

use super::market_sql::push_time;
use super::rows::{Columns, fill_from_row, order_from_row};
use super::sql::{Dialect, SqlStore, select};
use super::{FillRecord, OrderRecord, StoreError};

/// A fill with the canonical symbol of its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolFill {
    pub symbol: String,
    pub fill: FillRecord,
}

/// What the report of one period is computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportInputs {
    /// Orders created in the period, oldest first.
    pub orders: Vec<OrderRecord>,
    /// Every fill traded before the period's end, oldest first (earlier ones feed the FIFO
    /// lots of the realized PnL).
    pub fills: Vec<SymbolFill>,
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    pub(crate) async fn read_report_inputs(
        &self,
        venue: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<ReportInputs, StoreError> {
        let mut query = select(DB::ORDER_COLUMNS, "orders");
        query.push(" WHERE created_at >= ");
        push_time::<DB>(&mut query, from_ms);
        query.push(" AND created_at < ");
        push_time::<DB>(&mut query, to_ms);
        if let Some(venue) = venue {
            query.push(" AND venue = ").push_bind(venue.to_owned());
        }
        query.push(" ORDER BY created_at, id");
        let rows = query.build().fetch_all(&self.reader).await?;
        let orders = rows.iter().map(order_from_row).collect::<Result<_, _>>()?;

        let columns = format!(
            "{}, (SELECT o.symbol FROM orders o WHERE o.id = fills.order_id) AS order_symbol",
            DB::FILL_COLUMNS
        );
        let mut query = select::<DB>(&columns, "fills");
        query.push(" WHERE traded_at < ");
        push_time::<DB>(&mut query, to_ms);
        if let Some(venue) = venue {
            query.push(" AND venue = ").push_bind(venue.to_owned());
        }
        query.push(" ORDER BY traded_at, id");
        let rows = query.build().fetch_all(&self.reader).await?;
        let mut fills = Vec::with_capacity(rows.len());
        for row in &rows {
            let symbol = row.text("order_symbol").map_err(|e| StoreError::Corrupt {
                table: "fills",
                message: format!("order of a fill: {e}"),
            })?;
            fills.push(SymbolFill {
                symbol,
                fill: fill_from_row(row)?,
            });
        }
        Ok(ReportInputs { orders, fills })
    }
}

//! Conversions shared by both backends: rows to records, enum and decimal parsing, the listing
//! query's filters and limit.
//!
//! Every backend's `SELECT` presents the same portable shape, so one conversion serves both:
//! decimals as text (SQLite stores them as text; PostgreSQL casts `NUMERIC::TEXT`, which is
//! exact), times as epoch milliseconds and JSON as text.

use std::fmt::Display;
use std::str::FromStr;

use exchange_core::OrderStatus;
use rust_decimal::Decimal;
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

use super::{FillRecord, OrderEventRecord, OrderFilter, OrderRecord, StoreError};

/// Rows returned by [`super::Store::list_orders`] when the filter asks for none or fewer.
pub const DEFAULT_LIST_LIMIT: i64 = 100;
/// The most rows [`super::Store::list_orders`] returns at once.
pub const MAX_LIST_LIMIT: i64 = 1000;

/// The row limit for a listing: `limit <= 0` means the default; anything above the cap is capped.
pub(crate) fn clamp_limit(limit: i64) -> i64 {
    if limit <= 0 {
        DEFAULT_LIST_LIMIT
    } else {
        limit.min(MAX_LIST_LIMIT)
    }
}

/// Statuses of orders that can still change (what reconciliation looks at).
pub(crate) fn open_statuses() -> impl Iterator<Item = OrderStatus> {
    OrderStatus::ALL
        .into_iter()
        .filter(|status| !status.is_terminal())
}

/// Appends the `WHERE`, `ORDER BY` (newest first) and `LIMIT` of an order listing to a query
/// that selects from `orders`.
pub(crate) fn push_list_filter<DB>(query: &mut QueryBuilder<DB>, filter: &OrderFilter)
where
    DB: Database,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    query.push(" WHERE TRUE");
    if let Some(venue) = &filter.venue {
        query.push(" AND venue = ").push_bind(venue.clone());
    }
    if let Some(symbol) = &filter.symbol {
        query.push(" AND symbol = ").push_bind(symbol.clone());
    }
    if let Some(status) = filter.status {
        query
            .push(" AND status = ")
            .push_bind(status.as_str().to_owned());
    }
    query.push(" ORDER BY created_at DESC, id DESC LIMIT ");
    query.push_bind(clamp_limit(filter.limit));
}

/// Appends the `WHERE` and `ORDER BY` (oldest first) that select a venue's non-terminal orders
/// to a query that selects from `orders`.
pub(crate) fn push_open_filter<DB>(query: &mut QueryBuilder<DB>, venue: String)
where
    DB: Database,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    query
        .push(" WHERE venue = ")
        .push_bind(venue)
        .push(" AND status IN (");
    let mut statuses = query.separated(", ");
    for status in open_statuses() {
        statuses.push_bind(status.as_str().to_owned());
    }
    query.push(") ORDER BY created_at, id");
}

/// Typed access to the columns of a row in the portable shape, whatever the backend.
pub trait Columns {
    /// A non-null text column.
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    /// A nullable text column.
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    /// A 64-bit integer column (ids, epoch milliseconds).
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    /// A boolean column (`0`/`1` on SQLite).
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error>;
}

impl<R> Columns for R
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        self.try_get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(column)
    }
    fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        self.try_get(column)
    }
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
        self.try_get(column)
    }
}

/// Reads the columns of one row of `table`, turning every failure into [`StoreError::Corrupt`].
struct Fields<'a, R> {
    row: &'a R,
    table: &'static str,
}

impl<R: Columns> Fields<'_, R> {
    fn corrupt(&self, column: &str, error: impl Display) -> StoreError {
        StoreError::Corrupt {
            table: self.table,
            message: format!("column {column}: {error}"),
        }
    }

    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.row.text(column).map_err(|e| self.corrupt(column, e))
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.row
            .opt_text(column)
            .map_err(|e| self.corrupt(column, e))
    }

    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.row.int(column).map_err(|e| self.corrupt(column, e))
    }

    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        self.row.flag(column).map_err(|e| self.corrupt(column, e))
    }

    /// A text column parsed with `FromStr`: enums (`as_str` names) and decimals.
    fn parsed<T>(&self, column: &str) -> Result<T, StoreError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let text = self.text(column)?;
        text.parse()
            .map_err(|e| self.corrupt(column, format_args!("'{text}': {e}")))
    }

    fn opt_decimal(&self, column: &str) -> Result<Option<Decimal>, StoreError> {
        match self.opt_text(column)? {
            None => Ok(None),
            Some(text) => match text.parse() {
                Ok(value) => Ok(Some(value)),
                Err(e) => Err(self.corrupt(column, format_args!("'{text}': {e}"))),
            },
        }
    }

    fn json(&self, column: &str) -> Result<serde_json::Value, StoreError> {
        let text = self.text(column)?;
        serde_json::from_str(&text).map_err(|e| self.corrupt(column, e))
    }
}

/// An `orders` row as selected by a backend's order column list.
pub(crate) fn order_from_row(row: &impl Columns) -> Result<OrderRecord, StoreError> {
    let f = Fields {
        row,
        table: "orders",
    };
    Ok(OrderRecord {
        id: f.int("id")?,
        venue: f.text("venue")?,
        account: f.text("account")?,
        symbol: f.text("symbol")?,
        venue_symbol: f.text("venue_symbol")?,
        client_order_id: f.text("client_order_id")?,
        venue_order_id: f.opt_text("venue_order_id")?,
        side: f.parsed("side")?,
        order_type: f.parsed("order_type")?,
        time_in_force: f.parsed("time_in_force")?,
        quantity: f.parsed("quantity")?,
        price: f.opt_decimal("price")?,
        status: f.parsed("status")?,
        filled_quantity: f.parsed("filled_quantity")?,
        cumulative_quote: f.parsed("cumulative_quote")?,
        reject_reason: f.opt_text("reject_reason")?,
        idempotency_key: f.text("idempotency_key")?,
        request_hash: f.text("request_hash")?,
        created_at_ms: f.int("created_at_ms")?,
        updated_at_ms: f.int("updated_at_ms")?,
    })
}

/// A `fills` row as selected by a backend's fill column list.
pub(crate) fn fill_from_row(row: &impl Columns) -> Result<FillRecord, StoreError> {
    let f = Fields {
        row,
        table: "fills",
    };
    Ok(FillRecord {
        order_id: f.int("order_id")?,
        venue: f.text("venue")?,
        venue_symbol: f.text("venue_symbol")?,
        trade_id: f.text("trade_id")?,
        side: f.parsed("side")?,
        price: f.parsed("price")?,
        quantity: f.parsed("quantity")?,
        fee: f.parsed("fee")?,
        fee_asset: f.opt_text("fee_asset")?,
        is_maker: f.flag("is_maker")?,
        time_ms: f.int("time_ms")?,
    })
}

/// An `order_events` row as selected by a backend's event column list.
pub(crate) fn event_from_row(row: &impl Columns) -> Result<OrderEventRecord, StoreError> {
    let f = Fields {
        row,
        table: "order_events",
    };
    Ok(OrderEventRecord {
        order_id: f.int("order_id")?,
        kind: f.text("kind")?,
        status: f.parsed("status")?,
        detail: f.json("detail")?,
        time_ms: f.int("time_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_defaulted_and_capped() {
        let cases = [
            (i64::MIN, DEFAULT_LIST_LIMIT),
            (-1, DEFAULT_LIST_LIMIT),
            (0, DEFAULT_LIST_LIMIT),
            (1, 1),
            (250, 250),
            (MAX_LIST_LIMIT, MAX_LIST_LIMIT),
            (MAX_LIST_LIMIT + 1, MAX_LIST_LIMIT),
            (i64::MAX, MAX_LIST_LIMIT),
        ];
        for (limit, want) in cases {
            assert_eq!(clamp_limit(limit), want, "limit {limit}");
        }
    }

    /// A row held in memory: every value as text, like the portable shape.
    struct FakeRow(Vec<(&'static str, Option<&'static str>)>);

    impl Columns for FakeRow {
        fn text(&self, column: &str) -> Result<String, sqlx::Error> {
            self.opt_text(column)?
                .ok_or_else(|| sqlx::Error::Decode("unexpected null".into()))
        }
        fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
            let (_, value) = self
                .0
                .iter()
                .find(|(name, _)| *name == column)
                .ok_or_else(|| sqlx::Error::ColumnNotFound(column.to_owned()))?;
            Ok(value.map(str::to_owned))
        }
        fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
            self.text(column)?
                .parse()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        }
        fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
            Ok(self.int(column)? != 0)
        }
    }

    fn event_row(status: &'static str, detail: &'static str) -> FakeRow {
        FakeRow(vec![
            ("order_id", Some("7")),
            ("kind", Some("ack")),
            ("status", Some(status)),
            ("detail", Some(detail)),
            ("time_ms", Some("1700000000123")),
        ])
    }

    #[test]
    fn good_rows_convert() {
        let event = event_from_row(&event_row("new", r#"{"a":1}"#)).unwrap();
        assert_eq!(event.status, OrderStatus::New);
        assert_eq!(event.detail, serde_json::json!({"a": 1}));
        assert_eq!(event.time_ms, 1_700_000_000_123);
    }

    #[test]
    fn bad_rows_are_corrupt_and_name_the_column() {
        let cases = [
            (event_row("nope", "{}"), "column status: 'nope'"),
            (event_row("new", "{not json"), "column detail:"),
            (FakeRow(vec![("order_id", Some("x"))]), "column order_id:"),
            (FakeRow(vec![]), "column order_id:"),
        ];
        for (row, want) in cases {
            match event_from_row(&row) {
                Err(StoreError::Corrupt {
                    table: "order_events",
                    message,
                }) => {
                    assert!(
                        message.starts_with(want),
                        "{message} should start with {want}"
                    );
                }
                other => panic!("expected corrupt order_events row, got {other:?}"),
            }
        }
    }

    #[test]
    fn decimals_parse_exactly_or_are_corrupt() {
        let fill = |price: &'static str| {
            fill_from_row(&FakeRow(vec![
                ("order_id", Some("1")),
                ("venue", Some("sim")),
                ("venue_symbol", Some("BTCUSDT")),
                ("trade_id", Some("42")),
                ("side", Some("buy")),
                ("price", Some(price)),
                ("quantity", Some("0.00000001")),
                ("fee", Some("0")),
                ("fee_asset", None),
                ("is_maker", Some("1")),
                ("time_ms", Some("5")),
            ]))
        };
        let ok = fill("123456789.12345678").unwrap();
        assert_eq!(ok.price.to_string(), "123456789.12345678");
        assert_eq!(ok.quantity.to_string(), "0.00000001");
        assert!(ok.is_maker);
        assert!(matches!(
            fill("1.5e"),
            Err(StoreError::Corrupt { table: "fills", .. })
        ));
        assert!(matches!(
            fill("NaN"),
            Err(StoreError::Corrupt { table: "fills", .. })
        ));
    }

    #[test]
    fn open_statuses_are_the_non_terminal_ones() {
        let names: Vec<_> = open_statuses().map(OrderStatus::as_str).collect();
        assert_eq!(
            names,
            [
                "pending_new",
                "new",
                "partially_filled",
                "pending_cancel",
                "unknown"
            ]
        );
    }
}

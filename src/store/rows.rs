//! Conversions shared by both backends: rows to records, enum and decimal parsing.
//!
//! Every backend's `SELECT` presents the same portable shape, so one conversion serves both:
//! decimals as text (SQLite stores them as text; PostgreSQL casts `NUMERIC::TEXT`, which is
//! exact), times as epoch milliseconds and JSON as text.

use std::fmt::Display;
use std::str::FromStr;

use rust_decimal::Decimal;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::market::{BookSnapshotRecord, Candle, TradeRecord};
use super::{
    BalanceRecord, FillRecord, IdempotencyKeyRecord, OrderEventRecord, OrderRecord, SequencedEvent,
    StoreError, UnmatchedFillRecord, Watermark,
};

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

impl<'a, R: Columns> Fields<'a, R> {
    fn new(row: &'a R, table: &'static str) -> Self {
        Self { row, table }
    }

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
    let f = Fields::new(row, "orders");
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
        status_inferred: f.flag("status_inferred")?,
    })
}

/// A `fills` row as selected by a backend's fill column list.
pub(crate) fn fill_from_row(row: &impl Columns) -> Result<FillRecord, StoreError> {
    let f = Fields::new(row, "fills");
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
    let f = Fields::new(row, "order_events");
    Ok(OrderEventRecord {
        order_id: f.int("order_id")?,
        kind: f.text("kind")?,
        status: f.parsed("status")?,
        detail: f.json("detail")?,
        time_ms: f.int("time_ms")?,
    })
}

/// An `order_events` row with its id (`seq`) and its order's `venue`, `symbol` and
/// `client_order_id`.
pub(crate) fn sequenced_from_row(row: &impl Columns) -> Result<SequencedEvent, StoreError> {
    let f = Fields::new(row, "order_events");
    Ok(SequencedEvent {
        seq: f.int("seq")?,
        venue: f.text("venue")?,
        symbol: f.text("symbol")?,
        client_order_id: f.text("client_order_id")?,
        event: event_from_row(row)?,
    })
}

/// An `unmatched_fills` row as selected by a backend's unmatched fill column list.
pub(crate) fn unmatched_fill_from_row(
    row: &impl Columns,
) -> Result<UnmatchedFillRecord, StoreError> {
    let f = Fields::new(row, "unmatched_fills");
    Ok(UnmatchedFillRecord {
        venue: f.text("venue")?,
        venue_symbol: f.text("venue_symbol")?,
        venue_order_id: f.text("venue_order_id")?,
        client_order_id: f.text("client_order_id")?,
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

/// A `balances` row as selected by a backend's balance column list.
pub(crate) fn balance_from_row(row: &impl Columns) -> Result<BalanceRecord, StoreError> {
    let f = Fields::new(row, "balances");
    Ok(BalanceRecord {
        venue: f.text("venue")?,
        account: f.text("account")?,
        asset: f.text("asset")?,
        free: f.parsed("free")?,
        locked: f.parsed("locked")?,
        updated_at_ms: f.int("updated_at_ms")?,
    })
}

/// A `watermarks` row as selected by a backend's watermark column list.
pub(crate) fn watermark_from_row(row: &impl Columns) -> Result<Watermark, StoreError> {
    let f = Fields::new(row, "watermarks");
    Ok(Watermark {
        venue: f.text("venue")?,
        venue_symbol: f.text("venue_symbol")?,
        kind: f.text("kind")?,
        value: f.text("value")?,
    })
}

/// An `idempotency_keys` row as selected by a backend's key column list.
pub(crate) fn key_from_row(row: &impl Columns) -> Result<IdempotencyKeyRecord, StoreError> {
    let f = Fields::new(row, "idempotency_keys");
    Ok(IdempotencyKeyRecord {
        key: f.text("key")?,
        order_id: f.int("order_id")?,
        request_hash: f.text("request_hash")?,
    })
}

/// A `trades` row as selected by a backend's trade column list.
pub(crate) fn trade_from_row(row: &impl Columns) -> Result<TradeRecord, StoreError> {
    let f = Fields::new(row, "trades");
    Ok(TradeRecord {
        venue: f.text("venue")?,
        venue_symbol: f.text("venue_symbol")?,
        trade_id: f.text("trade_id")?,
        price: f.parsed("price")?,
        quantity: f.parsed("quantity")?,
        taker_side: f.parsed("taker_side")?,
        time_ms: f.int("time_ms")?,
        received_ms: f.int("received_ms")?,
    })
}

/// A `candles_1m` row as selected by a backend's candle column list.
pub(crate) fn candle_from_row(row: &impl Columns) -> Result<Candle, StoreError> {
    let f = Fields::new(row, "candles_1m");
    Ok(Candle {
        venue: f.text("venue")?,
        venue_symbol: f.text("venue_symbol")?,
        open_time_ms: f.int("open_time_ms")?,
        open: f.parsed("open")?,
        high: f.parsed("high")?,
        low: f.parsed("low")?,
        close: f.parsed("close")?,
        volume: f.parsed("volume")?,
        trades: f.int("trades")?,
        first: (f.int("first_at_ms")?, f.text("first_trade_id")?),
        last: (f.int("last_at_ms")?, f.text("last_trade_id")?),
    })
}

/// A `book_snapshots` row as selected by a backend's snapshot column list.
pub(crate) fn snapshot_from_row(row: &impl Columns) -> Result<BookSnapshotRecord, StoreError> {
    let f = Fields::new(row, "book_snapshots");
    let levels = |column| serde_json::from_value(f.json(column)?).map_err(|e| f.corrupt(column, e));
    Ok(BookSnapshotRecord {
        venue: f.text("venue")?,
        venue_symbol: f.text("venue_symbol")?,
        time_ms: f.int("time_ms")?,
        update_id: u64::try_from(f.int("update_id")?).map_err(|e| f.corrupt("update_id", e))?,
        bids: levels("bids")?,
        asks: levels("asks")?,
    })
}

/// An `instruments` row as selected by a backend's instrument column list.
pub(crate) fn instrument_from_row(
    row: &impl Columns,
) -> Result<super::instruments::CachedInstrument, StoreError> {
    let f = Fields::new(row, "instruments");
    let info = f.json("info")?;
    Ok(super::instruments::CachedInstrument {
        instrument: serde_json::from_value(info).map_err(|e| f.corrupt("info", e))?,
        fetched_at_ms: f.int("fetched_at_ms")?,
    })
}

/// The JSON `value` of a `settings` row.
pub(crate) fn setting_from_row(row: &impl Columns) -> Result<serde_json::Value, StoreError> {
    let f = Fields::new(row, "settings");
    f.json("value")
}

#[cfg(test)]
mod tests {
    use exchange_core::OrderStatus;

    use super::*;

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
}

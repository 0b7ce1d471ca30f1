//! Market data on any SQL backend: the portable write path (multi-row `INSERT .. VALUES`,
//! SQLite's and the fallback everywhere), the candle rollup both backends share, and the reads.
//!
//! Candles are merged in Rust, not in SQL: SQLite keeps decimals as text, so neither `max` nor
//! `+` would be exact there. A flush reads the stored candles of the minutes it touches (in its
//! write transaction: the row lock on PostgreSQL, the write lock on SQLite), merges its own
//! trades into them and writes them back.

use std::collections::HashMap;

use sqlx::{Encode, Executor, QueryBuilder, Transaction, Type};

use super::batch::bind;
use super::market::{
    BookSnapshotRecord, Candle, MarketBatch, MarketOutcome, MarketQuery, TradeRecord, fold_candles,
};
use super::rows::{Columns, candle_from_row, snapshot_from_row, trade_from_row};
use super::sql::{Cast, Dialect, SqlStore, select};
use super::{StoreError, filters};

const INSERT_TRADES: &str = "INSERT INTO trades (venue, venue_symbol, traded_at, trade_id, \
     price, quantity, taker_side, received_at) ";
const INSERT_TRADES_TAIL: &str = " ON CONFLICT DO NOTHING RETURNING venue, venue_symbol, trade_id";
const INSERT_SNAPSHOTS: &str =
    "INSERT INTO book_snapshots (venue, venue_symbol, taken_at, update_id, bids, asks) ";
const UPSERT_CANDLES: &str = "INSERT INTO candles_1m (venue, venue_symbol, bucket, open, high, \
     low, close, volume, trades, first_at, first_trade_id, last_at, last_trade_id) ";
const UPSERT_CANDLES_TAIL: &str = " ON CONFLICT (venue, venue_symbol, bucket) DO UPDATE SET \
     open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close, \
     volume = excluded.volume, trades = excluded.trades, first_at = excluded.first_at, \
     first_trade_id = excluded.first_trade_id, last_at = excluded.last_at, \
     last_trade_id = excluded.last_trade_id";

/// The identity of a trade: what the venue numbers it by.
type TradeKey<'a> = (&'a str, &'a str, &'a str);

fn key(t: &TradeRecord) -> TradeKey<'_> {
    (&t.venue, &t.venue_symbol, &t.trade_id)
}

/// The batch's trades, each once (the first of any repeats).
pub(crate) fn distinct_trades(trades: &[TradeRecord]) -> Vec<&TradeRecord> {
    let mut seen = std::collections::HashSet::new();
    trades.iter().filter(|t| seen.insert(key(t))).collect()
}

/// The trades whose key a statement returned as inserted.
pub(crate) fn inserted<'a>(
    trades: &[&'a TradeRecord],
    rows: &[impl Columns],
) -> Result<Vec<&'a TradeRecord>, StoreError> {
    let mut keys = std::collections::HashSet::new();
    for row in rows {
        let column = |name| {
            row.text(name).map_err(|e| StoreError::Corrupt {
                table: "trades",
                message: format!("column {name}: {e}"),
            })
        };
        keys.insert((
            column("venue")?,
            column("venue_symbol")?,
            column("trade_id")?,
        ));
    }
    Ok(trades
        .iter()
        .copied()
        .filter(|t| keys.contains(&(t.venue.clone(), t.venue_symbol.clone(), t.trade_id.clone())))
        .collect())
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    /// The portable write: trades by multi-row `INSERT .. ON CONFLICT DO NOTHING`, then the
    /// rest (see [`Self::write_market_rest`]), in one transaction.
    pub(crate) async fn write_market_values(
        &self,
        batch: &MarketBatch,
    ) -> Result<MarketOutcome, StoreError> {
        let mut tx = self.writer.begin_with(DB::BEGIN_WRITE).await?;
        let trades = distinct_trades(&batch.trades);
        let rows = Self::run_values(
            &mut tx,
            (INSERT_TRADES, INSERT_TRADES_TAIL),
            8,
            &trades,
            |t, trade| {
                bind(t, Cast::NONE, trade.venue.clone());
                bind(t, Cast::NONE, trade.venue_symbol.clone());
                bind(t, DB::TIME, trade.time_ms);
                bind(t, Cast::NONE, trade.trade_id.clone());
                bind(t, DB::DECIMAL, trade.price.to_string());
                bind(t, DB::DECIMAL, trade.quantity.to_string());
                bind(t, Cast::NONE, trade.taker_side.as_str().to_owned());
                bind(t, DB::TIME, trade.received_ms);
            },
        )
        .await?;
        let stored = inserted(&trades, &rows)?;
        let rollup = self.rollup_kept().await?;
        let outcome = Self::write_market_rest(&mut tx, &stored, &batch.snapshots, rollup).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Within a flush's transaction, after its trades: folds the trades it stored into the
    /// candles (when the store keeps the rollup) and inserts the snapshots not stored yet.
    pub(crate) async fn write_market_rest(
        tx: &mut Transaction<'static, DB>,
        stored: &[&TradeRecord],
        snapshots: &[BookSnapshotRecord],
        rollup: bool,
    ) -> Result<MarketOutcome, StoreError> {
        if rollup {
            Self::merge_candles(tx, fold_candles(stored.iter().copied())).await?;
        }
        let tail = " ON CONFLICT DO NOTHING RETURNING update_id";
        let rows = Self::run_values(tx, (INSERT_SNAPSHOTS, tail), 6, snapshots, |t, s| {
            bind(t, Cast::NONE, s.venue.clone());
            bind(t, Cast::NONE, s.venue_symbol.clone());
            bind(t, DB::TIME, s.time_ms);
            bind(
                t,
                Cast::NONE,
                i64::try_from(s.update_id).unwrap_or(i64::MAX),
            );
            bind(t, DB::JSON, levels_json(&s.bids));
            bind(t, DB::JSON, levels_json(&s.asks));
        })
        .await?;
        Ok(MarketOutcome {
            trades_inserted: stored.len(),
            snapshots_inserted: rows.len(),
        })
    }

    /// Merges `fresh` (partial candles of trades stored just now) into the stored candles.
    async fn merge_candles(
        tx: &mut Transaction<'static, DB>,
        fresh: Vec<Candle>,
    ) -> Result<(), StoreError> {
        if fresh.is_empty() {
            return Ok(());
        }
        let mut merged: Vec<Candle> = Vec::with_capacity(fresh.len());
        for chunk in fresh.chunks((DB::MAX_BIND_PARAMS / 3).max(1)) {
            let mut query = select::<DB>(DB::CANDLE_COLUMNS, "candles_1m");
            query.push(" WHERE (venue, venue_symbol, bucket) IN (");
            let mut tuples = query.separated(", ");
            for c in chunk {
                tuples.push("(");
                tuples.push_bind_unseparated(c.venue.clone());
                tuples.push_unseparated(", ");
                tuples.push_bind_unseparated(c.venue_symbol.clone());
                tuples.push_unseparated(format!(", {}", DB::TIME.before));
                tuples.push_bind_unseparated(c.open_time_ms);
                tuples.push_unseparated(format!("{})", DB::TIME.after));
            }
            query.push(")").push(DB::LOCK_ROWS);
            let rows = query.build().fetch_all(&mut **tx).await?;
            let mut stored = HashMap::new();
            for row in &rows {
                let candle = candle_from_row(row)?;
                let at = (
                    candle.venue.clone(),
                    candle.venue_symbol.clone(),
                    candle.open_time_ms,
                );
                stored.insert(at, candle);
            }
            for c in chunk {
                let at = (c.venue.clone(), c.venue_symbol.clone(), c.open_time_ms);
                merged.push(match stored.remove(&at) {
                    Some(mut old) => {
                        old.merge(c);
                        old
                    }
                    None => c.clone(),
                });
            }
        }
        let upsert = (UPSERT_CANDLES, UPSERT_CANDLES_TAIL);
        Self::run_values(tx, upsert, 13, &merged, |t, c| {
            bind(t, Cast::NONE, c.venue.clone());
            bind(t, Cast::NONE, c.venue_symbol.clone());
            bind(t, DB::TIME, c.open_time_ms);
            for value in [c.open, c.high, c.low, c.close, c.volume] {
                bind(t, DB::DECIMAL, value.to_string());
            }
            bind(t, Cast::NONE, c.trades);
            bind(t, DB::TIME, c.first.0);
            bind(t, Cast::NONE, c.first.1.clone());
            bind(t, DB::TIME, c.last.0);
            bind(t, Cast::NONE, c.last.1.clone());
        })
        .await?;
        Ok(())
    }

    /// Trades of one venue symbol, newest first.
    pub(crate) async fn read_trades(
        &self,
        q: &MarketQuery,
    ) -> Result<Vec<TradeRecord>, StoreError> {
        let mut query = select::<DB>(DB::TRADE_COLUMNS, "trades");
        push_range(&mut query, q, "traded_at");
        if let Some((time_ms, trade_id)) = &q.before {
            query.push(" AND (traded_at < ");
            push_time::<DB>(&mut query, *time_ms);
            query.push(" OR (traded_at = ");
            push_time::<DB>(&mut query, *time_ms);
            query.push(" AND (LENGTH(trade_id) < ");
            query.push_bind(trade_id.len() as i64);
            query.push(" OR (LENGTH(trade_id) = ");
            query.push_bind(trade_id.len() as i64);
            query.push(" AND trade_id < ").push_bind(trade_id.clone());
            query.push("))))");
        }
        query.push(" ORDER BY traded_at DESC, LENGTH(trade_id) DESC, trade_id DESC");
        push_limit(&mut query, q);
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(trade_from_row).collect()
    }

    /// One-minute candles of one venue symbol, newest first.
    pub(crate) async fn read_candles(&self, q: &MarketQuery) -> Result<Vec<Candle>, StoreError> {
        self.read_by_time(
            q,
            (DB::CANDLE_COLUMNS, "candles_1m", "bucket"),
            candle_from_row,
        )
        .await
    }

    /// Book snapshots of one venue symbol, newest first.
    pub(crate) async fn read_snapshots(
        &self,
        q: &MarketQuery,
    ) -> Result<Vec<BookSnapshotRecord>, StoreError> {
        let table = (DB::SNAPSHOT_COLUMNS, "book_snapshots", "taken_at");
        self.read_by_time(q, table, snapshot_from_row).await
    }

    /// Rows of a table whose time column is unique per venue symbol, newest first, older than
    /// the cursor's time.
    async fn read_by_time<T>(
        &self,
        q: &MarketQuery,
        (columns, table, time): (&str, &str, &str),
        convert: fn(&DB::Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut query = select::<DB>(columns, table);
        push_range(&mut query, q, time);
        if let Some((time_ms, _)) = &q.before {
            query.push(format!(" AND {time} < "));
            push_time::<DB>(&mut query, *time_ms);
        }
        query.push(format!(" ORDER BY {time} DESC"));
        push_limit(&mut query, q);
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(convert).collect()
    }
}

/// Levels as stored: a JSON array of `{"price", "quantity"}` objects with exact decimal text.
fn levels_json(levels: &[exchange_core::Level]) -> String {
    serde_json::to_string(levels).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn push_time<DB: Dialect>(query: &mut QueryBuilder<DB>, time_ms: i64)
where
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    query.push(DB::TIME.before);
    query.push_bind(time_ms);
    query.push(DB::TIME.after);
}

/// `WHERE venue = .. AND venue_symbol = ..` and the time range on `column`.
fn push_range<DB: Dialect>(query: &mut QueryBuilder<DB>, q: &MarketQuery, column: &str)
where
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    query.push(" WHERE venue = ").push_bind(q.venue.clone());
    query
        .push(" AND venue_symbol = ")
        .push_bind(q.venue_symbol.clone());
    if let Some(from) = q.from_ms {
        query.push(format!(" AND {column} >= "));
        push_time::<DB>(query, from);
    }
    if let Some(to) = q.to_ms {
        query.push(format!(" AND {column} < "));
        push_time::<DB>(query, to);
    }
}

fn push_limit<DB: Dialect>(query: &mut QueryBuilder<DB>, q: &MarketQuery)
where
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    query
        .push(" LIMIT ")
        .push_bind(filters::clamp_market_limit(q.limit));
}

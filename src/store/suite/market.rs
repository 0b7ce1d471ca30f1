//! Suite cases for market data: trades stored once (also when a flush repeats them, and
//! whichever PostgreSQL path writes them), candles folded exactly from the stored trades, book
//! snapshots, and reads by time range and cursor.

use std::sync::Arc;

use exchange_core::{Level, Side};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::support::T0;
use crate::store::market::fold_candles;
use crate::store::{
    BookSnapshotRecord, MarketBatch, MarketOutcome, MarketQuery, Store, TradeRecord,
};

pub(super) fn trade(id: u64, time_ms: i64, price: Decimal, quantity: Decimal) -> TradeRecord {
    TradeRecord {
        venue: "sim".into(),
        venue_symbol: "BTCUSDT".into(),
        trade_id: id.to_string(),
        price,
        quantity,
        taker_side: if id % 2 == 0 { Side::Buy } else { Side::Sell },
        time_ms,
        received_ms: time_ms + 3,
    }
}

pub(super) fn query(limit: i64) -> MarketQuery {
    MarketQuery::newest("sim", "BTCUSDT", limit)
}

async fn write(store: &dyn Store, batch: MarketBatch) -> MarketOutcome {
    store.write_market(&batch).await.expect("market write")
}

/// Reads every trade page by page, `page` at a time, following the cursor.
async fn all_trades(store: &dyn Store, page: i64) -> Vec<TradeRecord> {
    let mut q = query(page);
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let rows = store.trades(&q).await.expect("trades");
        let Some(last) = rows.last() else { break };
        q.before = Some((last.time_ms, last.trade_id.clone()));
        all.extend(rows);
    }
    all
}

pub(super) async fn trades_are_stored_once_and_paged_newest_first(store: Arc<dyn Store>) {
    // Ids 8..=12 in one millisecond order as numbers, not as text.
    let trades: Vec<_> = (1..=12)
        .map(|id| {
            let time = T0 + (id as i64).min(8) * 1000;
            trade(
                id,
                time,
                dec!(30000.10) + Decimal::from(id),
                dec!(0.00100000),
            )
        })
        .collect();
    let first = write(
        &*store,
        MarketBatch {
            trades: trades[..7].to_vec(),
            ..MarketBatch::default()
        },
    )
    .await;
    assert_eq!(first.trades_inserted, 7);
    // A flush repeating stored trades (a replay after reconnect) and one trade twice.
    let mut replay = trades.clone();
    replay.push(trades[11].clone());
    let second = write(
        &*store,
        MarketBatch {
            trades: replay,
            ..MarketBatch::default()
        },
    )
    .await;
    assert_eq!(second.trades_inserted, 5);

    let mut want = trades.clone();
    want.reverse();
    assert_eq!(all_trades(&*store, 1000).await, want);
    assert_eq!(all_trades(&*store, 5).await, want, "paged by 5");
    assert_eq!(all_trades(&*store, 1).await, want, "paged by 1");

    let ranged = MarketQuery {
        from_ms: Some(T0 + 2000),
        to_ms: Some(T0 + 8000),
        ..query(100)
    };
    let ids: Vec<_> = store.trades(&ranged).await.unwrap();
    let ids: Vec<_> = ids.iter().map(|t| t.trade_id.as_str()).collect();
    assert_eq!(ids, ["7", "6", "5", "4", "3", "2"]);
    let other = MarketQuery {
        venue_symbol: "ETHUSDT".into(),
        ..query(100)
    };
    assert_eq!(store.trades(&other).await.unwrap(), vec![]);
}

pub(super) async fn candles_fold_exactly_from_stored_trades(store: Arc<dyn Store>) {
    // Three minutes of trades, written in three flushes out of time order, with repeats.
    let trades: Vec<_> = (0..90u64)
        .map(|i| {
            let time = T0 + i as i64 * 2000;
            let price = dec!(100.00000001) + Decimal::from(i % 7) * dec!(0.1);
            trade(1000 + i, time, price, dec!(0.1) * Decimal::from(i % 3 + 1))
        })
        .collect();
    for range in [60..90, 0..45, 30..75] {
        let batch = MarketBatch {
            trades: trades[range].to_vec(),
            ..MarketBatch::default()
        };
        write(&*store, batch).await;
    }
    let mut want = fold_candles(&trades);
    want.reverse();
    let got = store.candles(&query(100)).await.unwrap();
    assert_eq!(got, want);
    let total: Decimal = got.iter().map(|c| c.volume).sum();
    let traded: Decimal = trades.iter().map(|t| t.quantity).sum();
    assert_eq!(total, traded);

    let older = MarketQuery {
        before: Some((want[0].open_time_ms, String::new())),
        ..query(1)
    };
    assert_eq!(store.candles(&older).await.unwrap(), want[1..2]);
}

pub(super) async fn book_snapshots_are_stored_and_read_newest_first(store: Arc<dyn Store>) {
    let level = |p: Decimal, q: Decimal| Level::new(p, q);
    let snapshots: Vec<_> = (0..3)
        .map(|i| BookSnapshotRecord {
            venue: "sim".into(),
            venue_symbol: "BTCUSDT".into(),
            time_ms: T0 + i * 1000,
            update_id: 500 + i as u64,
            bids: vec![
                level(dec!(29999.90), dec!(1.5)),
                level(dec!(29999.80), dec!(2)),
            ],
            asks: vec![level(dec!(30000.10), dec!(0.25000000))],
        })
        .collect();
    let outcome = write(
        &*store,
        MarketBatch {
            snapshots: snapshots.clone(),
            ..MarketBatch::default()
        },
    )
    .await;
    assert_eq!(outcome.snapshots_inserted, 3);
    let again = MarketBatch {
        snapshots: snapshots[2..].to_vec(),
        ..MarketBatch::default()
    };
    assert_eq!(write(&*store, again).await.snapshots_inserted, 0);
    let mut want = snapshots.clone();
    want.reverse();
    assert_eq!(store.book_snapshots(&query(10)).await.unwrap(), want);
    let page = MarketQuery {
        before: Some((want[0].time_ms, String::new())),
        ..query(1)
    };
    assert_eq!(store.book_snapshots(&page).await.unwrap(), want[1..2]);
}

pub(super) async fn a_large_trade_flush_is_written_whole(store: Arc<dyn Store>) {
    let trades: Vec<_> = (0..20_000u64)
        .map(|i| trade(i + 1, T0 + i as i64, dec!(1.5), dec!(2)))
        .collect();
    let outcome = write(
        &*store,
        MarketBatch {
            trades: trades.clone(),
            ..MarketBatch::default()
        },
    )
    .await;
    assert_eq!(outcome.trades_inserted, 20_000);
    let newest = store.trades(&query(1)).await.unwrap();
    assert_eq!(newest, trades[19_999..]);
    let candles = store.candles(&query(1000)).await.unwrap();
    assert_eq!(candles.iter().map(|c| c.trades).sum::<i64>(), 20_000);
}

/// On PostgreSQL trades go in by binary `COPY`, exactly (the stored text is the decimal as
/// sent); a flush repeating stored trades is written by the `UNNEST` path instead, and COPY
/// stays in use.
#[tokio::test]
async fn postgres_trades_go_in_by_copy_and_replays_through_unnest() {
    use sqlx::Row;
    use std::sync::atomic::Ordering;

    use super::support::{on_server, postgres_database, with_database};
    use crate::store::PostgresStore;

    let Some((server_url, name)) = postgres_database("omsd_copy").await else {
        return;
    };
    let store = PostgresStore::connect(&with_database(&server_url, &name))
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let trades = vec![
        trade(1, T0, dec!(30000.10), dec!(0.00100000)),
        trade(2, T0 + 1, dec!(-0.0000001), dec!(123456789.123456789)),
        trade(3, T0 + 2, dec!(0), dec!(10000)),
    ];
    let batch = MarketBatch {
        trades: trades.clone(),
        ..MarketBatch::default()
    };
    let first = store.write_market(&batch).await.expect("copy");
    let copying = store.copy_trades.load(Ordering::Relaxed);
    let second = store.write_market(&batch).await.expect("replay");
    let still = store.copy_trades.load(Ordering::Relaxed);
    let rows = sqlx::query("SELECT price::TEXT, quantity::TEXT FROM trades ORDER BY trade_id")
        .fetch_all(&store.reader)
        .await
        .expect("select");
    let stored: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    store.close().await;
    on_server(&server_url, format!("DROP DATABASE {name} WITH (FORCE)")).await;
    assert_eq!((first.trades_inserted, second.trades_inserted), (3, 0));
    assert!(copying && still, "COPY stays in use");
    let want = [
        ("30000.10", "0.00100000"),
        ("-0.0000001", "123456789.123456789"),
        ("0", "10000"),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(p, q)| (p.to_string(), q.to_string()))
        .collect();
    assert_eq!(stored, want);
}

pub(super) async fn plain_tables_take_no_market_policies(store: Arc<dyn Store>) {
    let policies = crate::store::MarketPolicies {
        trades_retention_days: 1,
        snapshots_retention_days: 1,
        compress_after_days: 1,
    };
    // Nothing manages plain tables but the daemon: nothing is set, and nothing fails.
    assert!(!store.apply_market_policies(&policies).await.unwrap());
    let batch = MarketBatch {
        trades: vec![trade(1, T0, dec!(1), dec!(1))],
        ..MarketBatch::default()
    };
    assert_eq!(write(&*store, batch).await.trades_inserted, 1);
    assert_eq!(
        store.candles(&query(10)).await.unwrap().len(),
        1,
        "the rollup is kept"
    );
}

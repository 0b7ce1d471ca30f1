//! The writer against a real (in-memory SQLite) store: flushes by size and by interval,
//! everything written at the end, and drops counted once its queue is full.

use std::time::Duration;

use exchange_core::Side;
use rust_decimal_macros::dec;

use super::*;
use crate::store::MarketQuery;

fn trade(id: u64) -> TradeRecord {
    TradeRecord {
        venue: "sim".into(),
        venue_symbol: "BTCUSDT".into(),
        trade_id: id.to_string(),
        price: dec!(100.5),
        quantity: dec!(0.01),
        taker_side: Side::Sell,
        time_ms: 1_763_900_000_000 + id as i64,
        received_ms: 1_763_900_000_000 + id as i64,
    }
}

async fn store() -> Arc<dyn Store> {
    let store = crate::store::open("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn stored(store: &dyn Store) -> usize {
    let query = MarketQuery::newest("sim", "BTCUSDT", 100_000);
    store.trades(&query).await.unwrap().len()
}

/// Waits (bounded) until `n` trades are stored.
async fn until_stored(store: &dyn Store, n: usize) -> usize {
    for _ in 0..500 {
        let got = stored(store).await;
        if got >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stored(store).await
}

#[tokio::test]
async fn flushes_by_size_and_by_interval_and_writes_the_rest_at_the_end() {
    let store = store().await;
    let settings = WriterSettings {
        queue: 1000,
        flush_rows: 10,
        flush_interval: Duration::from_secs(3600),
    };
    let (writer, handle) = MarketWriter::new(store.clone(), settings);
    let task = tokio::spawn(writer.run());
    for id in 1..=25 {
        handle.offer(MarketRow::Trade(trade(id)));
    }
    // Two full flushes are written without waiting for the (hour-long) interval.
    assert_eq!(until_stored(&*store, 20).await, 20);
    drop(handle);
    task.await.unwrap();
    assert_eq!(
        stored(&*store).await,
        25,
        "the rest is written when the writer ends"
    );

    let settings = WriterSettings {
        queue: 1000,
        flush_rows: 1000,
        flush_interval: Duration::from_millis(20),
    };
    let (writer, handle) = MarketWriter::new(store.clone(), settings);
    let task = tokio::spawn(writer.run());
    handle.offer(MarketRow::Trade(trade(26)));
    assert_eq!(
        until_stored(&*store, 26).await,
        26,
        "written by the interval"
    );
    drop(handle);
    task.await.unwrap();
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_market_data() {
    use sqlx::Connection;

    // A second connection holds the database's write lock: the writer's first flush waits,
    // its channel fills, and everything past that is dropped.
    let dir = std::env::temp_dir().join(format!("omsd_writer_{}", std::process::id()));
    let url = format!("sqlite://{}", dir.join("omsd.db").display());
    let store = crate::store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let mut blocker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();

    let settings = WriterSettings {
        queue: 10,
        flush_rows: 1000,
        flush_interval: Duration::from_secs(3600),
    };
    let (writer, handle) = MarketWriter::new(store.clone(), settings);
    let task = tokio::spawn(writer.run());
    for id in 1..=10 {
        handle.offer(MarketRow::Trade(trade(id)));
    }
    // The writer takes the first ten (its bound) and starts a flush that waits for the lock.
    for _ in 0..500 {
        if handle.tx.capacity() == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for id in 11..=100 {
        handle.offer(MarketRow::Trade(trade(id)));
    }
    assert_eq!(handle.dropped(), 80);
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    blocker.close().await.unwrap();
    drop(handle);
    task.await.unwrap();
    let stored = stored(&*store).await;
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        stored, 20,
        "the queued rows are all written once the store takes writes"
    );
}

//! Market-data writer throughput: rows per second the writer stores, next to a baseline from
//! the same run.
//!
//! - PostgreSQL (`OMSD_BENCH_DATABASE_URL`, set by `scripts/bench.sh`): the same trades
//!   loaded by `psql \copy` (CSV, into a fresh database with the same schema), then offered
//!   to the writer (binary `COPY` plus the candle rollup, flushes of 5000 rows) on another fresh
//!   database. Target: writer >= 0.8x `\copy`.
//! - SQLite (always): the writer into a fresh file (multi-row inserts), for reference.
//!
//! Bounded (`OMSD_BENCH_ROWS`, default 200 000 trades over 10 symbols), loopback only.
//!
//!   scripts/bench.sh                          # both stores
//!   cargo bench --bench market_writer         # SQLite only

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use exchange_core::Side;
use omsd::market::writer::{MarketRow, MarketWriter, WriterSettings};
use omsd::store::{self, MarketQuery, Store, TradeRecord};
use rust_decimal::Decimal;

const SYMBOLS: usize = 10;
const T0: i64 = 1_796_000_000_000;

fn rows() -> usize {
    std::env::var("OMSD_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000)
}

/// `n` trades: per symbol increasing ids, one every 3 ms, prices with 2 to 8 decimals.
fn trades(n: usize) -> Vec<TradeRecord> {
    (0..n)
        .map(|i| {
            let symbol = i % SYMBOLS;
            let seq = (i / SYMBOLS) as i64;
            TradeRecord {
                venue: "binance".into(),
                venue_symbol: format!("S{symbol:02}USDT"),
                trade_id: (1_000_000 + seq).to_string(),
                price: Decimal::new(3_000_000 + (seq % 997), 2),
                quantity: Decimal::new(1 + (seq % 50_000), 8),
                taker_side: if seq % 2 == 0 { Side::Buy } else { Side::Sell },
                time_ms: T0 + seq * 3,
                received_ms: T0 + seq * 3 + 1,
            }
        })
        .collect()
}

async fn migrated(url: &str) -> Arc<dyn Store> {
    let store = store::open(url).await.expect("open");
    store.migrate().await.expect("migrate");
    store
}

/// Seconds the writer takes to store every trade (from the first offer until it has ended).
async fn through_writer(store: Arc<dyn Store>, trades: &[TradeRecord]) -> f64 {
    let settings = WriterSettings {
        queue: trades.len() + 1,
        flush_rows: 5000,
        flush_interval: Duration::from_millis(250),
    };
    let (writer, handle) = MarketWriter::new(store.clone(), settings);
    let started = Instant::now();
    let task = tokio::spawn(writer.run());
    for t in trades {
        handle.offer(MarketRow::Trade(t.clone()));
    }
    assert_eq!(handle.dropped(), 0, "the bench queue holds every row");
    drop(handle);
    task.await.expect("writer");
    let elapsed = started.elapsed().as_secs_f64();
    let mut stored = 0;
    for s in 0..SYMBOLS {
        let q = MarketQuery::newest("binance", &format!("S{s:02}USDT"), 100_000);
        stored += store.trades(&q).await.expect("read").len();
    }
    assert_eq!(
        stored,
        trades.len().min(SYMBOLS * 100_000),
        "every trade stored"
    );
    elapsed
}

/// Epoch milliseconds as an ISO 8601 UTC timestamp (days to civil date: H. Hinnant's method).
fn utc(ms: i64) -> String {
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// Seconds `psql \copy` takes to load the same trades as CSV.
fn through_psql(url: &str, trades: &[TradeRecord], dir: &std::path::Path) -> f64 {
    use std::io::Write;
    let csv = dir.join("trades.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&csv).expect("csv"));
    for t in trades {
        let at = utc;
        writeln!(
            file,
            "{},{},{},{},{},{},{},{}",
            t.venue,
            t.venue_symbol,
            at(t.time_ms),
            t.trade_id,
            t.price,
            t.quantity,
            t.taker_side.as_str(),
            at(t.received_ms)
        )
        .expect("write csv");
    }
    file.flush().expect("flush csv");
    drop(file);
    let bindir = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("pg_config");
    let psql = std::path::Path::new(String::from_utf8_lossy(&bindir.stdout).trim()).join("psql");
    let command = format!(
        "\\copy trades (venue, venue_symbol, traded_at, trade_id, price, quantity, taker_side, received_at) FROM '{}' WITH (FORMAT csv)",
        csv.display()
    );
    let started = Instant::now();
    let out = std::process::Command::new(psql)
        .arg(url)
        .arg("-v")
        .arg("ON_ERROR_STOP=1")
        .arg("-c")
        .arg("SET TIME ZONE 'UTC'")
        .arg("-c")
        .arg(command)
        .output()
        .expect("psql runs");
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "psql \\copy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let n = rows();
    let trades = trades(n);
    let dir = common::tempdir::TempDir::new("omsd-bench-writer");
    println!("market_writer: {n} trades over {SYMBOLS} symbols, flushes of 5000 rows");
    println!("{:<44} {:>12} {:>14}", "measure", "seconds", "rows/s");
    let line = |name: &str, secs: f64| {
        println!("{name:<44} {secs:>12.2} {:>14.0}", n as f64 / secs);
    };

    let sqlite = format!("sqlite:{}", dir.path().join("omsd.db").display());
    let secs = runtime.block_on(async { through_writer(migrated(&sqlite).await, &trades).await });
    line("writer into SQLite (multi-row inserts)", secs);

    match std::env::var("OMSD_BENCH_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            let (copy_db, writer_db) = runtime.block_on(async {
                let copy_db = common::fresh_postgres_database(&server).await;
                migrated(&copy_db).await.close().await;
                (copy_db, common::fresh_postgres_database(&server).await)
            });
            let psql = through_psql(&copy_db, &trades, dir.path());
            line("psql \\copy (CSV) into PostgreSQL", psql);
            let writer = runtime
                .block_on(async { through_writer(migrated(&writer_db).await, &trades).await });
            line("writer into PostgreSQL (binary COPY + rollup)", writer);
            let ratio = psql / writer;
            let verdict = if ratio >= 0.8 { "met" } else { "NOT met" };
            println!(
                "{:<44} {ratio:>12.2}   target >= 0.80: {verdict}",
                "ratio writer / \\copy"
            );
        }
        _ => println!(
            "market_writer [postgres] skipped: OMSD_BENCH_DATABASE_URL is not set (scripts/bench.sh sets it)"
        ),
    }
}
